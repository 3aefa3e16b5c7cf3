"""The ``s1`` command, all in this package: each stage's module here (``curate``, ``train``, ``eval``, ``serve``,
``batch``, ``demo``) registers its own subcommands, ``policy_flags`` makes the budget policy's flags; this file only
wires them."""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from s1lib.cli.flags import field_flag, run_flag
from s1lib.cli.policy_flags import add_policy_arguments, policy_from_args, sampling_from_args
from s1lib.eval.sweep_config import SweepConfig

# The modules that contribute subcommands, each through ``register_cli(subparsers)``.
_STAGE_CLIS = (
    "s1lib.cli.curate",
    "s1lib.cli.train",
    "s1lib.cli.eval",
    "s1lib.cli.serve",
    "s1lib.cli.batch",
    "s1lib.cli.demo",
)

# ``s1 bench NAME``: module with ``run_bench(json_output) -> dict`` (and ``config=`` for ``--config``).
BENCHES: dict[str, str] = {
    "adaptive": "s1lib.benches.adaptive",
    "forcing": "s1lib.benches.forcing",
    "sweep": "s1lib.benches.sweep",
    "curate": "s1lib.benches.curate",
    "domains": "s1lib.benches.domains",
    "train": "s1lib.benches.train",
    "precision": "s1lib.benches.precision",
    "vllm": "s1lib.benches.vllm",
    "serve": "s1lib.benches.serve",
    "widget": "s1lib.benches.widget",
}

_STYLE = {"wait": "\033[1;33m", "end": "\033[1;35m", "final_answer": "\033[1;36m", "reset": "\033[0m"}


def _cmd_generate(args: argparse.Namespace) -> int:
    from s1lib.backends.hf import HFEngine

    policy = policy_from_args(args)
    sampling = sampling_from_args(args)
    engine = HFEngine.from_name(args.model, trust_remote_code=args.trust_remote_code)
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


def _cmd_bench(args: argparse.Namespace) -> int:
    module_name = BENCHES[args.name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        print(f"s1 bench {args.name}: not available ({exc})", file=sys.stderr)
        return 2
    options = {"config": args.config} if args.config else {}
    if options and "config" not in inspect.signature(module.run_bench).parameters:
        print(f"s1 bench {args.name}: takes no --config", file=sys.stderr)
        return 2
    module.run_bench(json_output=args.json, **options)  # each bench prints its own text or JSON
    return 0


def _cmd_model(args: argparse.Namespace) -> int:
    from s1lib.models import prepare_default_model

    path = prepare_default_model(force=args.force)
    print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s1", description="s1: simple test-time scaling, end to end.")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="answer one question with budget forcing, streaming")
    run_flag(gen, "question", help="the question to answer")
    add_policy_arguments(gen)
    field_flag(gen, SweepConfig, "system")
    run_flag(gen, "--json", action="store_true", help="print one JSON object instead of streaming")
    run_flag(gen, "--ids", action="store_true", help="with --json, include token ids")
    gen.set_defaults(func=_cmd_generate)

    bench = sub.add_parser("bench", help="benchmarks measured side by side in one run")
    run_flag(bench, "name", choices=sorted(BENCHES), help="the bench to run")
    run_flag(bench, "--json", action="store_true", help="print the bench's results as one JSON object")
    run_flag(
        bench,
        "--config",
        default=None,
        help="a YAML/JSON file of the bench's config fields (benches that take one: adaptive)",
    )
    bench.set_defaults(func=_cmd_bench)

    model = sub.add_parser("prepare-model", help="convert the embedded default model to safetensors (once)")
    run_flag(model, "--force", action="store_true", help="convert again even if the cache holds the model")
    model.set_defaults(func=_cmd_model)

    for module_name in _STAGE_CLIS:
        register: Callable[[Any], None] = importlib.import_module(module_name).register_cli
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in argv:  # what follows goes to the command unparsed (``s1 serve MODEL -- <vLLM's flags>``)
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1 :]
    args = parser.parse_args(argv)
    if passthrough:
        if not hasattr(args, "passthrough"):
            parser.error(f"s1 {args.command} takes no arguments after --")
        args.passthrough = passthrough
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        print(f"s1 {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
