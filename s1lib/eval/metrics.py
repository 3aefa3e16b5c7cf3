"""Accuracy-style metrics and the paper's Control / Scaling / Performance.

Conventions: accuracies are fractions in [0, 1] (multiply by 100 for a table); thinking lengths are tokens.
Scaling (paper §4, our spec): mean over all pairs of budgets a < b of the slope (f(b) − f(a)) / (b − a), with a the
AVERAGE MEASURED thinking tokens of a run. ``scaling()`` returns that slope in accuracy-fraction per token;
``MethodMetrics.scaling_x100`` reports it ×100, i.e. accuracy percentage points per token. Because raw per-token
slopes are tiny, ``scaling(..., per_tokens=1000)`` (points per 1,000 tokens) and ``x_scale="log2"`` (per doubling
of thinking, matching log-x scaling plots) are offered too; say which one a table uses.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from statistics import NormalDist

import numpy as np


def accuracy(correct: Sequence[bool]) -> float:
    """Fraction of True; an empty sequence is an error (an accuracy of nothing is meaningless)."""
    if len(correct) == 0:
        raise ValueError("accuracy: no results")
    return sum(bool(c) for c in correct) / len(correct)


# ---------------------------------------------------------------------------------------------------------------------
# Confidence intervals


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularized incomplete beta (Lentz's method)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-14:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(1.0 - x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(lbt) * _betacf(a, b, x) / a
    return 1.0 - math.exp(lbt) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Student-t cumulative distribution (no scipy needed)."""
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """Student-t quantile by bisection on ``t_cdf`` (accurate to ~1e-10)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"t_quantile: p must be in (0, 1), got {p}")
    lo, hi = -1e6, 1e6
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


@dataclass(frozen=True)
class MeanCI:
    """A mean with a two-sided confidence interval; ``method`` says how it was computed."""

    mean: float
    low: float
    high: float
    n: int
    confidence: float
    method: str

    def to_dict(self) -> dict[str, float | int | str]:
        return dict(self.__dict__)


def mean_ci(
    values: Sequence[float], confidence: float = 0.95, method: str = "t", n_boot: int = 10_000, seed: int = 0
) -> MeanCI:
    """Mean with a two-sided CI: ``"t"`` (Student t, df = n−1), ``"normal"`` (z) or ``"bootstrap"`` (percentile)."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        raise ValueError("mean_ci: no values")
    mean = float(x.mean())
    if n == 1:
        return MeanCI(mean, float("nan"), float("nan"), 1, confidence, method)
    alpha = 1.0 - confidence
    if method in ("t", "normal"):
        se = float(x.std(ddof=1)) / math.sqrt(n)
        q = t_quantile(1 - alpha / 2, n - 1) if method == "t" else NormalDist().inv_cdf(1 - alpha / 2)
        return MeanCI(mean, mean - q * se, mean + q * se, n, confidence, method)
    if method == "bootstrap":
        rng = np.random.default_rng(seed)
        means = x[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
        low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
        return MeanCI(mean, float(low), float(high), n, confidence, method)
    raise ValueError(f"mean_ci: method must be 't', 'normal' or 'bootstrap', got {method!r}")


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> MeanCI:
    """A proportion with its Wilson score interval: exact-enough at small n and never outside [0, 1], unlike the
    normal (Wald) interval, which collapses to a point at 0/n and n/n."""
    if n <= 0:
        raise ValueError("wilson_interval: no trials")
    if not 0 <= successes <= n:
        raise ValueError(f"wilson_interval: need 0 <= successes <= n, got {successes} of {n}")
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = successes / n
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if successes == 0 else max(0.0, center - half)  # exact ends where rounding would leave 1e-17
    high = 1.0 if successes == n else min(1.0, center + half)
    return MeanCI(p, low, high, n, confidence, "wilson")


@dataclass(frozen=True)
class PairedDifference:
    """``p_first − p_second`` of two settings scored on the same problems, with Newcombe's interval."""

    difference: float
    low: float
    high: float
    n: int
    first: float
    second: float
    confidence: float
    method: str = "newcombe-paired"

    def to_dict(self) -> dict[str, float | int | str]:
        return dict(self.__dict__)


def paired_difference_interval(
    first: Sequence[bool], second: Sequence[bool], confidence: float = 0.95
) -> PairedDifference:
    """Difference of two accuracies on the SAME problems (``first[i]``, ``second[i]`` score problem i), with
    Newcombe's (1998) method-10 interval for paired proportions: the two Wilson intervals combined with the
    correlation of the pairs (continuity-corrected φ), which a difference of independent intervals would ignore."""
    if len(first) != len(second):
        raise ValueError(f"paired_difference_interval: {len(first)} and {len(second)} results; pair them by problem")
    n = len(first)
    if n == 0:
        raise ValueError("paired_difference_interval: no problems")
    both = sum(bool(a) and bool(b) for a, b in zip(first, second))
    only_first = sum(bool(a) and not bool(b) for a, b in zip(first, second))
    only_second = sum(not bool(a) and bool(b) for a, b in zip(first, second))
    neither = n - both - only_first - only_second
    p1, p2 = (both + only_first) / n, (both + only_second) / n
    ci1 = wilson_interval(both + only_first, n, confidence)
    ci2 = wilson_interval(both + only_second, n, confidence)
    margins = (both + only_first) * (only_second + neither) * (both + only_second) * (only_first + neither)
    phi = 0.0
    if margins > 0:
        cross = both * neither - only_first * only_second
        corrected = cross - n / 2 if cross > n / 2 else (cross if cross < 0 else 0.0)
        phi = corrected / math.sqrt(margins)
    d1, u1 = p1 - ci1.low, ci1.high - p1
    d2, u2 = p2 - ci2.low, ci2.high - p2
    low = (p1 - p2) - math.sqrt(max(d1 * d1 - 2 * phi * d1 * u2 + u2 * u2, 0.0))
    high = (p1 - p2) + math.sqrt(max(u1 * u1 - 2 * phi * u1 * d2 + d2 * d2, 0.0))
    return PairedDifference(p1 - p2, max(-1.0, low), min(1.0, high), n, p1, p2, confidence)


def chance_levels(answers: Sequence[str], groups: Sequence[str | None] | None = None) -> dict[str, float]:
    """Accuracy of the best constant answer: per group (e.g. the toy families), and overall as the group-weighted
    mean of those (a guesser that knows the group and always gives its most common answer). This is the floor
    a model reaches without reading the question, e.g. 50 % on a two-option choice."""
    if len(answers) == 0:
        raise ValueError("chance_levels: no answers")
    groups = list(groups) if groups is not None else [None] * len(answers)
    if len(groups) != len(answers):
        raise ValueError(f"chance_levels: {len(answers)} answers but {len(groups)} groups")
    by_group: dict[str, list[str]] = {}
    for answer, group in zip(answers, groups):
        by_group.setdefault("all" if group is None else str(group), []).append(str(answer).strip())
    levels = {g: Counter(items).most_common(1)[0][1] / len(items) for g, items in sorted(by_group.items())}
    levels["all"] = sum(levels[g] * len(items) for g, items in by_group.items()) / len(answers)
    return levels


def avg_at_n(correct: Sequence[Sequence[bool]], confidence: float = 0.95, method: str = "t", seed: int = 0) -> MeanCI:
    """avg@n: accuracy averaged over n samples per problem (``correct[problem][sample]``).

    The interval is over PROBLEMS (each problem's mean score is one observation), since the benchmark's problems
    are the sample that limits how far the number generalises; every problem must have the same n.
    """
    if len(correct) == 0:
        raise ValueError("avg_at_n: no problems")
    sizes = {len(row) for row in correct}
    if len(sizes) != 1 or 0 in sizes:
        raise ValueError(
            f"avg_at_n: every problem needs the same non-zero number of samples, got sizes {sorted(sizes)}"
        )
    per_problem = [sum(bool(c) for c in row) / len(row) for row in correct]
    return mean_ci(per_problem, confidence, method, seed=seed)


# ---------------------------------------------------------------------------------------------------------------------
# Parallel scaling: majority vote and coverage


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one problem with ``c`` correct among ``n`` samples: 1 − C(n−c, k) / C(n, k)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k: need 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def cov_at_k(correct: Sequence[Sequence[bool]], k: int) -> float:
    """cov@k (coverage, pass@k): chance that at least one of k samples is correct, unbiased over all n samples."""
    if len(correct) == 0:
        raise ValueError("cov_at_k: no problems")
    return sum(pass_at_k(len(row), sum(bool(c) for c in row), k) for row in correct) / len(correct)


def majority_vote(answers: Sequence[str | None]) -> str | None:
    """The most frequent non-None answer; ties go to the answer seen first. None if there is no answer."""
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None
    best = max(counts.values())
    return next(a for a in answers if a is not None and counts[a] == best)


def maj_at_k(samples: Sequence[Sequence[tuple[str | None, bool]]], k: int) -> float:
    """maj@k: accuracy of the majority answer among the FIRST k samples of each problem.

    ``samples[problem]`` is a list of ``(answer_key, correct)``; the key must already be canonical (e.g. the
    extracted answer normalised, or a letter), because votes are counted by equal keys. Unparsed (None) samples
    do not vote; a problem with no parsed answer counts as wrong.
    """
    if len(samples) == 0:
        raise ValueError("maj_at_k: no problems")
    total = 0
    for index, row in enumerate(samples):
        if len(row) < k:
            raise ValueError(f"maj_at_k: problem {index} has {len(row)} samples, fewer than k={k}")
        first = row[:k]
        winner = majority_vote([key for key, _ in first])
        if winner is not None:
            total += next(bool(ok) for key, ok in first if key == winner)
    return total / len(samples)


# ---------------------------------------------------------------------------------------------------------------------
# Sequential scaling: Control / Scaling / Performance


def vote_metrics(samples: Sequence[Sequence[tuple[str | None, bool]]], ks: Sequence[int] | None = None) -> dict:
    """maj@k and cov@k for each k (default: powers of two up to n) from ``samples[problem] = [(key, correct)]``.

    Keys must be canonical answers (equal answers, equal keys); unparsed samples (None) do not vote.
    """
    if not samples:
        raise ValueError("vote_metrics: no problems")
    n = min(len(row) for row in samples)
    if ks is None:
        ks = [2**e for e in range(n.bit_length()) if 2**e <= n]
        if n not in ks:
            ks.append(n)
    correct = [[ok for _, ok in row] for row in samples]
    out: dict[str, float] = {}
    for k in ks:
        out[f"maj@{k}"] = maj_at_k(samples, k)
        out[f"cov@{k}"] = cov_at_k(correct, k)
    return out


def _as_list(value: float | Sequence[float], n: int, name: str) -> list[float]:
    if isinstance(value, (int, float)):
        return [float(value)] * n
    values = [float(v) for v in value]
    if len(values) != n:
        raise ValueError(f"control: {name} has {len(values)} entries, expected {n} (one per run) or a scalar")
    return values


def control(thinking_tokens: Sequence[float], a_min: float | Sequence[float], a_max: float | Sequence[float]) -> float:
    """Control: fraction of runs whose measured thinking tokens lie within [a_min, a_max] (inclusive).

    Bounds are scalars or one per run (each run's requested budget), so a sweep over budgets is one call.
    """
    n = len(thinking_tokens)
    if n == 0:
        raise ValueError("control: no runs")
    lows, highs = _as_list(a_min, n, "a_min"), _as_list(a_max, n, "a_max")
    return sum(lo <= float(t) <= hi for t, lo, hi in zip(thinking_tokens, lows, highs)) / n


def scaling(points: Sequence[tuple[float, float]], x_scale: str = "linear", per_tokens: float = 1.0) -> float:
    """Scaling: mean over all pairs a < b of (f(b) − f(a)) / (b − a); ``points`` are (avg thinking tokens, accuracy).

    Returned in accuracy fraction per ``per_tokens`` tokens (``x_scale="linear"``) or per doubling of thinking
    (``x_scale="log2"``, b and a replaced by their log2). Pairs with equal thinking length have no slope and are
    skipped; with fewer than two distinct lengths the result is NaN (undefined, e.g. a method with one budget).
    """
    if x_scale not in ("linear", "log2"):
        raise ValueError(f"scaling: x_scale must be 'linear' or 'log2', got {x_scale!r}")
    pts = sorted((float(a), float(f)) for a, f in points)
    if x_scale == "log2":
        if any(a <= 0 for a, _ in pts):
            raise ValueError("scaling: log2 scale needs positive thinking lengths")
        pts = [(math.log2(a), f) for a, f in pts]
    else:
        pts = [(a / per_tokens, f) for a, f in pts]
    slopes = [(fb - fa) / (b - a) for (a, fa), (b, fb) in combinations(pts, 2) if b > a]
    return sum(slopes) / len(slopes) if slopes else float("nan")


def performance(points: Sequence[tuple[float, float]]) -> float:
    """Performance: the best accuracy over the budgets, max f(a)."""
    if len(points) == 0:
        raise ValueError("performance: no points")
    return max(float(f) for _, f in points)


@dataclass(frozen=True)
class MethodMetrics:
    """One row of a Table-3 style comparison (fractions; the ×100 fields are what a table shows)."""

    method: str
    control: float
    scaling: float
    performance: float

    @property
    def control_pct(self) -> float:
        return 100.0 * self.control

    @property
    def scaling_x100(self) -> float:
        return 100.0 * self.scaling

    @property
    def performance_pct(self) -> float:
        return 100.0 * self.performance

    def to_dict(self) -> dict[str, float | str]:
        return {
            "method": self.method,
            "control": self.control,
            "scaling": self.scaling,
            "performance": self.performance,
            "control_pct": self.control_pct,
            "scaling_x100": self.scaling_x100,
            "performance_pct": self.performance_pct,
        }


def method_metrics(
    method: str,
    points: Sequence[tuple[float, float]],
    thinking_tokens: Sequence[float],
    a_min: float | Sequence[float],
    a_max: float | Sequence[float],
    x_scale: str = "linear",
    per_tokens: float = 1.0,
) -> MethodMetrics:
    """Control, Scaling and Performance of one method from its sweep points and per-run thinking lengths."""
    return MethodMetrics(
        method,
        control(thinking_tokens, a_min, a_max),
        scaling(points, x_scale=x_scale, per_tokens=per_tokens),
        performance(points),
    )
