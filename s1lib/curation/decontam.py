"""Decontamination and dedup: word 8-grams against benchmarks and earlier sources, then exact dedup on question.

As in the reference, any training question sharing one word n-gram with a test question is dropped (the rule and
its index: ``s1lib.ngrams``); each processed source then joins the test list, so later sources are
near-deduplicated against earlier ones (rows of one source are not compared with each other here).
"""

from __future__ import annotations

from dataclasses import dataclass

from s1lib.ngrams import NgramIndex, ngrams


@dataclass
class Drop:
    """Why one row left: the stage, the reason (a funnel category) and a detail (what it collided with)."""

    row_id: str
    stage: str
    reason: str
    detail: str = ""


def decontaminate(
    records: list[dict],
    benchmarks: dict[str, list[str]],
    n: int = 8,
    cross_source: bool = True,
    source_key: str = "source_type",
) -> tuple[list[dict], list[Drop]]:
    """Drop records sharing an n-gram with a benchmark question or (if ``cross_source``) an earlier source.

    Sources are processed in the order of their first appearance in ``records``. The reason is
    ``benchmark_overlap`` or ``cross_source_overlap``; the detail names the colliding item (``math500#17``).
    """
    index = NgramIndex(n)
    for name, questions in benchmarks.items():
        index.add_many(questions, f"benchmark:{name}")
    by_source: dict[str, list[dict]] = {}
    for rec in records:
        by_source.setdefault(rec[source_key], []).append(rec)
    kept: list[dict] = []
    drops: list[Drop] = []
    for source, recs in by_source.items():
        source_kept = []
        for rec in recs:
            grams = ngrams(rec["question"], n)
            owner = index.hit(rec["question"], grams)
            if owner is None:
                source_kept.append((rec, grams))
            else:
                kind = "benchmark_overlap" if owner.startswith("benchmark:") else "cross_source_overlap"
                drops.append(Drop(rec["row_id"], "decontaminate", kind, owner.split(":", 1)[1]))
        if cross_source:
            for rec, grams in source_kept:
                index.add(rec["question"], f"source:{source}#{rec['row_id']}", grams)
        kept.extend(rec for rec, _ in source_kept)
    order = {id(r): i for i, r in enumerate(records)}
    kept.sort(key=lambda r: order[id(r)])
    return kept, drops


def dedup_exact(records: list[dict], key: str = "question") -> tuple[list[dict], list[Drop]]:
    """Keep the first record of each exact question text; later copies are dropped naming the kept row."""
    seen: dict[str, str] = {}
    kept, drops = [], []
    for rec in records:
        first = seen.get(rec[key])
        if first is None:
            seen[rec[key]] = rec["row_id"]
            kept.append(rec)
        else:
            drops.append(Drop(rec["row_id"], "dedup", "exact_duplicate", first))
    return kept, drops
