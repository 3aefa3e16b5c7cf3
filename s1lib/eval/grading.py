"""Answer extraction and deterministic grading.

Extraction follows the reference: the text after the last end-of-thinking delimiter, then the last ``\\boxed{}``
(or ``\\fbox{}``), else the last ``Answer:``. Grading replaces the reference's gpt-4o-mini judge (**fix**) with
rules per kind: integers compare as integers (AIME "025" = 25), letters as letters (GPQA), everything else through
math-verify with the gold answer first (``verify`` is asymmetric).

math-verify's own timeouts use ``signal.alarm``, which only works on the main thread (not in marimo, widgets or
worker threads). So we call it with its timeouts off, inside a separate worker process that we can kill: a hanging
comparison costs at most ``timeout`` seconds, is logged, and counts as wrong, on any thread.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from s1lib.answers import _answer_section, extract_answer, last_boxed
from s1lib.eval.benchmarks import CHOICE_LETTERS, AnswerKind, Problem
from s1lib.text_format import Delimiters

logger = logging.getLogger(__name__)


STATUSES = ("correct", "wrong", "unparsed", "timeout")


@dataclass
class GradingConfig:
    """Settings of symbolic grading."""

    timeout: float | None = field(
        default=5.0,
        metadata={
            "help": "Seconds one math-verify comparison may take (in a worker process); None = in-process, unbounded."
        },
    )
    startup_timeout: float = field(
        default=120.0, metadata={"help": "Seconds the math-verify worker may take to start (imports sympy)."}
    )
    float_rounding: int = field(default=6, metadata={"help": "math-verify: decimal places numbers are rounded to."})
    strict: bool = field(default=True, metadata={"help": "math-verify strict mode (variables must match)."})


# ---------------------------------------------------------------------------------------------------------------------
# Integers and letters

_LATEX_WRAPPERS = re.compile(r"\\(?:text|textbf|mathrm|mathbf|textit|mbox)\s*\{([^{}]*)\}")


def _strip_latex(text: str) -> str:
    text = text.strip()
    inner = last_boxed(text)
    if inner is not None:
        text = inner
    for _ in range(3):
        text = _LATEX_WRAPPERS.sub(r"\1", text)
    text = text.replace("\\!", "").replace("\\,", "").replace("\\ ", " ").replace("$", "")
    text = re.sub(r"\^\s*\{?\\circ\}?", "", text)
    return text.strip().rstrip(".").strip()


def parse_integer(text: str) -> int | None:
    """An integer written plainly ("025", "1,000", "25.0", "\\boxed{25}", "25^\\circ"), else None."""
    text = _strip_latex(text).replace(",", "").replace(" ", "")
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if re.fullmatch(r"[+-]?\d+\.0*", text):
        return int(float(text))
    return None


_CHOICE_PATTERNS = (
    re.compile(r"^\W*([A-Da-d])\W*$"),
    re.compile(r"^\s*[\(\[]?([A-D])[\)\]\.:]"),
    re.compile(r"(?i:answer)\s*(?:is|:)?\s*(?i:option|choice)?\s*[\(\[]?\s*([A-D])\b(?![\w'])"),
    re.compile(r"\(([A-D])\)"),
)


def parse_choice(text: str | None) -> str | None:
    """The letter A-D a prediction names: "B", "(B)", "\\text{B}", "B) 4.2 eV", "The answer is B"; else None."""
    if not text:
        return None
    text = _strip_latex(text)
    for pattern in _CHOICE_PATTERNS:
        matches = pattern.findall(text)
        if matches:
            return matches[-1].upper()
    return None


# ---------------------------------------------------------------------------------------------------------------------
# math-verify in a killable worker process


class _NoTimeoutWarning(logging.Filter):
    """Drop math-verify's "Timeout is disabled" warning: we disable its alarm on purpose and bound time ourselves."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Timeout is disabled")


for _name in ("math_verify.grader", "math_verify.parser"):
    logging.getLogger(_name).addFilter(_NoTimeoutWarning())


def _verify_inline(gold: str, prediction: str, float_rounding: int = 6, strict: bool = True) -> bool:
    """math-verify with its signal-based timeouts off; both sides are wrapped in ``\\boxed{}`` to parse as LaTeX."""
    from math_verify import parse, verify

    gold_parsed = parse(f"\\boxed{{{gold}}}", parsing_timeout=None)
    pred_parsed = parse(f"\\boxed{{{prediction}}}", parsing_timeout=None)
    if not gold_parsed or not pred_parsed:
        return False
    return bool(verify(gold_parsed, pred_parsed, float_rounding=float_rounding, strict=strict, timeout_seconds=None))


def _worker_main() -> None:
    """Serve ``{"gold", "pred", ...}`` JSON lines on stdin with ``{"ok", "result"|"error"}`` lines on stdout."""
    out = sys.stdout
    sys.stdout = sys.stderr  # anything printed by libraries must not corrupt the protocol
    logging.disable(logging.WARNING)
    import math_verify  # noqa: F401  (import before "ready" so start-up cost is not charged to a comparison)

    out.write('{"ready": true}\n')
    out.flush()
    for line in sys.stdin:
        try:
            req = json.loads(line)
            result = _verify_inline(req["gold"], req["pred"], req.get("float_rounding", 6), req.get("strict", True))
            reply = {"ok": True, "result": result}
        except Exception as exc:  # reported to the caller, who logs it and counts the answer as wrong
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


WORKER_COMMAND = [sys.executable, "-c", "from s1lib.eval.grading import _worker_main; _worker_main()"]


class VerifyTimeout(Exception):
    """A math-verify comparison exceeded its time bound; the worker was killed."""


class MathVerifier:
    """math-verify behind a time bound that works from any thread.

    One worker process (``python -c`` on this module, so no multiprocessing start-method caveats) serves
    comparisons one at a time; on timeout it is killed and restarted on the next call. Thread-safe.
    """

    def __init__(self, config: GradingConfig | None = None, command: list[str] | None = None) -> None:
        self.config = config or GradingConfig()
        self.command = list(command or WORKER_COMMAND)
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str] = queue.Queue()
        self.timeouts = 0
        self.errors = 0

    def _start(self) -> None:
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        proc = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            env=env,
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True, name="math-verify-reader").start()
        self._proc, self._lines = proc, lines
        ready = self._read(self.config.startup_timeout)
        try:
            ok = bool(ready) and bool(json.loads(ready or "{}").get("ready"))
        except (json.JSONDecodeError, AttributeError):
            ok = False
        if not ok:
            self._kill()
            raise RuntimeError(
                f"math-verify worker did not start within {self.config.startup_timeout} s: {self.command}"
            )

    def _read(self, timeout: float) -> str | None:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    def close(self) -> None:
        """Stop the worker (it is restarted on demand)."""
        with self._lock:
            self._kill()

    def verify(self, gold: str, prediction: str) -> bool:
        """True if ``prediction`` equals ``gold``; raises VerifyTimeout when the bound is exceeded."""
        if self.config.timeout is None:
            return _verify_inline(gold, prediction, self.config.float_rounding, self.config.strict)
        request = {"gold": gold, "pred": prediction, "float_rounding": self.config.float_rounding}
        request["strict"] = self.config.strict
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            assert self._proc is not None and self._proc.stdin is not None
            try:
                self._proc.stdin.write(json.dumps(request) + "\n")
                self._proc.stdin.flush()
            except (BrokenPipeError, OSError):
                self._kill()
                self.errors += 1
                logger.warning("math-verify worker died; gold=%r pred=%r counted as wrong", gold, prediction)
                return False
            started = time.monotonic()
            line = self._read(self.config.timeout)
            if line == "":  # end of output: the worker died (e.g. out of memory)
                self._kill()
                self.errors += 1
                logger.warning("math-verify worker exited; gold=%r pred=%r counted as wrong", gold, prediction)
                return False
            if line is None:
                self._kill()
                self.timeouts += 1
                logger.warning(
                    "math-verify timed out after %.1f s on gold=%r pred=%r; counted as wrong",
                    time.monotonic() - started,
                    gold,
                    prediction,
                )
                raise VerifyTimeout(f"math-verify exceeded {self.config.timeout} s")
        reply = json.loads(line)
        if not reply.get("ok"):
            self.errors += 1
            logger.warning("math-verify failed on gold=%r pred=%r: %s", gold, prediction, reply.get("error"))
            return False
        return bool(reply["result"])


def _pump(stream: IO[str] | None, lines: queue.Queue[str]) -> None:
    if stream is None:
        return
    for line in stream:
        lines.put(line)
    lines.put("")  # end-of-output marker (a real reply line is never empty)


_default_verifier: MathVerifier | None = None
_default_lock = threading.Lock()


def default_verifier() -> MathVerifier:
    """The shared verifier (one worker per Python process), stopped at exit."""
    global _default_verifier
    with _default_lock:
        if _default_verifier is None:
            _default_verifier = MathVerifier()
            atexit.register(_default_verifier.close)
        return _default_verifier


# ---------------------------------------------------------------------------------------------------------------------
# Comparison and grading


def _normalise(text: str) -> str:
    return re.sub(r"\s+", "", text).replace("\\left", "").replace("\\right", "").rstrip(".")


def compare(gold: str, prediction: str | None, kind: str, verifier: MathVerifier | None = None) -> str:
    """``"correct"``, ``"wrong"``, ``"unparsed"`` (no usable prediction) or ``"timeout"`` (math-verify hung)."""
    kind = AnswerKind.checked(kind, "compare: kind")
    if prediction is None or not str(prediction).strip():
        return "unparsed"
    prediction = str(prediction)
    if kind == "choice":
        gold_letter = parse_choice(gold)
        if gold_letter is None or gold_letter not in CHOICE_LETTERS:
            raise ValueError(f"compare: choice gold must be a letter A-D, got {gold!r}")
        letter = parse_choice(prediction)
        if letter is None:
            return "unparsed"
        return "correct" if letter == gold_letter else "wrong"
    if kind == "integer":
        gold_int = parse_integer(gold)
        if gold_int is None:
            raise ValueError(f"compare: integer gold must be an integer, got {gold!r}")
        pred_int = parse_integer(prediction)
        if pred_int is not None:
            return "correct" if pred_int == gold_int else "wrong"
        # Not a plain integer ("\frac{50}{2}", "5^2"): let math-verify decide against the canonical gold.
        gold = str(gold_int)
    if _normalise(gold) == _normalise(prediction):
        return "correct"
    try:
        ok = (verifier or default_verifier()).verify(gold, prediction)
    except VerifyTimeout:
        return "timeout"
    return "correct" if ok else "wrong"


def is_equivalent(gold: str, prediction: str | None, kind: str, verifier: MathVerifier | None = None) -> bool:
    """True if ``prediction`` (an extracted answer) matches ``gold`` for this kind; timeouts count as False."""
    return compare(gold, prediction, kind, verifier) == "correct"


@dataclass(frozen=True)
class Grade:
    """The verdict on one completion."""

    problem_id: str
    extracted: str | None
    correct: bool
    status: str
    judged_by: str = "rules"

    def to_dict(self) -> dict[str, Any]:
        return {
            "problem_id": self.problem_id,
            "extracted": self.extracted,
            "correct": self.correct,
            "status": self.status,
            "judged_by": self.judged_by,
        }


def grade(
    problem: Problem,
    completion: str,
    delimiters: str | Delimiters | None = None,
    verifier: MathVerifier | None = None,
    judge: Any = None,
) -> Grade:
    """Extract the answer of ``completion`` and grade it against ``problem``.

    For choice questions without a boxed/``Answer:`` line, a phrase like "the answer is (B)" in the answer
    section also counts. ``judge`` (an ``s1lib.eval.judge.LLMJudge``, off by default) is asked only when the
    rules say wrong or timeout on a math answer, as the reference's gpt-4o-mini check did.
    """
    extracted = extract_answer(completion, delimiters)
    if extracted is None and problem.kind == "choice":
        extracted = parse_choice(_answer_section(completion, delimiters))
    status = compare(problem.answer, extracted, problem.kind, verifier)
    if judge is not None and problem.kind == "math" and status in ("wrong", "timeout") and extracted is not None:
        verdict = judge.equivalent(problem.answer, extracted)
        if verdict is not None:
            return Grade(problem.id, extracted, verdict, "correct" if verdict else "wrong", judged_by="llm")
    return Grade(problem.id, extracted, status == "correct", status)
