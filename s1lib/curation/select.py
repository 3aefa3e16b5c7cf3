"""Selection: the pre-selection rule, the seeded diversity + length sampler, and the paper's ablation selectors.

Sampler (s1 §1.6): positions ``len(selected)`` below ``uniform_until`` (700) pick a domain uniformly among the
domains that still have questions; later positions, up to ``total`` (1000), pick a domain from the domain
distribution of the remaining AIME and GPQA questions with GPQA's total mass scaled to half of AIME's. Inside the
domain, questions are ranked by trace length (rank 0 = longest; ties keep pool order) and one is drawn with
probability ∝ 2^(−rank), then removed; empty domains drop out and the probabilities are renormalised. Pre-selected
questions fill the first positions, so draws 1–700 and 701–1000 are positions in the final set, as in the reference.
**fix**: the reference set no seed; here a ``numpy.random.Generator`` seeded from ``seed`` makes the set
reproducible. If no AIME/GPQA question is left in any non-empty domain, the second phase falls back to uniform.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _matches(source: str, patterns: Sequence[str]) -> bool:
    source = source.lower()
    return any(p.lower() in source for p in patterns)


def preselect(
    records: list[dict],
    aime_sources: Sequence[str] = ("aime",),
    gpqa_sources: Sequence[str] = ("gpqa",),
    math_sources: Sequence[str] = ("math",),
    math_min_length: int = 5600,
) -> tuple[list[dict], list[dict]]:
    """Split into (pre-selected, rest): AIME/GPQA with a correct trace, MATH with a correct trace longer than
    ``math_min_length`` tokens. A source matching an AIME/GPQA pattern is never treated as MATH."""
    chosen, rest = [], []
    for rec in records:
        src = str(rec["source_type"])
        correct = rec.get("trace_grade") is True
        if _matches(src, aime_sources) or _matches(src, gpqa_sources):
            keep = correct
        elif _matches(src, math_sources):
            keep = correct and (rec.get("trace_length") or 0) > math_min_length
        else:
            keep = False
        (chosen if keep else rest).append(rec)
    return chosen, rest


def rank_weights(n: int) -> np.ndarray:
    """Probabilities ∝ 2^(−rank) for ranks 0..n−1 (computed in log space, so long domains do not underflow to 0/0)."""
    w = np.exp2(-np.arange(n, dtype=float))
    return w / w.sum()


def phase2_weights(
    records: list[dict], aime_sources: Sequence[str], gpqa_sources: Sequence[str], gpqa_scale: float = 0.5
) -> dict[str, float]:
    """Domain weights from the AIME and GPQA questions among ``records``; GPQA's total = ``gpqa_scale`` × AIME's."""
    aime: dict[str, int] = {}
    gpqa: dict[str, int] = {}
    for rec in records:
        src = str(rec["source_type"])
        if _matches(src, aime_sources):
            aime[rec["domain"]] = aime.get(rec["domain"], 0) + 1
        elif _matches(src, gpqa_sources):
            gpqa[rec["domain"]] = gpqa.get(rec["domain"], 0) + 1
    n_aime, n_gpqa = sum(aime.values()), sum(gpqa.values())
    weights: dict[str, float] = {d: c / n_aime for d, c in aime.items()} if n_aime else {}
    if n_gpqa:
        scale = gpqa_scale if n_aime else 1.0
        for d, c in gpqa.items():
            weights[d] = weights.get(d, 0.0) + scale * c / n_gpqa
    return weights


def sample(
    records: list[dict],
    total: int = 1000,
    uniform_until: int = 700,
    seed: int = 42,
    preselected: Sequence[dict] = (),
    aime_sources: Sequence[str] = ("aime",),
    gpqa_sources: Sequence[str] = ("gpqa",),
    gpqa_scale: float = 0.5,
    log: list[dict] | None = None,
) -> list[dict]:
    """The diversity + length sampler. Returns ``preselected + drawn`` (at most ``total``); ``log`` (if given)
    receives one ``{"position", "phase", "domain", "rank"}`` per draw."""
    rng = np.random.default_rng(seed)
    selected = list(preselected)[:total]
    pools: dict[str, list[dict]] = {}
    for rec in records:
        pools.setdefault(rec["domain"], []).append(rec)
    for d in pools:  # rank 0 = longest; a stable sort keeps pool order for ties
        pools[d].sort(key=lambda r: -(r.get("trace_length") or 0))
    weights = phase2_weights(records, aime_sources, gpqa_sources, gpqa_scale)
    domains = sorted(pools)
    while len(selected) < total and domains:
        position = len(selected)
        phase = "uniform" if position < uniform_until else "weighted"
        if phase == "weighted":
            w = np.array([weights.get(d, 0.0) for d in domains])
            if w.sum() <= 0:
                phase, w = "weighted-fallback-uniform", np.ones(len(domains))
        else:
            w = np.ones(len(domains))
        d = domains[int(rng.choice(len(domains), p=w / w.sum()))]
        pool = pools[d]
        rank = int(rng.choice(len(pool), p=rank_weights(len(pool))))
        selected.append(pool.pop(rank))
        if log is not None:
            log.append({"position": position, "phase": phase, "domain": d, "rank": rank})
        if not pool:
            domains.remove(d)
    return selected


# ---------------------------------------------------------------- ablation selectors (paper §5 data ablations)


def select_random(records: list[dict], n: int = 1000, seed: int = 42) -> list[dict]:
    """ "1K random": a uniform sample without replacement."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(records), size=min(n, len(records)), replace=False)
    return [records[i] for i in sorted(idx)]


def select_diverse(records: list[dict], n: int = 1000, seed: int = 42) -> list[dict]:
    """ "1K diverse only": a uniform domain each draw, a uniform question inside it (no length preference)."""
    rng = np.random.default_rng(seed)
    pools: dict[str, list[dict]] = {}
    for rec in records:
        pools.setdefault(rec["domain"], []).append(rec)
    domains, out = sorted(pools), []
    while len(out) < n and domains:
        d = domains[int(rng.integers(len(domains)))]
        out.append(pools[d].pop(int(rng.integers(len(pools[d])))))
        if not pools[d]:
            domains.remove(d)
    return out


def select_longest(records: list[dict], n: int = 1000) -> list[dict]:
    """ "1K longest": the ``n`` questions with the longest traces."""
    return sorted(records, key=lambda r: -(r.get("trace_length") or 0))[:n]


def select_top_score(records: list[dict], n: int = 800) -> list[dict]:
    """LIMO's last step: the ``n`` questions whose best chain scores highest (ties keep pool order)."""
    return sorted(records, key=lambda r: -(r.get("chain_score") or 0.0))[:n]


SELECTORS = ("s1k", "random", "diverse", "longest", "full", "limo")
