"""Evaluation: benchmark loaders, answer extraction and grading, an optional LLM judge, and metrics.

Also the ``s1 grade`` / ``s1 benchmarks`` subcommands (``register_cli``) and the grading benchmark (``run_bench``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from s1lib.eval.benchmarks import BENCHMARKS, Problem, load_benchmark, load_generic
from s1lib.eval.grading import Grade, GradingConfig, MathVerifier, compare, extract_answer, grade, is_equivalent
from s1lib.eval.metrics import accuracy, avg_at_n, control, cov_at_k, maj_at_k, performance, scaling

__all__ = [
    "BENCHMARKS",
    "Grade",
    "GradingConfig",
    "MathVerifier",
    "Problem",
    "accuracy",
    "avg_at_n",
    "compare",
    "control",
    "cov_at_k",
    "extract_answer",
    "grade",
    "is_equivalent",
    "load_benchmark",
    "load_generic",
    "maj_at_k",
    "performance",
    "register_cli",
    "run_bench",
    "scaling",
]

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
"""Where the real benchmark files sit next to a development checkout (used by ``run_bench``)."""


# ---------------------------------------------------------------------------------------------------------------------
# CLI


def _read_completions(path: Path) -> list[tuple[str, str, str]]:
    """``(location, problem id, completion)`` from a jsonl with ``id`` (or ``problem_id``) and ``completion``."""
    rows = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            where = f"{path} line {number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{where}: not valid JSON ({exc.msg})") from exc
            pid = row.get("id", row.get("problem_id"))
            if pid is None or not isinstance(row.get("completion"), str):
                raise ValueError(f"{where}: expected fields 'id' (or 'problem_id') and 'completion' (text)")
            rows.append((where, str(pid), row["completion"]))
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
        for where, pid, completion in _read_completions(Path(args.completions)):
            if pid not in problems:
                raise ValueError(f"{where}: problem id {pid!r} is not in benchmark {args.benchmark!r}")
            grades.append(grade(problems[pid], completion, args.delimiters, verifier, judge))
    finally:
        verifier.close()
    if not grades:
        raise ValueError(f"{args.completions}: no completions")
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


def register_cli(subparsers: Any) -> None:
    """Add ``grade`` and ``benchmarks`` to the ``s1`` command."""
    p = subparsers.add_parser("grade", help="Grade a jsonl of completions ({id, completion}) against a benchmark")
    p.add_argument("--benchmark", required=True, choices=sorted(BENCHMARKS))
    p.add_argument("--data", default=None, help="benchmark file or folder (default: the hub data set, online)")
    p.add_argument("--completions", required=True, help="jsonl with 'id' and 'completion' per line")
    p.add_argument("--out", default=None, help="write one graded row per completion here (jsonl)")
    p.add_argument("--delimiters", default=None, help="delimiter preset (default: any of s1 / think-tags)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per math-verify comparison")
    p.add_argument("--seed", type=int, default=0, help="GPQA option permutation seed")
    p.add_argument("--judge", action="store_true", help="ask an LLM judge when the rules say wrong (needs a key)")
    p.add_argument("--judge-model", default="gpt-4o-mini")
    p.add_argument("--judge-base-url", default="https://api.openai.com/v1")
    p.set_defaults(func=_cmd_grade)

    b = subparsers.add_parser("benchmarks", help="List known benchmarks, or count the problems in a data folder")
    b.add_argument("--data", default=None, help="folder holding aime24.jsonl, math500.jsonl, ...")
    b.set_defaults(func=_cmd_benchmarks)


# ---------------------------------------------------------------------------------------------------------------------
# Benchmark of this area


def run_bench(json_output: bool = False, data: str | Path | None = None, n: int = 100) -> dict[str, Any]:
    """Time loading the real benchmarks, answer extraction, and math-verify grading (worker vs inline).

    Grading runs math-verify on each of the first ``n`` MATH500 gold answers against its extracted boxed copy
    (should all be correct) and against a perturbed answer ("gold+1", should be wrong); timings are per comparison.
    """
    folder = Path(data) if data is not None else SHARED_DATA
    results: dict[str, Any] = {"data": str(folder)}
    for name in ("aime24", "math500", "olympiadbench"):
        start = time.perf_counter()
        problems = load_benchmark(name, folder)
        results[f"load_{name}_s"] = round(time.perf_counter() - start, 4)
        results[f"{name}_problems"] = len(problems)

    math500 = load_benchmark("math500", folder, limit=n)
    completions = [f"<|im_start|>think\nwork\n<|im_start|>answer\nAnswer: \\boxed{{{p.answer}}}." for p in math500]
    start = time.perf_counter()
    for _ in range(10):
        extracted = [extract_answer(c) for c in completions]
    results["extract_us_per_completion"] = round((time.perf_counter() - start) / (10 * len(completions)) * 1e6, 1)

    for mode, timeout in (("worker", 5.0), ("inline", None)):
        verifier = MathVerifier(GradingConfig(timeout=timeout))
        start = time.perf_counter()
        if timeout is not None:
            verifier.verify("1", "1")  # start the worker outside the timed loop
        results[f"{mode}_startup_s"] = round(time.perf_counter() - start, 3)
        start = time.perf_counter()
        same = sum(verifier.verify(p.answer, e or "") for p, e in zip(math500, extracted))  # no string shortcut
        wrong = sum(compare(p.answer, f"{p.answer}+1", "math", verifier) == "correct" for p in math500)
        elapsed = time.perf_counter() - start
        verifier.close()
        results[f"{mode}_ms_per_comparison"] = round(elapsed / (2 * len(math500)) * 1e3, 2)
        results[f"{mode}_self_correct"] = f"{same}/{len(math500)}"
        results[f"{mode}_perturbed_accepted"] = f"{wrong}/{len(math500)}"
    if json_output:
        print(json.dumps(results, indent=2))
    else:
        for key, value in results.items():
            print(f"{key:32} {value}")
    sys.stdout.flush()
    return results
