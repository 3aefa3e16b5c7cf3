"""A benchmark's unit: one :class:`Problem` (question, gold answer, and how the answer is graded), and each known
benchmark's row adapter, which turns one source row into a Problem or fails naming the row and the field."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from s1lib.named import Named


class AnswerKind(Named):
    """How a gold answer is compared: as an integer (AIME), symbolically (math-verify), or as a letter A-D."""

    INTEGER = "integer"
    MATH = "math"
    CHOICE = "choice"


KINDS = tuple(k.value for k in AnswerKind)
"""The :class:`AnswerKind` names, as a benchmark file or ``--kind`` spells them."""

CHOICE_LETTERS = "ABCD"


class BenchmarkFormatError(ValueError):
    """A benchmark file or row does not have the shape its loader expects."""


@dataclass(frozen=True)
class Problem:
    """One evaluation question with its gold answer.

    ``kind`` decides how answers are graded (see ``s1lib.eval.grading``); ``metadata`` keeps what the source row
    says beyond question and answer (subject, level, GPQA choices and their permutation, ...).
    """

    id: str
    question: str
    answer: str
    kind: AnswerKind
    benchmark: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", AnswerKind.checked(self.kind, f"Problem {self.id!r}: kind"))


def get_field(row: dict[str, Any], names: str | tuple[str, ...], where: str, expected: str) -> Any:
    """The first present, non-empty field among ``names``; a clear error naming place and field otherwise."""
    names = (names,) if isinstance(names, str) else names
    for name in names:
        value = row.get(name)
        if value is not None and not (isinstance(value, str) and not value.strip()):
            return value
    shown = " or ".join(repr(n) for n in names)
    present = sorted(row)
    raise BenchmarkFormatError(f"{where}: field {shown} is missing or empty (expected {expected}); row has {present}")


def text_of(value: Any, where: str, name: str) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value).strip()
    raise BenchmarkFormatError(f"{where}: field {name!r} must be text, got {type(value).__name__}")


# ---------------------------------------------------------------------------------------------------------------------
# Row adapters


def _strip_math(text: str) -> str:
    """Drop unescaped ``$`` math delimiters (OlympiadBench writes ``$69$,$84$``), keep escaped ``\\$``."""
    return re.sub(r"(?<!\\)\$", "", text).strip()


def aime_problem(row: dict[str, Any], where: str, index: int, seed: int = 0) -> Problem:
    question = text_of(get_field(row, ("problem", "question", "Problem"), where, "the problem text"), where, "problem")
    raw = text_of(get_field(row, ("answer", "Answer"), where, "an integer 0-999 such as '025'"), where, "answer")
    try:
        value = int(raw)
    except ValueError:
        raise BenchmarkFormatError(f"{where}: field 'answer' must be an integer 0-999, got {raw!r}") from None
    if not 0 <= value <= 999:
        raise BenchmarkFormatError(f"{where}: field 'answer' must be an integer 0-999, got {raw!r}")
    pid = str(row.get("id", row.get("ID", index)))
    meta = {k: row[k] for k in ("url", "year") if k in row}
    return Problem(pid, question, raw, "integer", "aime24", meta)


def aime25_problem(row: dict[str, Any], where: str, index: int, seed: int = 0) -> Problem:
    return dataclasses.replace(aime_problem(row, where, index, seed), benchmark="aime25")


def number_text(raw: str) -> str:
    """A numeric answer without a float's trailing ``.0`` (AMC23 writes ``27.0``); other text unchanged."""
    try:
        value = float(raw)
    except ValueError:
        return raw
    return str(int(value)) if value.is_integer() and "e" not in raw.lower() else raw


def amc23_problem(row: dict[str, Any], where: str, index: int, seed: int = 0) -> Problem:
    question = text_of(get_field(row, ("question", "problem"), where, "the problem text"), where, "question")
    answer = number_text(text_of(get_field(row, "answer", where, "a numeric answer such as '27.0'"), where, "answer"))
    meta = {k: row[k] for k in ("url",) if k in row}
    return Problem(str(row.get("id", index)), question, answer, "math", "amc23", meta)


def math500_problem(row: dict[str, Any], where: str, index: int, seed: int = 0) -> Problem:
    question = text_of(get_field(row, "problem", where, "the problem text"), where, "problem")
    answer = text_of(get_field(row, "answer", where, "a LaTeX answer"), where, "answer")
    pid = str(row.get("unique_id", index))
    meta = {k: row[k] for k in ("subject", "level", "unique_id") if k in row}
    return Problem(pid, question, answer, "math", "math500", meta)


def _listish(value: Any) -> list[Any]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):  # a list stored as text (csv export)
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError:
                import ast

                try:
                    parsed = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    parsed = None
            if isinstance(parsed, list):
                return parsed
        return [value]
    if hasattr(value, "tolist"):
        value = value.tolist()
    return list(value) if isinstance(value, (list, tuple)) else [value]


def olympiadbench_problem(row: dict[str, Any], where: str, index: int, seed: int = 0) -> Problem:
    question = text_of(get_field(row, "question", where, "the question text"), where, "question")
    context = row.get("context")
    if isinstance(context, str) and context.strip() and context.strip() != "None":
        question = f"{context.strip()}\n\n{question}"
    answers = [
        _strip_math(text_of(a, where, "final_answer"))
        for a in _listish(get_field(row, "final_answer", where, "a list"))
    ]
    answers = [a for a in answers if a]
    if not answers:
        raise BenchmarkFormatError(f"{where}: field 'final_answer' holds no answer")
    unit = row.get("unit")
    meta = {
        "subfield": row.get("subfield"),
        "answer_type": row.get("answer_type"),
        "is_multiple_answer": row.get("is_multiple_answer"),
        "unit": unit if unit not in (None, "None", "") else None,
        "final_answers": answers,
    }
    return Problem(str(row.get("id", index)), question, ", ".join(answers), "math", "olympiadbench", meta)


GPQA_FIELDS = ("Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")


def gpqa_permutation(record_id: str, seed: int = 0) -> list[int]:
    """The fixed display order of one question's options, from the seed and the record id alone.

    ``perm[i]`` is the index into ``[correct, incorrect 1, incorrect 2, incorrect 3]`` shown as letter ``i``.
    Hashing (not Python's salted ``hash``) makes it identical across runs, machines, row order and ``limit``.
    """
    digest = hashlib.sha256(f"s1lib-gpqa:{seed}:{record_id}".encode()).digest()
    perm = [0, 1, 2, 3]
    random.Random(int.from_bytes(digest[:8], "big")).shuffle(perm)
    return perm


def gpqa_prompt(question: str, choices: list[str]) -> str:
    """The question followed by its options as ``A) ...`` lines."""
    options = "\n".join(f"{letter}) {text}" for letter, text in zip(CHOICE_LETTERS, choices))
    return f"{question}\n\n{options}"


def gpqa_problem(row: dict[str, Any], where: str, index: int, seed: int = 0) -> Problem:
    values = [text_of(get_field(row, name, where, "text"), where, name) for name in GPQA_FIELDS]
    question, originals = values[0], values[1:]
    record_id = str(row.get("Record ID") or row.get("id") or index)
    perm = gpqa_permutation(record_id, seed)
    choices = [originals[i] for i in perm]
    gold = CHOICE_LETTERS[perm.index(0)]
    meta = {
        "choices": choices,
        "permutation": perm,
        "correct_answer": originals[0],
        "record_id": record_id,
        "subdomain": row.get("Subdomain"),
        "domain": row.get("High-level domain"),
        "seed": seed,
    }
    return Problem(record_id, gpqa_prompt(question, choices), gold, "choice", "gpqa_diamond", meta)


def toy_problem(row: dict[str, Any], where: str, index: int, seed: int = 0) -> Problem:
    """A row of ``toy_benchmark.jsonl`` (``s1lib.toy``): each row carries its own grading kind."""
    kind = text_of(get_field(row, "kind", where, "'integer' or 'choice'"), where, "kind")
    metadata = {k: row[k] for k in ("family", "n_items") if k in row}
    return Problem(
        str(row.get("id", f"toy-{index}")),
        text_of(get_field(row, "question", where, "the question text"), where, "question"),
        text_of(get_field(row, "answer", where, "the gold answer"), where, "answer"),
        kind, "toy", metadata,
    )  # fmt: skip


ADAPTERS: dict[str, Callable[[dict[str, Any], str, int, int], Problem]] = {
    "toy": toy_problem,
    "aime24": aime_problem,
    "aime25": aime25_problem,
    "amc23": amc23_problem,
    "math500": math500_problem,
    "gpqa_diamond": gpqa_problem,
    "olympiadbench": olympiadbench_problem,
}
