"""``s1 generate``: one question under a budget policy, streamed with its forced insertions marked; and
``s1 prepare-model``, which converts the embedded default model once."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from s1lib.cli.commands import add_command
from s1lib.cli.flags import field_flag, run_flag
from s1lib.cli.policy_flags import add_policy_arguments, policy_from_args, sampling_from_args
from s1lib.eval.sweep_config import SweepConfig

_STYLE = {"wait": "\033[1;33m", "end": "\033[1;35m", "final_answer": "\033[1;36m", "reset": "\033[0m"}


def _cmd_generate(args: argparse.Namespace) -> int:
    from s1lib.backends.hf import HFEngine

    policy = policy_from_args(args)
    sampling = sampling_from_args(args)
    engine = HFEngine.from_name(args.model, device=args.device, trust_remote_code=args.trust_remote_code)
    prompt = engine.prompt_for(args.question, policy, system=args.system)
    if args.json:
        trace = engine.generate([prompt], policy, sampling)[0]
        print(json.dumps(trace.to_dict(include_ids=args.ids), ensure_ascii=False))
        return 0
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    trace = None
    for event in engine.stream(prompt, policy, sampling):
        if event.kind == "forced" and event.insertion is not None and color:
            sys.stdout.write(_STYLE.get(event.insertion.kind, ""))
        if event.kind == "forced" and event.insertion is not None and not color:
            sys.stdout.write(f"[{event.insertion.kind.upper()}→]")
        if event.kind in ("token", "forced"):
            sys.stdout.write(event.text)
            if color and event.kind == "forced":
                sys.stdout.write(_STYLE["reset"])
        if event.kind == "done":
            trace = event.trace
        sys.stdout.flush()
    if trace is not None:
        sys.stdout.write(
            f"\n\n-- thinking {trace.thinking_tokens} tokens, answer {trace.answer_tokens}, "
            f"{trace.num_waits} forced wait(s), thinking ended: {trace.thinking_end_reason}, "
            f"finish: {trace.finish_reason}\n"
        )
    return 0


def _cmd_model(args: argparse.Namespace) -> int:
    from s1lib.models import prepare_default_model

    path = prepare_default_model(force=args.force)
    print(path)
    return 0


def register_cli(subparsers: Any) -> None:
    gen = add_command(subparsers, "generate")
    run_flag(gen, "question", help="the question to answer")
    add_policy_arguments(gen)
    field_flag(gen, SweepConfig, "system")
    field_flag(gen, SweepConfig, "device")
    run_flag(gen, "--json", action="store_true", help="print one JSON object instead of streaming")
    run_flag(gen, "--ids", action="store_true", help="with --json, include token ids")
    gen.set_defaults(func=_cmd_generate)

    model = add_command(subparsers, "prepare-model")
    run_flag(model, "--force", action="store_true", help="convert again even if the cache holds the model")
    model.set_defaults(func=_cmd_model)
