"""The simulated attempt model of the toy demo: reads a toy question back and answers it when it is short enough."""

from __future__ import annotations

from collections.abc import Callable


def parse_question(question: str) -> dict | None:
    """Recover a toy instance from its question text (None if it is not a toy question)."""
    q = question.strip()
    for prefix in ("Quick one. ",):
        q = q.removeprefix(prefix)
    if ":" not in q:
        return None
    head, tail = q.split(":", 1)
    items = tail.split()
    try:
        if head == "Add":
            return {"family": "sum", "items": items, "answer": str(sum(int(x) for x in items))}
        if head == "Largest of":
            return {"family": "max", "items": items, "answer": str(max(int(x) for x in items))}
        if head == "Sum parity, A=even B=odd":
            return {"family": "parity", "items": items, "answer": "A" if sum(int(x) for x in items) % 2 == 0 else "B"}
        if head.startswith("Count ") and len(head.split()) == 3:
            target = head.split()[1]
            return {"family": "count", "items": items, "target": target, "answer": str(items.count(target))}
    except ValueError:
        return None
    return None


def toy_solver(max_items: int = 5) -> Callable[[list[str]], list[str]]:
    """A SIMULATED attempt model (not a language model): right iff the instance has ≤ ``max_items`` items.

    Deterministic; wrong answers are the right one shifted (or the other option), so they grade as wrong.
    """

    def attempt(questions: list[str]) -> list[str]:
        out = []
        for q in questions:
            inst = parse_question(q)
            if inst is None:
                out.append("I cannot solve this.")
                continue
            value = inst["answer"]
            if len(inst["items"]) > max_items:
                value = {"A": "B", "B": "A"}.get(value) or str(int(value) + 1)
            out.append(f"\\boxed{{{value}}}")
        return out

    return attempt


EXPLORE = "Perhaps the quickest way is to go item by item; it might be safer than guessing."
"""Opens some sampled chains: the exploratory words LIMO's chain score rewards."""
CONNECT = "Since every item was taken in turn, the result therefore stands."
"""Closes some sampled chains: connectives (adaptive granularity in LIMO's chain score)."""


def solve_probability(n_items: int, max_items: int) -> float:
    """The chance that a toy-sampler attempt is right: 1 up to ``max_items`` items, then halved per extra item."""
    return min(1.0, 0.5 ** (n_items - max_items))


def toy_sampler(max_items: int = 4, seed: int = 0) -> Callable[[list[str]], list[str]]:
    """A SIMULATED sampled attempt model (not a language model) whose pass rate falls with the instance's length.

    An attempt is right with :func:`solve_probability` and is a whole chain (running-state lines, sometimes an
    exploratory opening, a "Wait" re-check or a connective close) ending in ``\\boxed{}``, so pass-rate bands and
    LIMO's chain score have something to measure. Sample ``j`` of a question is the ``j``-th time it appears in one
    call: a question repeated N times in a call gets N independent samples, the same ones in every run (seeded by
    the question and ``j``).
    """
    import hashlib

    import numpy as np

    from s1lib.toy.task import make_trace

    def attempt(questions: list[str]) -> list[str]:
        seen: dict[str, int] = {}
        out = []
        for q in questions:
            j = seen[q] = seen.get(q, 0) + 1
            inst = parse_question(q)
            if inst is None:
                out.append("I cannot solve this.")
                continue
            digest = int.from_bytes(hashlib.sha256(q.encode()).digest()[:8], "little")
            rng = np.random.default_rng([seed, max_items, digest, j])
            right = rng.random() < solve_probability(len(inst["items"]), max_items)
            thinking, _, _ = make_trace(inst, bool(rng.random() < 0.5), not right, right, rng)
            value = (
                inst["answer"] if right else {"A": "B", "B": "A"}.get(inst["answer"]) or str(int(inst["answer"]) + 1)
            )
            lines = [EXPLORE] if rng.random() < 0.5 else []
            lines += [thinking, CONNECT] if rng.random() < 0.5 else [thinking]
            out.append("\n".join(lines) + f"\nThe answer is \\boxed{{{value}}}.")
        return out

    return attempt
