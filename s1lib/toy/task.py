"""The toy task: four families of instances, their questions and the running-state traces that solve them.

See ``s1lib.toy`` for why these families and shapes; this module draws instances and writes one trace each.
"""

from __future__ import annotations

import numpy as np

FAMILIES = ("sum", "count", "max", "parity")
DOMAIN = {"sum": "97", "count": "05", "max": "06", "parity": "94"}
LETTERS = "abcdeghiklmnoprstu"


LO, HI = 3, 7
"""Instance lengths (items) of the pool: 3-7 items, so one pass of a trace is about 15-60 tokens."""


def random_instance(rng: np.random.Generator, family: str, lo: int, hi: int) -> dict:
    """One instance of ``family`` with ``lo``-``hi`` items: ``{family, items, answer}`` (and ``target`` to count)."""
    n = int(rng.integers(lo, hi + 1))
    if family == "count":
        target = LETTERS[int(rng.integers(len(LETTERS)))]
        others = [c for c in LETTERS if c != target]
        k = int(rng.integers(1, max(2, n // 2) + 1))  # at most half the letters: long runs of one letter lose the count
        items = [target] * k + [others[int(i)] for i in rng.integers(len(others), size=n - k)]
        items = [items[int(i)] for i in rng.permutation(n)]
        return {"family": family, "items": items, "target": target, "answer": str(items.count(target))}
    if family == "max":  # two-digit numbers: the largest cannot be guessed the way 9 among single digits can
        items = [str(int(v)) for v in rng.integers(10, 100, size=n)]
        return {"family": family, "items": items, "answer": str(max(int(v) for v in items))}
    digits = [str(int(d)) for d in rng.integers(1, 10, size=n)]
    if family == "sum":
        return {"family": family, "items": digits, "answer": str(sum(int(d) for d in digits))}
    return {"family": family, "items": digits, "answer": "A" if sum(int(d) for d in digits) % 2 == 0 else "B"}


def question_of(inst: dict) -> str:
    """The question text of an instance (``parse_question`` reads it back)."""
    items = " ".join(inst["items"])
    if inst["family"] == "sum":
        return f"Add: {items}"
    if inst["family"] == "count":
        return f"Count {inst['target']} in: {items}"
    if inst["family"] == "max":
        return f"Largest of: {items}"
    return f"Sum parity, A=even B=odd: {items}"


def _steps(inst: dict, slip_at: int | None = None) -> tuple[list[str], str]:
    """The running-state lines of one pass, and its final value; ``slip_at`` adds an off-by-one error there.

    One short line per item (4-7 tokens: digits are single tokens), so a trace is dense in steps and its length
    grows linearly with the instance: ``3+8=11`` (sum, and parity, which reads the parity off the sum),
    ``- d = d? yes 1`` (count: the letter beside the target, both as the question's own tokens, so the comparison is
    between neighbours), ``83 max 83`` (max).
    """
    fam, items = inst["family"], inst["items"]
    lines: list[str] = []
    if fam == "sum":
        total = 0
        for i, d in enumerate(items):
            new = total + int(d) + (1 if i == slip_at else 0)
            lines.append(str(new) if i == 0 else f"{total}+{d}={new}")
            total = new
        return lines, str(total)
    if fam == "count":
        count = 0
        for i, c in enumerate(items):
            hit = c == inst["target"]
            count += hit + (1 if i == slip_at else 0)
            lines.append(f"- {c} = {inst['target']}? {'yes' if hit else 'no'} {count}")
        return lines, str(count)
    if fam == "max":
        best = 0
        for i, d in enumerate(items):
            best = max(best, int(d))
            if i == slip_at:
                best = best + 1 if best < 99 else best - 1
            lines.append(f"{d} max {best}")
        return lines, str(best)
    # parity: a sum is odd exactly when it has an odd number of odd terms, so count the odd digits (the count
    # skill; a running odd/even flip, or the parity of a running sum, is much harder for a small model)
    odd = 0
    for i, d in enumerate(items):
        is_odd = int(d) % 2 == 1
        odd += is_odd + (1 if i == slip_at else 0)
        lines.append(f"- {d} {'odd' if is_odd else 'even'} {odd}")
    return lines, "B" if odd % 2 else "A"


_RESULT = {
    "sum": "Answer: {v}.",
    "count": "Answer: {v}.",
    "max": "Answer: {v}.",
    "parity": "{s} odd digits: {p} sum. Answer: {v}.",  # the choice letter is read off the question's legend here
}
"""The line that states a pass's answer: an ``Answer:`` line, so the extraction rules read it in the thinking too
(:mod:`s1lib.eval.efficiency` finds where the answer is first there, and the hindsight bound with it)."""
RECHECK = "Wait, let me check."
"""Starts the re-check pass; its first token is the engine's default ignore string, so a forced Wait starts one."""


def _result(inst: dict, value: str, lines: list[str]) -> str:
    parity = {"A": "even", "B": "odd"}.get(value, value)
    odd_digits = lines[-1].rpartition(" ")[2] if lines else ""  # the parity family's count of odd digits
    return _RESULT[inst["family"]].format(v=value, p=parity, s=odd_digits)


def make_trace(
    inst: dict,
    wait: bool,
    slip: bool,
    caught: bool,
    rng: np.random.Generator,
    check_steps: int | None = None,
) -> tuple[str, str, bool]:
    """``(thinking, final answer, first pass wrong)``: a slip is repaired only when a "Wait" re-check follows.

    The re-check is a second whole pass, or with ``check_steps`` = k only the last k steps done again from the
    first pass's state before them: it finds a slip among those steps and repeats an earlier one (a check of the
    final computation, as reasoning models often do, at a fraction of a second pass's tokens).
    A slip in ``max`` can heal itself (a later larger digit); the third value says whether the first pass was wrong.
    """
    n = len(inst["items"])
    slip_at = int(rng.integers(n)) if slip else None
    lines, value = _steps(inst, slip_at)
    first_wrong = value != inst["answer"]
    text = [*lines, _result(inst, value, lines)]
    if wait or (slip and caught):
        if check_steps is None:
            check_lines, check_value = _steps(inst)
        else:
            kept = slip_at if slip_at is not None and slip_at < n - check_steps else None  # before the checked steps
            check_lines, check_value = _steps(inst, kept)
        shown = check_lines if check_steps is None else check_lines[-check_steps:]
        text += [RECHECK, *shown]
        if check_value != value:
            text.append(f"I made a slip before. {_result(inst, check_value, check_lines)}")
        else:
            text.append(f"Same. {_result(inst, check_value, check_lines)}")
        value = check_value
    return "\n".join(text), value, first_wrong


def attempt_text(inst: dict, value: str) -> str:
    """The attempt (the answer after thinking) as the graders read it."""
    return f"\\boxed{{{value}}}"


def answer_kind(inst: dict) -> str:
    """How the answer is graded: parity is a two-option choice, the other families integers."""
    return "choice" if inst["family"] == "parity" else "integer"
