"""Benchmarks of the evaluation area.

``run_bench`` (``s1 bench sweep``): prefix sharing on the embedded model over a CPU-sized grid in the paper's
shape (6 caps 32 … 1024 with thinking forced to fill each cap, plus 0/1/2/4/6 "Wait"s at the largest cap), timed
against independent runs of the same settings. ``run_grading_bench``: loading, extraction and math-verify grading.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from s1lib.eval.benchmarks import load_benchmark
from s1lib.eval.grading import GradingConfig, MathVerifier, compare, extract_answer
from s1lib.paths import data_dir


def _print(results: dict[str, Any], json_output: bool) -> None:
    if json_output:
        print(json.dumps(results, indent=2))
    else:
        for key, value in results.items():
            print(f"{key:32} {value}")
    sys.stdout.flush()


def run_grading_bench(json_output: bool = False, data: str | Path | None = None, n: int = 100) -> dict[str, Any]:
    """Time loading the real benchmarks, answer extraction, and math-verify grading (worker vs inline).

    Grading runs math-verify on each of the first ``n`` MATH500 gold answers against its extracted boxed copy
    (should all be correct) and against a perturbed answer ("gold+1", should be wrong); timings are per comparison.
    """
    folder = Path(data) if data is not None else data_dir()
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
    _print(results, json_output)
    return results


def sweep_bench_policies(
    caps: tuple[int, ...] = (32, 64, 128, 256, 512, 1024),
    waits: tuple[int, ...] = (0, 1, 2, 4, 6),
    max_answer_tokens: int = 4,
) -> list:
    """The benchmark grid: caps with min = cap (no early stop), and Wait counts at the largest cap."""
    from s1lib.forcing import BudgetPolicy

    policies = [
        BudgetPolicy(max_thinking_tokens=c, min_thinking_tokens=c, max_answer_tokens=max_answer_tokens) for c in caps
    ]
    policies += [
        BudgetPolicy(max_thinking_tokens=max(caps), num_ignore=w, max_answer_tokens=max_answer_tokens) for w in waits
    ]
    return policies


def run_bench(
    json_output: bool = False,
    questions: int = 2,
    caps: tuple[int, ...] = (32, 64, 128, 256, 512, 1024),
    waits: tuple[int, ...] = (0, 1, 2, 4, 6),
    max_answer_tokens: int = 4,
    model: str = "default",
    data: str | Path | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Shared-prefix sweep vs independent runs on the embedded model; checks they are token-identical.

    ``threads`` sets torch's thread count (1 is far steadier than 2 when other jobs share the cores).

    Prints the wall-clock ratio (independent / shared), the ideal ratio (independent decoded tokens / shared
    decoded tokens: the envelope plus every branch) and the fraction of the ideal reached.
    """
    import torch

    from s1lib.backends.hf import HFEngine
    from s1lib.backends.prefix_sharing import SweepStats, generate_sweep

    if threads is not None:
        torch.set_num_threads(threads)
    folder = Path(data) if data is not None else data_dir()
    problems = load_benchmark("aime24", folder, limit=questions)
    engine = HFEngine.from_name(model)
    policies = sweep_bench_policies(caps, waits, max_answer_tokens)
    prompts = [engine.prompt_for(p.question) for p in problems]
    batch = len(prompts)
    engine.generate(prompts[:1], policies[0].replace(max_thinking_tokens=4, min_thinking_tokens=4))  # warm-up

    start = time.perf_counter()
    independent = []
    for policy in policies:
        independent.append(engine.generate(prompts, policy, batch_size=batch))
        print(f"  independent {policy.label():24} {time.perf_counter() - start:7.1f} s", file=sys.stderr, flush=True)
    t_independent = time.perf_counter() - start
    stats = SweepStats()
    start = time.perf_counter()
    shared = generate_sweep(engine, prompts, policies, batch_size=batch, stats=stats)
    t_shared = time.perf_counter() - start

    identical = all(a.generated_ids == b.generated_ids for xs, ys in zip(shared, independent) for a, b in zip(xs, ys))
    independent_tokens = sum(len(t.generated_ids) for traces in independent for t in traces)
    ideal = independent_tokens / stats.shared_tokens
    wall = t_independent / t_shared
    results: dict[str, Any] = {
        "model": model,
        "questions": len(prompts),
        "settings": len(policies),
        "caps": list(caps),
        "waits": list(waits),
        "threads": torch.get_num_threads(),
        "independent_s": round(t_independent, 2),
        "shared_s": round(t_shared, 2),
        "independent_tokens": independent_tokens,
        "shared_tokens": stats.shared_tokens,
        "envelope_tokens": stats.envelope_tokens,
        "branch_tokens": stats.branch_tokens,
        "wall_clock_ratio": round(wall, 3),
        "ideal_ratio": round(ideal, 3),
        "fraction_of_ideal": round(wall / ideal, 3),
        "token_identical": identical,
        "thinking_tokens_by_setting": {
            p.label(): [t.thinking_tokens for t in traces] for p, traces in zip(policies, shared)
        },
    }
    if json_output:
        _print(results, True)
    else:
        results_short = {k: v for k, v in results.items() if k != "thinking_tokens_by_setting"}
        _print(results_short, False)
    return results
