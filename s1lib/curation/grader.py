"""The one grading path of curation: symbolic where the answer is closed, the LLM judge where configured.

Both the traces' own attempts (:func:`grade_traces`) and the difficulty attempts go through one :class:`Grader`. It
uses ``s1lib.eval.grading`` where the answer is closed (deterministic; the gold answer is the record's ``answer`` or
the last boxed answer of its solution). Optionally an LLM judge (``s1lib.eval.judge``: the reference's grader
prompt, "Yes"/"No" on the last line, over an OpenAI-compatible endpoint) grades the attempts the symbolic grader
cannot decide (``judge_for="open"``: no closed gold answer, an unparsable gold, a math-verify timeout) or every
attempt (``"all"``, as the reference did). An attempt that cannot be graded (no gold answer and no judge, a judge
error, an unparseable verdict, the judge budget spent) is ungradable (None), never solved, with the reason kept.
Judge verdicts are kept in the run's :class:`~s1lib.curation.answer_cache.AnswerCache`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from s1lib.curation.answer_cache import AnswerCache, cache_key


def gold_of(rec: dict) -> tuple[str | None, str]:
    """The gold answer and its kind (integer/math/choice): the record's ``answer``, else the solution's box."""
    from s1lib.eval.grading import extract_answer

    gold = rec.get("answer")
    if gold is None and rec.get("solution"):
        gold = extract_answer(rec["solution"])
    if gold is None:
        return None, "math"
    kind = rec.get("answer_kind") or ("integer" if str(gold).strip().lstrip("-").isdigit() else "math")
    return str(gold), kind


def symbolic_status(rec: dict, text: str | None) -> str:
    """The deterministic grader's verdict on ``text``: ``correct``, ``wrong``, ``unparsed`` (no answer found),
    ``timeout`` (math-verify hung), ``empty`` (no attempt), ``open`` (no closed gold answer) or ``bad_gold``
    (a gold answer its kind cannot parse)."""
    from s1lib.eval.grading import compare, extract_answer, parse_choice

    gold, kind = gold_of(rec)
    if gold is None:
        return "open"
    if not text:
        return "empty"
    pred = extract_answer(text)
    if pred is None and kind == "choice":
        pred = parse_choice(text)
    try:
        return compare(gold, pred, kind)
    except ValueError:
        return "bad_gold"


UNDECIDED = ("open", "bad_gold", "timeout")
"""Symbolic statuses the judge grades under ``judge_for="open"``."""


def grade_text(rec: dict, text: str | None) -> bool | None:
    """True/False if ``text``'s extracted answer matches the record's gold answer; None without a gold answer
    (or with one its kind cannot parse: ungradable, never solved). Symbolic only; a timeout counts as wrong."""
    status = symbolic_status(rec, text)
    if status in ("open", "bad_gold"):
        return None
    return status == "correct"


JUDGE_FOR = ("open", "all")


class Grader:
    """The one grading path of curation: symbolic where the answer is closed, the LLM judge per ``judge_for``.

    ``judge`` is anything with ``grade_attempt(question, solution, attempt) -> JudgeVerdict`` (e.g.
    ``s1lib.eval.judge.LLMJudge``); None grades symbolically only. ``max_calls`` bounds the judge requests of this
    grader (None: no cap; each attempt is asked at most once per run, and not again while ``cache`` holds its
    verdict). ``concurrency`` judge requests are in flight at once in :meth:`grade_many`. The judge's reference is
    the record's solution (else its answer). Judge failures never raise: the
    attempt is ungradable (None) and the reason is returned, counted and kept (the first ``keep_errors``).
    ``stats[stage]`` counts ``symbolic``, ``judged``, ``judge_calls``, ``judge_cached``, ``judge_errors`` and
    ``ungradable``.
    """

    def __init__(
        self,
        judge: Any = None,
        judge_for: str = "open",
        max_calls: int | None = None,
        cache: AnswerCache | None = None,
        keep_errors: int = 50,
        concurrency: int = 8,
    ) -> None:
        if judge_for not in JUDGE_FOR:
            raise ValueError(f"judge_for must be one of {JUDGE_FOR}, got {judge_for!r}")
        self.judge = judge
        self.judge_for = judge_for
        self.max_calls = max_calls
        self.cache = cache
        self.keep_errors = keep_errors
        self.concurrency = concurrency
        self.calls = 0
        self.stats: dict[str, Counter] = {}
        self.errors: list[dict] = []

    @property
    def signature(self) -> str:
        """Names how verdicts are made; a cached grade made another way is graded again."""
        if self.judge is None:
            return "symbolic"
        model = getattr(getattr(self.judge, "config", None), "model", None) or type(self.judge).__name__
        return f"judge:{model}|{self.judge_for}"

    def _count(self, stage: str, key: str) -> None:
        self.stats.setdefault(stage, Counter())[key] += 1

    def _fail(self, stage: str, what: str, reason: str, rec: dict) -> tuple[None, dict]:
        self._count(stage, "judge_errors")
        self._count(stage, "ungradable")
        if len(self.errors) < self.keep_errors:
            self.errors.append({"stage": stage, "row_id": rec.get("row_id"), "what": what, "reason": reason})
        return None, {"graded_by": "judge", "error": reason}

    def needs_judge(self, status: str) -> bool:
        """Whether an attempt with this symbolic status goes to the judge (an empty attempt never does)."""
        if self.judge is None or status == "empty":
            return False
        return self.judge_for == "all" or status in UNDECIDED

    def grade(self, rec: dict, text: str | None, stage: str = "difficulty", what: str = "") -> tuple[bool | None, dict]:
        """``(correct, info)``; ``info`` has ``graded_by`` (symbolic/judge) and, when ungradable, ``error``."""
        return self.grade_many([(rec, text, what)], stage)[0]

    def grade_many(
        self, items: Sequence[tuple[dict, str | None, str]], stage: str = "difficulty"
    ) -> list[tuple[bool | None, dict]]:
        """:meth:`grade` for ``(record, text, what)`` items, with up to ``concurrency`` judge requests in flight.

        The judge budget is spent in item order and new verdicts are cached in item order, so the outcome does not
        depend on which reply arrives first; an attempt repeated within ``items`` is asked once.
        """
        results: list[tuple[bool | None, dict] | None] = [None] * len(items)
        asks: list[tuple[int, dict, str, str, str, str]] = []  # (item, record, solution, text, key, what)
        asked: dict[str, int] = {}  # key -> position in asks
        repeats: list[tuple[int, int]] = []  # (item, position in asks)
        for i, (rec, text, what) in enumerate(items):
            status = symbolic_status(rec, text)
            if not self.needs_judge(status):
                self._count(stage, "symbolic")
                if status in ("open", "bad_gold"):
                    self._count(stage, "ungradable")
                    reason = "no closed gold answer" if status == "open" else "gold answer does not parse"
                    results[i] = (None, {"graded_by": "symbolic", "error": reason})
                else:
                    results[i] = (status == "correct", {"graded_by": "symbolic"})
                continue
            solution = rec.get("solution") or (f"The answer is {rec['answer']}." if rec.get("answer") else None)
            if not solution:
                self._count(stage, "ungradable")
                results[i] = (None, {"graded_by": "judge", "error": "no reference solution to judge against"})
                continue
            key = cache_key(self.signature, f"{rec['question']}\0{solution}\0{text}")
            hit = self.cache.entries.get(key) if self.cache is not None else None
            if hit is not None and hit.get("correct") is not None:
                self._count(stage, "judge_cached")
                self._count(stage, "judged")
                results[i] = (bool(hit["correct"]), {"graded_by": "judge"})
                continue
            if key in asked:
                repeats.append((i, asked[key]))
                continue
            if self.max_calls is not None and self.calls >= self.max_calls:
                results[i] = self._fail(stage, what, f"judge_budget: judge_max_calls={self.max_calls} spent", rec)
                continue
            self.calls += 1
            self._count(stage, "judge_calls")
            asked[key] = len(asks)
            asks.append((i, rec, solution, text or "", key, what))

        def ask(job: tuple[int, dict, str, str, str, str]) -> Any:
            _, rec, solution, text, _, _ = job
            try:
                return self.judge.grade_attempt(rec["question"], solution, text)
            except (RuntimeError, OSError, ValueError) as exc:  # JudgeError is a RuntimeError; sockets raise OSError
                return exc

        from s1lib.curation.parallel import thread_map

        replies = thread_map(ask, asks, self.concurrency)
        new_verdicts = []
        for (i, rec, _, _, key, what), reply in zip(asks, replies):
            if isinstance(reply, Exception):
                results[i] = self._fail(stage, what, f"judge_error: {reply}"[:500], rec)
            elif reply.correct is None:
                last = (reply.reason or "").strip().splitlines()[-1:] or [""]
                results[i] = self._fail(
                    stage, what, f"judge_unparseable: last line {last[0][:200]!r} is not Yes/No", rec
                )
            else:
                self._count(stage, "judged")
                results[i] = (reply.correct, {"graded_by": "judge"})
                new_verdicts.append(
                    {"key": key, "model": self.signature, "correct": reply.correct, "reply": reply.reason[-2000:]}
                )
        for i, position in repeats:
            results[i] = results[asks[position][0]]
            if results[i][0] is None:
                self._count(stage, "ungradable")
            else:
                self._count(stage, "judge_cached")
                self._count(stage, "judged")
        if new_verdicts and self.cache is not None:
            self.cache.put_many(new_verdicts)
        return results  # type: ignore[return-value]

    def summary(self) -> dict[str, Any]:
        """JSON-ready stats: the grader, judge requests, per-stage counts and the first errors."""
        return {
            "grader": self.signature,
            "judge_calls": self.calls,
            "judge_max_calls": self.max_calls,
            "stages": {stage: dict(c) for stage, c in self.stats.items()},
            "errors": list(self.errors),
        }


def grade_traces(records: list[dict], grader: Grader | None = None, chunk_size: int = 256) -> int:
    """Fill ``trace_grade`` (was the trace's attempt correct?) where missing and gradable; returns how many.

    Ungradable attempts keep ``trace_grade=None`` (``no_grade`` at the missing stage) and get ``trace_grade_error``.
    """
    grader = grader or Grader()
    todo = [rec for rec in records if rec.get("trace_grade") is None and rec.get("attempt")]
    n = 0
    for start in range(0, len(todo), chunk_size):  # verdicts reach the cache chunk by chunk, for resume
        chunk = todo[start : start + chunk_size]
        for rec, (correct, info) in zip(chunk, grader.grade_many([(r, r["attempt"], "trace") for r in chunk], "trace")):
            rec["trace_grade"] = correct
            rec["trace_graded_by"] = info["graded_by"]
            if "error" in info:
                rec["trace_grade_error"] = info["error"]
            n += correct is not None
    return n
