"""The evaluation subcommands: ``s1 grade``, ``s1 benchmarks``, ``s1 eval`` (one policy) and ``s1 sweep GRID``.

``eval`` and ``sweep`` write ``samples.jsonl``, ``results.json`` and HTML figures (scaling curve, Control /
Scaling / Performance table, thinking-length histograms, forced insertions; with adaptive settings the Pareto
figure) into ``--output``; rerunning the same command resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from s1lib.cli.commands import add_command
from s1lib.cli.flags import field_flag, run_flag
from s1lib.cli.policy_flags import add_policy_arguments
from s1lib.eval.benchmarks import BENCHMARKS, KINDS, load_benchmark
from s1lib.eval.figures import results_table, sweep_figures
from s1lib.eval.grading import Grade, GradingConfig, MathVerifier, grade
from s1lib.eval.judge import JudgeConfig
from s1lib.eval.metrics import accuracy
from s1lib.eval.sweep_config import SweepConfig
from s1lib.forcing.policy import BudgetPolicy


def read_completions(
    path: str | Path, id_field: str | None = None, completion_field: str = "completion"
) -> list[tuple[str, str, str]]:
    """``(location, problem id, completion)`` per row of a completions table (jsonl, json, csv or parquet, through
    the one table reader). The id is ``id_field``, by default ``id`` or else ``problem_id``; a row without one, or
    whose completion is not text, is an error naming the file, the row and the field."""
    from s1lib.tables import iter_rows

    id_fields = (id_field,) if id_field else ("id", "problem_id")
    rows = []
    for where, row in iter_rows(Path(path)):
        location = f"{path} {where}"
        pid = next((row[name] for name in id_fields if row.get(name) is not None), None)
        if pid is None:
            raise ValueError(f"{location}: no problem id: expected field {' or '.join(map(repr, id_fields))}")
        completion = row.get(completion_field)
        if not isinstance(completion, str):
            raise ValueError(
                f"{location}: field {completion_field!r} must be the completion's text, got "
                f"{type(completion).__name__ if completion_field in row else 'no such field'}"
            )
        rows.append((location, str(pid), completion))
    return rows


def _cmd_grade(args: argparse.Namespace) -> int:
    problems = {p.id: p for p in load_benchmark(args.benchmark, args.data, seed=args.seed)}
    judge = None
    if args.judge:
        from s1lib.eval.judge import JudgeConfig, LLMJudge

        judge = LLMJudge(JudgeConfig(base_url=args.judge_base_url, model=args.judge_model))
    verifier = MathVerifier(GradingConfig(timeout=args.timeout))
    grades: list[Grade] = []
    try:
        for where, pid, completion in read_completions(args.completions, args.id_field, args.completion_field):
            if pid not in problems:
                raise ValueError(f"{where}: problem id {pid!r} is not in benchmark {args.benchmark!r}")
            grades.append(grade(problems[pid], completion, args.delimiters, verifier, judge))
    finally:
        verifier.close()
    summary = {
        "benchmark": args.benchmark,
        "n": len(grades),
        "accuracy": accuracy([g.correct for g in grades]),
        "status": dict(Counter(g.status for g in grades)),
    }
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(json.dumps(g.to_dict()) + "\n" for g in grades))
        summary["graded"] = str(out)
    print(json.dumps(summary, indent=2))
    return 0


def _cmd_benchmarks(args: argparse.Namespace) -> int:
    if args.data is None:
        for spec in BENCHMARKS.values():
            print(f"{spec.name:15} {spec.kind:8} {spec.hub_id:32} {spec.description}")
        return 0
    for name in BENCHMARKS:
        try:
            problems = load_benchmark(name, args.data)
        except FileNotFoundError:
            continue
        print(f"{name:15} {len(problems):5d} problems ({problems[0].kind})")
    return 0


# ---------------------------------------------------------------------------------------------------------------------
# eval / sweep


def write_figures(results: Mapping[str, Any], records: Sequence[Mapping[str, Any]], folder: str | Path) -> list[Path]:
    """The run's figures (:func:`s1lib.eval.figures.sweep_figures`) as standalone HTML in ``folder``."""
    from s1lib import viz

    figures = sweep_figures(results, records)
    return [viz.save_figure(figure, Path(folder) / f"{name}.html") for name, figure in figures.items()]


def print_results(results: Mapping[str, Any]) -> None:
    """A plain-text table of settings and methods."""
    print(results_table(results))


def _finish(run: Any, as_json: bool) -> int:
    paths = write_figures(run.results, run.records(), run.output_dir)
    if as_json:
        print(json.dumps({**run.results, "figures": [str(p) for p in paths]}, indent=2))
    else:
        print_results(run.results)
        print(f"\nresults: {run.output_dir / 'results.json'}; figures: {', '.join(p.name for p in paths)}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from s1lib.cli.policy_flags import policy_from_args
    from s1lib.eval.sweep import SweepConfig, run_sweep

    policy = policy_from_args(args).to_dict()
    delimiters = policy.pop("delimiters")
    if isinstance(delimiters, list):
        policy["delimiters"] = tuple(delimiters)
        delimiters = "s1"
    config = SweepConfig(
        benchmark=args.benchmark, data=args.data, model=args.model, backend=args.backend, caps=[], policies=[policy],
        delimiters=delimiters, temperature=args.temperature, top_p=args.top_p, seed=args.seed, samples=args.samples,
        min_p=args.min_p, temperature_thinking=args.temperature_thinking,
        limit=args.limit, batch_size=args.batch_size, trust_remote_code=args.trust_remote_code,
        output_dir=args.output or f"runs/eval-{Path(args.benchmark).stem}", max_answer_tokens=args.max_answer_tokens,
        engine_options={"dtype": args.dtype} if args.dtype else {}, device=args.device,
        **{name: getattr(args, name) for name in FIELD_OPTIONS},
    )  # fmt: skip
    return _finish(run_sweep(config, progress=not args.no_progress), args.json)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from s1lib.eval.sweep import SweepConfig, run_sweep

    config = SweepConfig.from_file(args.grid)
    changes = {"limit": args.limit, "output_dir": args.output, "batch_size": args.batch_size, "data": args.data}
    changes["device"] = args.device
    changes.update({name: getattr(args, name) for name in FIELD_OPTIONS})
    changes = {k: v for k, v in changes.items() if v is not None}
    if args.no_share_prefix:
        changes["share_prefix"] = False
    if changes:
        config = SweepConfig.from_dict({**config.to_dict(), **changes}, args.grid)
    return _finish(run_sweep(config, progress=not args.no_progress), args.json)


def _cmd_lm_eval_task(args: argparse.Namespace) -> int:
    import shlex

    from s1lib.backends.vllm_request import served_xargs
    from s1lib.cli.policy_flags import policy_from_args
    from s1lib.serve.lm_eval_task import lm_eval_command, write_task

    policy = policy_from_args(args)  # --model is the served model, whose chat template renders the prompts
    if policy.adaptive is not None:  # served_xargs would drop it: the command would run fixed budgets unawares
        raise ValueError("--adaptive is not served: s1 serve does not run adaptive rules (a driver runs probes)")
    task = write_task(
        args.benchmark, args.out, args.model, args.data, args.limit, policy.delimiters, args.max_gen_toks, args.seed
    )
    command = lm_eval_command(task, args.base_url, args.served_name or args.model, served_xargs(policy))
    print(json.dumps(task, indent=2))
    print("\nrun it against s1 serve with:\n" + shlex.join(command))
    return 0


def _add_run_arguments(p: argparse.ArgumentParser) -> None:
    field_flag(p, SweepConfig, "limit")
    field_flag(p, SweepConfig, "output_dir", flag="--output", dest="output", default=None, shown_default="none",
               note="Rerunning the same command resumes there.")  # fmt: skip
    run_flag(p, "--json", action="store_true", help="print the aggregated results as JSON")
    run_flag(p, "--no-progress", action="store_true", help="no progress bar")


FIELD_OPTIONS = ("question_field", "answer_field", "kind", "kind_field", "id_field")


def _add_field_arguments(p: argparse.ArgumentParser) -> None:
    """How to read a benchmark file by path: its columns and grading kind (SweepConfig's fields of the same names)."""
    g = p.add_argument_group("a benchmark file by path")
    for name in FIELD_OPTIONS:
        field_flag(g, SweepConfig, name, **({"choices": KINDS} if name == "kind" else {}))


def register_cli(subparsers: Any) -> None:
    """Add ``grade``, ``benchmarks``, ``eval``, ``lm-eval-task`` and ``sweep`` to the ``s1`` command."""
    p = add_command(
        subparsers,
        "grade",
    )
    field_flag(p, SweepConfig, "benchmark", required=True, choices=sorted(BENCHMARKS), type=str)
    field_flag(p, SweepConfig, "data")
    run_flag(
        p, "--completions", required=True, help="a table (jsonl, json, csv, parquet) with a problem id and a completion"
    )
    run_flag(p, "--id-field", default=None, help="the completions' problem id field (default: 'id', else 'problem_id')")
    run_flag(p, "--completion-field", default="completion", help="the completion text's field")
    run_flag(p, "--out", default=None, help="write one graded row per completion here (jsonl)")
    field_flag(p, BudgetPolicy, "delimiters", default=None, shown_default="any of s1 / think-tags", type=str)
    field_flag(p, GradingConfig, "timeout", default=5.0)
    field_flag(p, SweepConfig, "seed", note="(GPQA: it permutes the options)")
    run_flag(p, "--judge", action="store_true", help="ask an LLM judge when the rules say wrong (needs a key)")
    field_flag(p, JudgeConfig, "model", flag="--judge-model", dest="judge_model")
    field_flag(p, JudgeConfig, "base_url", flag="--judge-base-url", dest="judge_base_url")
    p.set_defaults(func=_cmd_grade)

    b = add_command(
        subparsers,
        "benchmarks",
    )
    field_flag(b, SweepConfig, "data", note="(a folder holding aime24.jsonl, math500.jsonl, ...)")
    b.set_defaults(func=_cmd_benchmarks)

    e = add_command(
        subparsers,
        "eval",
    )
    field_flag(e, SweepConfig, "benchmark", flag="benchmark", type=str)
    field_flag(e, SweepConfig, "data")
    _add_field_arguments(e)
    add_policy_arguments(e)
    field_flag(e, SweepConfig, "backend", choices=["transformers", "vllm"])
    field_flag(e, SweepConfig, "samples")
    field_flag(e, SweepConfig, "batch_size")
    run_flag(e, "--dtype", default=None, help="auto (the default: this device's fastest), float32, bfloat16")
    field_flag(e, SweepConfig, "device")
    _add_run_arguments(e)
    e.set_defaults(func=_cmd_eval)

    t = add_command(
        subparsers,
        "lm-eval-task",
    )
    field_flag(t, SweepConfig, "benchmark", flag="benchmark", choices=sorted(BENCHMARKS), type=str)
    run_flag(t, "--out", required=True, help="task folder (for lm_eval --include_path)")
    field_flag(t, SweepConfig, "data")
    field_flag(t, SweepConfig, "limit")
    run_flag(t, "--max-gen-toks", type=int, default=32768, help="max_tokens per request (thinking + answer)")
    run_flag(t, "--base-url", default="http://127.0.0.1:8000", help="where s1 serve listens (for the command)")
    run_flag(t, "--served-name", default=None, help="the name s1 serve serves the model under (see /v1/models)")
    add_policy_arguments(t)
    t.set_defaults(func=_cmd_lm_eval_task)

    s = add_command(
        subparsers,
        "sweep",
    )
    run_flag(s, "grid", help="SweepConfig file (see env/sweeps/)")
    field_flag(s, SweepConfig, "data", default=None, shown_default="the grid's")
    field_flag(s, SweepConfig, "batch_size", default=None, shown_default="the grid's")
    field_flag(s, SweepConfig, "device", default=None, shown_default="the grid's")
    field_flag(s, SweepConfig, "share_prefix", flag="--no-share-prefix", dest="no_share_prefix", action="store_true",
               prefix="Turn off: ")  # fmt: skip
    _add_field_arguments(s)
    _add_run_arguments(s)
    s.set_defaults(func=_cmd_sweep)
