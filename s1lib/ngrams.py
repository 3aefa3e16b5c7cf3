"""Word n-grams, the overlap rule shared by decontamination and the toy pool (which must pass it by construction).

As in the s1 reference, text is lower-cased and whitespace-normalised and split into words; two texts overlap when
they share one word n-gram. A text shorter than n words contributes its whole normalised text as one gram, so short
questions are still checked (the reference simply produced no n-gram for them). The index is a hash map from
n-gram to its first owner, so the cost is linear in the number of words, never pairwise.
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
