"""Arithmetic records in the s1K schema: the quickest way to teach a small model the s1 format (think, "Wait",
answer), and, with a long tail of re-checks, the length distribution of s1K's traces for the SFT benches."""

from __future__ import annotations

import math
import random
from statistics import NormalDist
from typing import Any


def toy_records(
    n: int, seed: int = 42, long_tail: bool = False, median_checks: float = 2.0, sigma: float = 1.3
) -> list[dict[str, Any]]:
    """Synthetic s1K-schema records: arithmetic with a thinking trace that double-checks itself.

    They teach a small model the s1 format (think, "Wait", answer) in minutes. With ``long_tail`` the number of
    re-checks follows a log-normal law, giving the long-tailed length distribution of s1K's traces (a few very
    long traces, most short), which is what makes padding expensive.
    """
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    # Stratified log-normal quantiles (then shuffled): the same length shape for any seed, even for small n.
    normal = NormalDist()
    tail = [max(1, round(median_checks * math.exp(sigma * normal.inv_cdf((i + 0.5) / n)))) for i in range(n)]
    rng.shuffle(tail)
    for _ in range(n):
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        op = rng.choice(["+", "*", "-"])
        result = a + b if op == "+" else a * b if op == "*" else a - b
        word = {"+": "add", "*": "multiply", "-": "subtract"}[op]
        steps = [f"I need to {word} {a} and {b}.", f"{a} {op} {b} = {result}."]
        checks = tail[len(records)] if long_tail else 1
        for k in range(checks):
            x, y = (b, a) if op != "-" and k % 2 == 0 else (a, b)
            steps.append(f"Wait, let me double-check: {x} {op} {y} = {result}. That matches.")
        records.append(
            {
                "question": f"What is {a} {op} {b}?",
                "thinking_trajectories": [" ".join(steps)],
                "attempt": f"The answer is $\\boxed{{{result}}}$.",
                "solution": str(result),
                "cot_type": "math",
                "source_type": "toy",
            }
        )
    return records
