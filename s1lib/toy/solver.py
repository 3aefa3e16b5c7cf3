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
