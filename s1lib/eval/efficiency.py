"""Overthinking and efficiency figures of a setting, from the samples' text (no extra decoding), as EvalScope
reports them.

- **Overlong rate**: the share of samples whose thinking the cap cut (``thinking_end_reason == "cap"``) and the
  share whose thinking never closed (no end of thinking: the sequence ran out first).
- **First correct answer in the thinking**: the thinking text (before the delimiter that ended it) is read with
  the extraction rules (:func:`s1lib.answers.answer_candidates`: each closed ``\\boxed{}``, each ``Answer:`` line)
  in order; the first candidate that grades correct marks the point. Its position is the share of the thinking's
  characters up to the end of that answer (0: at once, 1: at the very end), and the thinking tokens before and
  after it are that share of the sample's thinking tokens (an estimate in tokens, exact in characters).
  ``tokens_after`` is the thinking spent after the answer was already there: the overthinking.
- **Settled answer in the thinking**: the earliest candidate from which every later candidate in the thinking is
  the sample's final (graded) answer, right or wrong. The thinking after it could have been cut without changing
  one answer: what a perfect stop rule saves at equal accuracy (the hindsight bound of
  :mod:`s1lib.eval.adaptive_summary`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from s1lib.answers import answer_candidates
from s1lib.text_format import split_completion

MAX_CANDIDATES = 64
"""Candidates graded per thinking text at most (math-verify is bounded in time; a long chain may box often)."""


def first_correct_position(completion: str, gold: str, kind: str, delimiters: Any, compare: Any) -> float | None:
    """Where the first correct answer ends in the thinking of ``completion``, as a share of the thinking's
    characters; None when the thinking holds no correct answer. ``compare(gold, answer, kind)`` grades one."""
    thinking = split_completion(completion, delimiters or "s1").thinking
    if not thinking:
        return None
    for end, answer in answer_candidates(thinking)[:MAX_CANDIDATES]:
        if compare(gold, answer, kind) == "correct":
            return min(1.0, end / len(thinking))
    return None


def settled_position(completion: str, final: str | None, kind: str, delimiters: Any, compare: Any) -> float | None:
    """Where the thinking of ``completion`` first states its ``final`` answer for good (every later candidate is
    the same answer), as a share of the thinking's characters; None without a final answer or when the thinking's
    last candidate is another answer. ``compare(final, answer, kind)`` says whether two answers are the same."""
    thinking = split_completion(completion, delimiters or "s1").thinking
    if not thinking or final is None:
        return None
    settled = None
    for end, answer in answer_candidates(thinking)[:MAX_CANDIDATES]:
        if compare(final, answer, kind) == "correct":
            settled = end if settled is None else settled
        else:
            settled = None
    return None if settled is None else min(1.0, settled / len(thinking))


def _after(records: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """Thinking tokens before and after the position ``key`` of every record that has one."""
    located = [r for r in records if r.get(key) is not None]
    before = [float(r[key]) * float(r.get("thinking_tokens") or 0) for r in located]
    return before, [float(r.get("thinking_tokens") or 0) - b for r, b in zip(located, before)]


def efficiency(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The setting's overlong rates and where its first correct answers sit (see the module docstring)."""
    n = len(records)
    located = [r for r in records if r.get("first_correct_position") is not None]
    before, after = _after(records, "first_correct_position")
    measured = any("first_correct_position" in r for r in records)  # samples stored before this have none
    _, settled_after = _after(records, "settled_position")
    settled_measured = any("settled_position" in r for r in records)
    out: dict[str, Any] = {
        "cut_by_cap_rate": sum(r.get("thinking_end_reason") == "cap" for r in records) / n if n else None,
        "never_closed_rate": sum(r.get("thinking_end_reason") is None for r in records) / n if n else None,
        "first_correct_in_thinking_rate": len(located) / n if n and measured else None,
        "first_correct_position": None,
        "tokens_before_first_correct": None,
        "tokens_after_first_correct": None,
        "answer_settled_in_thinking_rate": len(settled_after) / n if n and settled_measured else None,
        "tokens_after_settled_answer": sum(settled_after) / len(settled_after) if settled_after else None,
    }
    if located:
        out["first_correct_position"] = sum(float(r["first_correct_position"]) for r in located) / len(located)
        out["tokens_before_first_correct"] = sum(before) / len(located)
        out["tokens_after_first_correct"] = sum(after) / len(located)
    return out
