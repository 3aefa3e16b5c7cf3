"""Sources and the common record schema: read any table layout, map each row to one record, or say exactly why not.

Every source becomes a list of plain dicts with the s1 columns (``question, solution, cot_type, source_type,
metadata, thinking_trajectories, attempt``) plus what later stages need (``row_id``, ``answer``, ``answer_kind``,
``trace_grade``, ``domain``). ``metadata`` keeps the original row as a string, as in s1K (the generic importer
leaves out the trace and attempt columns it copied whole into the record, so traces are not stored twice). A row
that cannot be mapped raises :class:`SchemaError` naming the file, the line/row and the field, or, with
``on_error="quarantine"``, is written to a quarantine jsonl with its reason. No row is ever skipped silently.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s1lib.configfile import config_from_dict
from s1lib.curation.records import (
    COT_TYPES,
    Row,
    SchemaError,
    answer_kind_of,
    grade_of,
    make_record,
    metadata_text,
    single_text_columns,
    trace_list,
)
from s1lib.tables import BadRow, TableError, iter_rows


@dataclass
class SourceSpec:
    """One pool source: where it is, which importer maps its rows, and the name it gets in the funnel."""

    path: str = field(metadata={"help": "jsonl/json/parquet/csv file, a saved datasets folder, or a hub id"})
    importer: str = field(
        default="generic",
        metadata={
            "help": "row layout: generic, s1k, s1k-1.1, s1k-questions, math, aime, olympiadbench, gpqa, limo, "
            "limo-v2, toy"
        },
    )
    name: str | None = field(
        default=None, metadata={"help": "source_type written to each record (default per importer)"}
    )
    cot_type: str = field(default="math", metadata={"help": "cot_type of the records: " + ", ".join(COT_TYPES)})
    trace: str = field(default="gemini", metadata={"help": "s1k-1.1 only: which traces to use, gemini or deepseek"})
    split: str = field(default="train", metadata={"help": "split to read for a hub id or a DatasetDict folder"})
    subset: str | None = field(
        default=None, metadata={"help": "hub ids only: the data set's configuration (e.g. gpqa_diamond)"}
    )
    gpqa_choices: bool = field(
        default=True,
        metadata={"help": "gpqa only: write the four options (fixed per-question shuffle) and grade as a letter"},
    )

    @classmethod
    def from_any(cls, value: str | dict | SourceSpec) -> SourceSpec:
        if isinstance(value, SourceSpec):
            return value
        if isinstance(value, str):
            return cls(path=value)
        return config_from_dict(cls, value, noun="source option")


# ---------------------------------------------------------------- reading tables


def _source_rows(path: str | os.PathLike, split: str = "train", subset: str | None = None) -> Iterator[tuple[str, Any]]:
    """Yield ``(location, row)`` for every row of a source (``s1lib.tables``: a table file, a datasets folder, a hub
    id).

    A row that is not a JSON object comes as a :class:`s1lib.tables.BadRow`, so the importer can report or quarantine
    it with its location; a problem with the whole file (encoding, emptiness, layout) is a :class:`SchemaError`.
    """
    try:
        yield from iter_rows(str(path), split=split, subset=subset, keep_bad_rows=True)
    except TableError as exc:
        raise SchemaError(exc.file, exc.location or "file", "<table>", exc.reason) from exc


# ---------------------------------------------------------------- importers


def import_generic(r: Row, spec: SourceSpec) -> dict:
    question = r.text("question", "problem", "Question", "prompt")
    solution = r.text("solution", "answer_text", "Solution", required=False)
    answer = r.row.get("answer")
    answer = None if answer is None else str(answer)
    source = spec.name or r.text("source_type", required=False) or "generic"
    trace_column = "thinking_trajectories" if trace_list(r, "thinking_trajectories") else "thinking"
    copied = single_text_columns(r.row, (trace_column, "attempt"))
    rec = make_record(question, solution, r.row.get("cot_type") or spec.cot_type, source, r.row, copied)
    rec["thinking_trajectories"] = trace_list(r, trace_column)
    rec["attempt"] = r.text("attempt", required=False)
    rec.update(answer=answer, answer_kind=r.row.get("answer_kind") or answer_kind_of(answer))
    rec["trace_grade"] = grade_of(r.row.get("grade", r.row.get("trace_grade")), r, "grade")
    rec["domain"] = _domain(r)
    return rec


def _domain(r: Row) -> str | None:
    value = r.row.get("domain")
    if value is None or value == "":
        return None
    value = str(value).strip()
    if not (len(value) == 2 and value.isdigit()):
        raise r.fail("domain", f"a two-digit MSC code such as '05', got {value!r}")
    return value


def import_s1k(r: Row, spec: SourceSpec) -> dict:
    """s1K (simplescaling/s1K): one trace column ``thinking_trajectories`` and ``attempt``."""
    question = r.text("question")
    rec = make_record(
        question,
        r.text("solution", required=False),
        r.row.get("cot_type") or spec.cot_type,
        spec.name or r.text("source_type", required=False) or "s1K",
        r.row,
    )
    rec["metadata"] = r.row.get("metadata") if isinstance(r.row.get("metadata"), str) else metadata_text(r.row)
    rec["thinking_trajectories"] = trace_list(r, "thinking_trajectories")
    rec["attempt"] = r.text("attempt", required=False)
    return rec


def import_s1k_11(r: Row, spec: SourceSpec) -> dict:
    """s1K-1.1: gemini_* and deepseek_* trace, attempt and grade columns; ``spec.trace`` picks one."""
    if spec.trace not in ("gemini", "deepseek"):
        raise r.fail("trace", f"gemini or deepseek, got {spec.trace!r}")
    rec = import_s1k(r, spec)
    t = spec.trace
    rec["thinking_trajectories"] = trace_list(r, f"{t}_thinking_trajectory")
    rec["attempt"] = r.text(f"{t}_attempt", required=False)
    rec["trace_grade"] = grade_of(r.row.get(f"{t}_grade"), r, f"{t}_grade")
    return rec


def import_s1k_questions(r: Row, spec: SourceSpec) -> dict:
    """The shared ``s1k_questions.json``: id, problem, solution (thinking, source, subject may be empty)."""
    rec = make_record(
        r.text("problem"),
        r.text("solution", required=False),
        spec.cot_type,
        spec.name or r.row.get("source") or "s1K",
        r.row,
    )
    rec["thinking_trajectories"] = trace_list(r, "thinking")
    return rec


def import_math(r: Row, spec: SourceSpec) -> dict:
    """MATH / MATH500: problem, solution (with a boxed answer), optional answer, subject/type, level."""
    answer = r.row.get("answer")
    answer = None if answer is None else str(answer)
    return make_record(
        r.text("problem"),
        r.text("solution"),
        "math",
        spec.name or "MATH",
        r.row,
        answer=answer,
        answer_kind=answer_kind_of(answer) if answer is not None else None,
    )


def import_aime(r: Row, spec: SourceSpec) -> dict:
    """AIME: problem (or question), solution, answer (zero-padded integer string)."""
    answer = r.row.get("answer", r.row.get("Answer"))
    if answer is None:
        raise r.fail("answer", "an integer answer 0-999")
    answer = str(answer).strip()
    if not answer.lstrip("-").isdigit():
        raise r.fail("answer", f"an integer answer 0-999, got {answer!r}")
    question = r.text("problem", "question", "Question")
    solution = r.text("solution", "Solution", required=False)
    return make_record(
        question, solution, "math", spec.name or "AIME", r.row, answer=str(int(answer)), answer_kind="integer"
    )


def import_olympiadbench(r: Row, spec: SourceSpec) -> dict:
    """OlympiadBench: question (+ optional context), solution and final_answer as lists."""
    question = r.text("question")
    context = r.row.get("context")
    if context:
        question = f"{context}\n\n{question}"
    sol = r.row.get("solution")
    if isinstance(sol, list):
        sol = "\n\n".join(str(s) for s in sol)
    elif sol is not None and not isinstance(sol, str):
        raise r.fail("solution", f"a list of strings, got {type(sol).__name__}")
    final = r.row.get("final_answer")
    if isinstance(final, list):
        final = ", ".join(str(a).strip("$") for a in final) if final else None
    return make_record(
        question, sol, "math", spec.name or "OlympiadBench", r.row, answer=final, answer_kind=answer_kind_of(final)
    )


GPQA_LETTERS = "ABCD"


def gpqa_permutation(key: str) -> list[int]:
    """A fixed per-question order of the four options (index 0 = correct), from a hash of the question key."""
    import numpy as np

    seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
    return [int(i) for i in np.random.default_rng(seed).permutation(4)]


def import_gpqa(r: Row, spec: SourceSpec) -> dict:
    """GPQA: Question, Correct Answer, Incorrect Answer 1..3, Explanation (real column names)."""
    question = r.text("Question").strip()
    correct = r.text("Correct Answer").strip()
    wrong = [r.text(f"Incorrect Answer {i}").strip() for i in (1, 2, 3)]
    explanation = r.text("Explanation", required=False)
    solution = (explanation.strip() + "\n\n" if explanation else "") + f"The correct answer is: {correct}"
    extra: dict[str, Any] = {"answer": correct, "answer_kind": "math"}
    if spec.gpqa_choices:
        options = [correct, *wrong]
        order = gpqa_permutation(str(r.row.get("Record ID") or question))
        lines = [f"({GPQA_LETTERS[k]}) {options[j]}" for k, j in enumerate(order)]
        letter = GPQA_LETTERS[order.index(0)]
        question = question + "\n\n" + "\n".join(lines)
        solution += f" ({letter})"
        extra = {"answer": letter, "answer_kind": "choice", "choices_order": order}
    return make_record(question, solution, "science", spec.name or "GPQA", r.row, **extra)


LIMO_DATASETS: dict[str, tuple[str, str, int]] = {
    "limo": ("GAIR/LIMO", "LIMO", 817),
    "limo-v2": ("GAIR/LIMO-v2", "LIMO-v2", 800),
}
"""importer -> (hub id, default source name, rows of the released set); hub-only, a local JSONL works the same."""


def _limo_answer(r: Row) -> str:
    value = r.row.get("answer")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        got = "missing from the row" if "answer" not in r.row else f"got {type(value).__name__}"
        raise r.fail("answer", f"the final answer as a string or number, {got}")
    answer = str(value).strip()
    if not answer:
        raise r.fail("answer", "a non-empty final answer, got an empty one")
    return answer


def _importer_limo(version: str) -> Callable[[Row, SourceSpec], dict]:
    def import_limo(r: Row, spec: SourceSpec) -> dict:
        """LIMO / LIMO-v2 (GAIR): question, solution (the whole reasoning chain), answer.

        The chain becomes the record's trace (and its reference solution); the attempt is the boxed answer, which
        the s1 delimiter format writes after the chain and LIMO's plain format leaves to the chain itself.
        """
        question = r.text("question")
        chain = r.text("solution")
        answer = _limo_answer(r)
        rec = make_record(
            question,
            chain,
            r.row.get("cot_type") or spec.cot_type,
            spec.name or LIMO_DATASETS[version][1],
            r.row,
            ("solution",),
            answer=answer,
            answer_kind=answer_kind_of(answer),
        )
        rec["thinking_trajectories"] = [chain]
        rec["attempt"] = f"\\boxed{{{answer}}}"
        return rec

    return import_limo


def import_toy(r: Row, spec: SourceSpec) -> dict:
    """Toy pool rows (``s1lib.toy``) are written in the common schema already."""
    rec = import_generic(r, spec)
    rec["source_type"] = spec.name or r.row.get("source_type") or "toy"
    if isinstance(r.row.get("metadata"), str):  # the generator's own metadata (family, noise, ...) stays readable
        rec["metadata"] = r.row["metadata"]
    return rec


IMPORTERS: dict[str, Callable[[Row, SourceSpec], dict]] = {
    "generic": import_generic,
    "s1k": import_s1k,
    "s1k-1.1": import_s1k_11,
    "s1k-questions": import_s1k_questions,
    "math": import_math,
    "aime": import_aime,
    "olympiadbench": import_olympiadbench,
    "gpqa": import_gpqa,
    "limo": _importer_limo("limo"),
    "limo-v2": _importer_limo("limo-v2"),
    "toy": import_toy,
}


class Quarantine:
    """Collects rows that failed to import, with their reason; optionally appends them to a jsonl file."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else None
        self.items: list[dict] = []
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("")

    def add(self, err: SchemaError, row: Any, row_id: str) -> None:
        item = {
            "row_id": row_id,
            "file": err.file,
            "location": err.location,
            "field": err.field,
            "reason": err.expected,
            "row": row if isinstance(row, dict) else repr(row),
        }
        self.items.append(item)
        if self.path:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(item, ensure_ascii=False, default=str) + "\n")


def load_source(
    spec: SourceSpec | str | dict, on_error: str = "raise", quarantine: Quarantine | None = None
) -> list[dict]:
    """Read one source into common-schema records (each with a unique ``row_id`` = ``source:location``).

    ``on_error="raise"`` stops at the first bad row with a :class:`SchemaError`; ``"quarantine"`` records it in
    ``quarantine`` (which must be given) and goes on.
    """
    spec = SourceSpec.from_any(spec)
    if spec.importer not in IMPORTERS:
        raise ValueError(f"Unknown importer {spec.importer!r}; expected one of {sorted(IMPORTERS)}")
    if on_error not in ("raise", "quarantine"):
        raise ValueError(f"on_error must be 'raise' or 'quarantine', got {on_error!r}")
    if on_error == "quarantine" and quarantine is None:
        raise ValueError("on_error='quarantine' needs a Quarantine to write to")
    importer = IMPORTERS[spec.importer]
    file_label = str(spec.path)
    records = []
    id_prefix = f"{spec.name or spec.importer}:{Path(file_label).name}"
    for location, row in _source_rows(spec.path, split=spec.split, subset=spec.subset):
        row_id = f"{id_prefix}:{location.split()[-1]}"
        try:
            if isinstance(row, BadRow):
                raise SchemaError(file_label, location, "<json>" if row.unparsable else "<row>", row.reason)
            rec = importer(Row(row, file_label, location), spec)
        except SchemaError as err:
            if on_error == "raise":
                raise
            quarantine.add(err, row.value if isinstance(row, BadRow) else row, row_id)
            continue
        rec["row_id"] = row_id
        records.append(rec)
    return records
