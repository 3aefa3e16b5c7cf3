"""The common record schema every source is mapped to: the s1 columns (``question, solution, cot_type,
source_type, metadata, thinking_trajectories, attempt``) plus what later stages read, built from one row through
:class:`Row`, which turns a missing or mistyped field into a :class:`SchemaError` naming the file, the location and
the field."""

from __future__ import annotations

import json
from typing import Any

COMMON_COLUMNS = ("question", "solution", "cot_type", "source_type", "metadata", "thinking_trajectories", "attempt")
COT_TYPES = ("math", "science", "health science", "coding", "english", "crossword")


class SchemaError(ValueError):
    """A row that does not fit the expected layout; the message names file, location and field."""

    def __init__(self, file: str, location: str, field_name: str, expected: str):
        self.file, self.location, self.field, self.expected = file, location, field_name, expected
        super().__init__(f"{file}, {location}: field {field_name!r}: {expected}")


class Row:
    """Accessor that turns a missing or mistyped field into a SchemaError with file and location."""

    def __init__(self, row: dict, file: str, location: str):
        self.row, self.file, self.location = row, file, location

    def fail(self, name: str, expected: str) -> SchemaError:
        return SchemaError(self.file, self.location, name, expected)

    def text(self, *names: str, required: bool = True) -> str | None:
        for name in names:
            if name in self.row:
                value = self.row[name]
                if value is None:
                    if required:
                        raise self.fail(name, "a non-empty string, got null")
                    return None
                if not isinstance(value, str):
                    raise self.fail(name, f"a string, got {type(value).__name__}")
                if required and not value.strip():
                    raise self.fail(name, "a non-empty string, got an empty one")
                return value
        if required:
            raise self.fail(
                names[0],
                "present (missing from the row" + (f"; also tried {list(names[1:])}" if names[1:] else "") + ")",
            )
        return None


def metadata_text(row: dict, leave_out: tuple[str, ...] = ()) -> str:
    if leave_out:
        row = {k: v for k, v in row.items() if k not in leave_out}
    return json.dumps(row, ensure_ascii=False, default=str)


def single_text_columns(row: dict, names: tuple[str, ...]) -> tuple[str, ...]:
    """The columns among ``names`` holding one text (a string or a one-element list), copied whole into a record."""
    out = []
    for name in names:
        value = row.get(name)
        if hasattr(value, "tolist"):
            value = value.tolist()
        if isinstance(value, str) or (isinstance(value, list) and len(value) == 1 and isinstance(value[0], str)):
            out.append(name)
    return tuple(out)


def make_record(
    question: str,
    solution: str | None,
    cot_type: str,
    source_type: str,
    row: dict,
    leave_out: tuple[str, ...] = (),
    **extra: Any,
) -> dict:
    rec = {
        "question": question,
        "solution": solution,
        "cot_type": cot_type,
        "source_type": source_type,
        "metadata": metadata_text(row, leave_out),
        "thinking_trajectories": None,
        "attempt": None,
        "answer": None,
        "answer_kind": None,
        "trace_grade": None,
        "domain": None,
    }
    rec.update(extra)
    return rec


def trace_list(r: Row, name: str) -> list[str] | None:
    value = r.row.get(name)
    if value is None:
        return None
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, str):
        return [value] if value.strip() else None
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        return value[:1] if value and value[0].strip() else None
    raise r.fail(name, f"a list with one string (or a string), got {type(value).__name__}")


def grade_of(value: Any, r: Row, name: str) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("yes", "true", "correct", "1"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("no", "false", "incorrect", "0"):
        return False
    raise r.fail(name, f"a grade (Yes/No or a boolean), got {value!r}")


def answer_kind_of(answer: str | None) -> str | None:
    if answer is None:
        return None
    return "integer" if answer.strip().lstrip("-").isdigit() else "math"
