"""Decontamination and dedup: word 8-grams against benchmarks and earlier sources, then exact dedup on question.

As in the reference, text is lower-cased and whitespace-normalised, split into words, and any training question
sharing one word n-gram with a test question is dropped; each processed source then joins the test list, so later
sources are near-deduplicated against earlier ones (rows of one source are not compared with each other here).
A text shorter than n words contributes its whole normalised text as one gram, so short questions are still checked
(the reference simply produced no n-gram for them). The index is a hash map from n-gram to its first owner, so the
cost is linear in the number of words, never pairwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


def normalize(text: str) -> str:
    """Lower-case and collapse all whitespace to single spaces."""
    return " ".join(text.lower().split())


def ngrams(text: str, n: int = 8) -> set[int]:
    """Hashes of the word n-grams of ``text`` (after :func:`normalize`); the whole text if it has fewer words.

    An n-gram is hashed as the tuple of its words (built by ``zip`` over shifted word lists, all in C), which is
    the same equality as joining the words with single spaces, without building the strings.
    """
    words = text.lower().split()
    if not words:
        return set()
    if len(words) < n:
        return {hash(" ".join(words))}
    return set(map(hash, zip(*(words[k:] for k in range(n)))))


@dataclass
class NgramIndex:
    """n-gram hash → the first text that contributed it, as an index into ``labels`` (e.g. ``benchmark:math500#12``).

    A text sharing grams with several owners is charged to the earliest added (benchmarks before sources, in
    config order), so the funnel's reasons and details are the same in every run, whatever the set order.
    """

    n: int = 8
    owners: dict[int, int] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)

    def add(self, text: str, label: str, grams: set[int] | None = None) -> None:
        owner = len(self.labels)
        self.labels.append(label)
        setdefault = self.owners.setdefault
        for g in ngrams(text, self.n) if grams is None else grams:
            setdefault(g, owner)

    def add_many(self, texts: Iterable[str], label: str) -> None:
        for i, text in enumerate(texts):
            self.add(text, f"{label}#{i}")

    def hit(self, text: str, grams: set[int] | None = None) -> str | None:
        """The label of the earliest-added text sharing an n-gram, or None (``grams``: the text's n-grams, if
        already computed)."""
        owners = self.owners
        if grams is None:
            grams = ngrams(text, self.n)
        if owners.keys().isdisjoint(grams):  # the common case, checked in C
            return None
        return self.labels[min(owners[g] for g in grams if g in owners)]

    def __len__(self) -> int:
        return len(self.owners)


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
