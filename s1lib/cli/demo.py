"""``s1 demo``, the main job: the five notebooks as one papermill grid (``env/batch/demo.yaml``); and
``s1 showcase``, budget forcing on the untrained embedded model.

Showcase: a few questions at several thinking budgets and Wait counts, each trace printed with its forced insertions
marked: ``⟦WAIT⟧`` where an end of thinking was suppressed, ``⟦END⟧`` where the delimiter was forced, and
``⟦FINAL ANSWER⟧`` where the cap forced the answer prefix. The untrained SmolLM2-135M cannot reason; the point is
the mechanics: budgets are exact, Waits appear where the model tried to stop, and every trace gets an answer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from s1lib.forcing import BudgetPolicy
from s1lib.forcing.trace import render_marked

DEMO_QUESTIONS = [
    "How many r are in the word raspberry?",
    "What is 17 + 25?",
    "Is 51 a prime number?",
]

DEMO_POLICIES = [
    BudgetPolicy(max_thinking_tokens=16, max_answer_tokens=24),
    BudgetPolicy(max_thinking_tokens=64, max_answer_tokens=24),
    BudgetPolicy(max_thinking_tokens=64, num_ignore=2, max_answer_tokens=24),
    BudgetPolicy(max_thinking_tokens=96, min_thinking_tokens=48, ignore_strings=["Wait", "Hmm"], max_answer_tokens=24),
]


def run_showcase(
    model: str = "default",
    questions: list[str] | None = None,
    policies: list[BudgetPolicy] | None = None,
    color: bool = False,
) -> list[dict[str, Any]]:
    from s1lib.backends.hf import HFEngine

    engine = HFEngine.from_name(model)
    questions = questions or DEMO_QUESTIONS
    rows: list[dict[str, Any]] = []
    for policy in policies or DEMO_POLICIES:
        start = time.perf_counter()
        prompts = [engine.prompt_for(q, policy) for q in questions]
        traces = engine.generate(prompts, policy, batch_size=len(prompts))
        elapsed = time.perf_counter() - start
        print(f"\n=== {policy.label()}  ({elapsed:.1f}s for {len(prompts)} questions in one batch)")
        for question, trace in zip(questions, traces):
            print(f"--- Q: {question}")
            print(render_marked(trace, engine.tokenizer, color).strip())
            print(
                f"    [thinking {trace.thinking_tokens} tokens, {trace.num_waits} wait(s), "
                f"thinking ended by {trace.thinking_end_reason}, answer {trace.answer_tokens} tokens, "
                f"finish {trace.finish_reason}]"
            )
            rows.append({"question": question, "setting": policy.label(), **trace.to_dict()})
    return rows


def _cmd_showcase(args: argparse.Namespace) -> int:
    print("s1 showcase: budget forcing on the embedded SmolLM2-135M-Instruct (device auto: the GPU where there is one)")
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    rows = run_showcase(args.model, color=color)
    if args.output:
        os.makedirs(args.output, exist_ok=True)
        path = os.path.join(args.output, "showcase.json")
        with open(path, "w") as f:
            json.dump(rows, f, indent=1)
        print(f"\nTraces written to {path}")
    return 0


# ------------------------------------------------------------------------------------------------------ the main job
DEMO_GRID = Path(__file__).resolve().parents[2] / "env" / "batch" / "demo.yaml"
DEMO_TITLE = "s1 on two CPU cores: curation → SFT → budget forcing → test-time scaling → adaptive budgets"
SIZES = {"quick": "quick", "default": None, "full": "full"}


def run_demo(
    size: str = "default",
    output_root: str | Path = "runs",
    args: argparse.Namespace | None = None,
    only: list[str] | None = None,
) -> Any:
    """The five notebooks as one papermill grid (``env/batch/demo.yaml``), into ``<output_root>/demo[-size]/``;
    ``only`` runs just those stages and what they need (``["sft"]``: curation and SFT, for a trained model)."""
    from s1lib.batch.grid import load_grid
    from s1lib.cli.batch import execute

    if size not in SIZES:
        raise ValueError(f"demo size must be one of {list(SIZES)}, got {size!r}")
    grid = load_grid(DEMO_GRID, profile=SIZES[size], output_root=output_root)  # runs/demo, runs/demo-quick, ...
    args = args or argparse.Namespace(executor="local", workers=1, devices=None, force=False, keep_failed=False)
    return execute(grid, args, only=only, title=f"{DEMO_TITLE} ({size})")


def trained_model(output_root: str | Path = "runs", size: str = "default") -> tuple[Path, Path, bool]:
    """The demo's SFT'd model folder and its held-out toy problems (``toy_benchmark.jsonl``), and whether they had
    to be made now: when absent, the demo's own curation and SFT stages run (``run_demo(only=["sft"])``), so a
    bench gets the model whose accuracy depends on its thinking without a second training recipe."""
    from s1lib.batch.grid import load_grid

    grid = load_grid(DEMO_GRID, profile=SIZES[size], output_root=output_root)
    model, data = grid.run_dir("sft") / "model", grid.run_dir("curation") / "toy_benchmark.jsonl"
    if (model / "config.json").is_file() and data.is_file():
        return model, data, False
    result = run_demo(size, output_root, only=["sft"])
    if not (model / "config.json").is_file() or not data.is_file():
        errors = {k: v.get("error") for k, v in result.statuses.items() if v.get("status") != "done"}
        raise RuntimeError(f"the demo's curation and SFT did not produce {model} and {data}: {errors}")
    return model, data, True


def _cmd_demo(args: argparse.Namespace) -> int:
    from s1lib.cli.batch import report_result

    size = "quick" if args.quick else "full" if args.full else "default"
    print(
        f"s1 demo ({size}): papermill runs notebooks/01-05 as one grid ({DEMO_GRID.name}) on the embedded model",
        file=sys.stderr,
    )
    print(precision_line(), file=sys.stderr)
    result = run_demo(size, args.output_root or "runs", args)
    code = report_result(result, args.json)
    if not args.json:
        for row in result.statuses.values():
            if row.get("status") != "done":
                print(f"  {row.get('run_id')}: {row.get('status')} {row.get('error') or ''}")
        print(f"\nReport: {result.report.get('report')}")
        for line in stage_headlines(result.grid):
            print(line)
    return code


def precision_line() -> str:
    """What ``auto`` precision chose for the demo's stages, how, and the one command that measures it again (a
    first probe taken while the machine was busy is the usual reason to)."""
    from s1lib.precision import REFRESH_COMMAND, resolve_precision

    resolution = resolve_precision("auto", "auto")
    return (
        f"precision: {resolution.dtype} on {resolution.device} ({resolution.reason}); "
        f"to measure again: {REFRESH_COMMAND}"
    )


def stage_headlines(grid: Any) -> list[str]:
    """The summary lines of the stages that measure something: each run's ``scaling_summary.json`` (the scaling
    stage) in one line, and each ``pareto.json`` (the adaptive stage) as one line per adaptive setting beside the
    fixed budget of about its cost, then its calibrated rule's savings (``adaptive_summary.json``)."""
    from s1lib.eval import adaptive_summary as adaptive
    from s1lib.eval.pareto import PARETO_FILE, comparison_lines
    from s1lib.eval.summary import SUMMARY_FILE, headline

    lines = []
    for run in grid.runs:
        folder = grid.run_dir(run.run_id)
        if (folder / SUMMARY_FILE).is_file():
            summary = json.loads((folder / SUMMARY_FILE).read_text())
            lines.append(f"{run.run_id}: {headline(summary)} (summary: {folder / SUMMARY_FILE})")
        if (folder / PARETO_FILE).is_file():
            rows = json.loads((folder / PARETO_FILE).read_text())
            lines += [f"{run.run_id}: {line}" for line in comparison_lines(rows)]
        if (folder / adaptive.SUMMARY_FILE).is_file():
            summary = json.loads((folder / adaptive.SUMMARY_FILE).read_text())
            lines += [f"{run.run_id}: {line}" for line in adaptive.summary_lines(summary)]
    return lines


def register_cli(subparsers: Any) -> None:
    from s1lib.cli.batch import add_grid_arguments
    from s1lib.cli.commands import add_command
    from s1lib.cli.flags import field_flag, run_flag
    from s1lib.eval.sweep_config import SweepConfig

    demo = add_command(
        subparsers,
        "demo",
        description="Run notebooks 01-05 on the embedded model as one grid (env/batch/demo.yaml): the toy pool "
        "curated, the model fine-tuned on it, budget forcing, a budget sweep against a baseline on held-out toy "
        "problems, and adaptive budgets calibrated on problems apart. Writes report.html and timings.json; "
        "finished stages are reused on a rerun.",
    )
    size = demo.add_mutually_exclusive_group()
    run_flag(size, "--quick", action="store_true", help="a few minutes: tiny SFT and sweep (used by the tests)")
    run_flag(size, "--full", action="store_true", help="more training and the whole held-out set (GPU or patience)")
    add_grid_arguments(demo)
    demo.set_defaults(func=_cmd_demo)

    showcase = add_command(subparsers, "showcase")
    field_flag(showcase, SweepConfig, "model")
    run_flag(showcase, "--output", default="runs/showcase", help="folder for the traces (JSON)")
    showcase.set_defaults(func=_cmd_showcase)
