"""Benchmark loaders: AIME24, MATH500, GPQA Diamond and OlympiadBench as one list of ``Problem``s.

Every loader reads either a local file (jsonl, json list, parquet, csv) or, for online users, the hub data set the
reference evaluated on. A bad row fails loudly with the file, the line (or row) and the field, because a silently
skipped problem changes every accuracy computed downstream.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("integer", "math", "choice")
"""How a gold answer is compared: as an integer (AIME), symbolically (math-verify), or as a letter A-D."""

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
    kind: str
    benchmark: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Problem {self.id!r}: kind must be one of {KINDS}, got {self.kind!r}")


@dataclass(frozen=True)
class BenchmarkSpec:
    """Where a benchmark lives on the hub and how its rows become Problems."""

    name: str
    kind: str
    hub_id: str
    hub_config: str | None
    hub_split: str
    description: str


BENCHMARKS: dict[str, BenchmarkSpec] = {
    "aime24": BenchmarkSpec(
        "aime24", "integer", "simplescaling/aime24_nofigures", None, "train",
        "AIME 2024 I and II, 30 problems, integer answers 0-999 (the reference's 'nofigures' variant)",
    ),
    "math500": BenchmarkSpec(
        "math500", "math", "HuggingFaceH4/MATH-500", None, "test",
        "MATH500: 500 MATH test problems, LaTeX answers, graded with math-verify",
    ),
    "gpqa_diamond": BenchmarkSpec(
        "gpqa_diamond", "choice", "Idavidrein/gpqa", "gpqa_diamond", "train",
        "GPQA Diamond: 198 four-choice science questions (gated); options shuffled per question with a fixed seed",
    ),
    "olympiadbench": BenchmarkSpec(
        "olympiadbench", "math", "Hothan/OlympiadBench", "OE_TO_maths_en_COMP", "train",
        "OlympiadBench, text-only English math (open-ended), final answers graded with math-verify",
    ),
}  # fmt: skip
"""The benchmarks known by name; local files use the same row adapters as the hub data sets."""

FILE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")


# ---------------------------------------------------------------------------------------------------------------------
# Reading rows with their location


def _where(source: str, location: str) -> str:
    return f"{source} {location}" if location else source


def iter_rows(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``(location, row)`` for every row of a jsonl / json (list) / parquet / csv file.

    ``location`` is ``"line N"`` for text formats (1-based, the line where the row starts) and ``"row N"``
    (0-based) for json lists and parquet, so an error can point at the exact place.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"Benchmark file {p} does not exist")
    if p.is_dir():
        raise BenchmarkFormatError(f"{p} is a folder; expected a {'/'.join(FILE_SUFFIXES)} file")
    suffix = p.suffix.lower()
    if suffix == ".jsonl":
        with p.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise BenchmarkFormatError(f"{p} line {number}: not valid JSON ({exc.msg})") from exc
                if not isinstance(row, dict):
                    raise BenchmarkFormatError(f"{p} line {number}: expected a JSON object, got {type(row).__name__}")
                yield f"line {number}", row
    elif suffix == ".json":
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise BenchmarkFormatError(f"{p}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            data = data["data"]
        if not isinstance(data, list):
            raise BenchmarkFormatError(f"{p}: expected a JSON list of objects, got {type(data).__name__}")
        for index, row in enumerate(data):
            if not isinstance(row, dict):
                raise BenchmarkFormatError(f"{p} row {index}: expected a JSON object, got {type(row).__name__}")
            yield f"row {index}", row
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        for index, row in enumerate(pq.read_table(p).to_pylist()):
            yield f"row {index}", row
    elif suffix == ".csv":
        with p.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            start = reader.line_num + 1
            for row in reader:
                if None in row:
                    raise BenchmarkFormatError(f"{p} line {start}: more cells than header columns {reader.fieldnames}")
                yield f"line {start}", dict(row)
                start = reader.line_num + 1
    else:
        raise BenchmarkFormatError(f"{p}: unsupported file type {suffix!r}; expected one of {FILE_SUFFIXES}")


def _get(row: dict[str, Any], names: str | tuple[str, ...], where: str, expected: str) -> Any:
    """The first present, non-empty field among ``names``; a clear error naming place and field otherwise."""
    names = (names,) if isinstance(names, str) else names
    for name in names:
        value = row.get(name)
        if value is not None and not (isinstance(value, str) and not value.strip()):
            return value
    shown = " or ".join(repr(n) for n in names)
    present = sorted(row)
    raise BenchmarkFormatError(f"{where}: field {shown} is missing or empty (expected {expected}); row has {present}")


def _text(value: Any, where: str, name: str) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value).strip()
    raise BenchmarkFormatError(f"{where}: field {name!r} must be text, got {type(value).__name__}")


# ---------------------------------------------------------------------------------------------------------------------
# Row adapters


def _strip_math(text: str) -> str:
    """Drop unescaped ``$`` math delimiters (OlympiadBench writes ``$69$,$84$``), keep escaped ``\\$``."""
    return re.sub(r"(?<!\\)\$", "", text).strip()


def aime_problem(row: dict[str, Any], where: str, index: int, seed: int = 0) -> Problem:
    question = _text(_get(row, ("problem", "question", "Problem"), where, "the problem text"), where, "problem")
    raw = _text(_get(row, ("answer", "Answer"), where, "an integer 0-999 such as '025'"), where, "answer")
    try:
        value = int(raw)
    except ValueError:
        raise BenchmarkFormatError(f"{where}: field 'answer' must be an integer 0-999, got {raw!r}") from None
    if not 0 <= value <= 999:
        raise BenchmarkFormatError(f"{where}: field 'answer' must be an integer 0-999, got {raw!r}")
    pid = str(row.get("id", row.get("ID", index)))
    meta = {k: row[k] for k in ("url", "year") if k in row}
    return Problem(pid, question, raw, "integer", "aime24", meta)


def math500_problem(row: dict[str, Any], where: str, index: int, seed: int = 0) -> Problem:
    question = _text(_get(row, "problem", where, "the problem text"), where, "problem")
    answer = _text(_get(row, "answer", where, "a LaTeX answer"), where, "answer")
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
    question = _text(_get(row, "question", where, "the question text"), where, "question")
    context = row.get("context")
    if isinstance(context, str) and context.strip() and context.strip() != "None":
        question = f"{context.strip()}\n\n{question}"
    answers = [
        _strip_math(_text(a, where, "final_answer")) for a in _listish(_get(row, "final_answer", where, "a list"))
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
    values = [_text(_get(row, name, where, "text"), where, name) for name in GPQA_FIELDS]
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


ADAPTERS: dict[str, Callable[[dict[str, Any], str, int, int], Problem]] = {
    "aime24": aime_problem,
    "math500": math500_problem,
    "gpqa_diamond": gpqa_problem,
    "olympiadbench": olympiadbench_problem,
}


# ---------------------------------------------------------------------------------------------------------------------
# Public loaders


def _unknown(name: str) -> ValueError:
    return ValueError(
        f"Unknown benchmark {name!r}; known names: {sorted(BENCHMARKS)}. "
        "For another file use load_generic(path, question_field, answer_field, kind)."
    )


def _finish(problems: list[Problem], source: str, limit: int | None) -> list[Problem]:
    if not problems:
        raise BenchmarkFormatError(f"{source}: no rows")
    seen: dict[str, int] = {}
    for i, problem in enumerate(problems):
        if problem.id in seen:
            raise BenchmarkFormatError(
                f"{source}: duplicate problem id {problem.id!r} (items {seen[problem.id]} and {i})"
            )
        seen[problem.id] = i
    if limit is not None:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        problems = problems[:limit]
    return problems


def _resolve_file(name: str, path: str | Path) -> Path:
    p = Path(path)
    if p.is_dir():
        for suffix in FILE_SUFFIXES:
            candidate = p / f"{name}{suffix}"
            if candidate.exists():
                return candidate
        raise FileNotFoundError(f"No {name}{{{','.join(FILE_SUFFIXES)}}} file in folder {p}")
    if not p.exists():
        raise FileNotFoundError(f"Benchmark file {p} for {name!r} does not exist")
    return p


def load_benchmark(
    name_or_path: str | Path, path: str | Path | None = None, limit: int | None = None, seed: int = 0
) -> list[Problem]:
    """Load a benchmark as Problems, in file order.

    ``load_benchmark("math500", "../shared/data")`` reads ``math500.jsonl`` from that folder;
    ``load_benchmark("math500", "x.parquet")`` reads that file; ``load_benchmark("../shared/data/aime24.jsonl")``
    infers the benchmark from the file name; ``load_benchmark("math500")`` downloads the hub data set (online only).
    ``seed`` fixes GPQA's option permutation; ``limit`` keeps the first N problems.
    """
    name = str(name_or_path)
    if name not in BENCHMARKS:
        candidate = Path(name)
        if path is None and (candidate.suffix.lower() in FILE_SUFFIXES or candidate.exists()):
            stem = candidate.stem.lower().replace("-", "_")
            if stem not in BENCHMARKS:
                raise _unknown(f"{name} (file name {candidate.stem!r})")
            name, path = stem, candidate
        else:
            raise _unknown(name)
    adapter = ADAPTERS[name]
    if path is None:
        return _load_hub(name, limit, seed)
    file = _resolve_file(name, path)
    problems = [adapter(row, _where(str(file), loc), i, seed) for i, (loc, row) in enumerate(iter_rows(file))]
    return _finish(problems, str(file), limit)


def _load_hub(name: str, limit: int | None, seed: int) -> list[Problem]:
    """Download through ``datasets`` (online users only; tests never call this)."""
    from datasets import load_dataset

    spec = BENCHMARKS[name]
    dataset = load_dataset(spec.hub_id, spec.hub_config, split=spec.hub_split)
    source = f"{spec.hub_id}[{spec.hub_split}]"
    adapter = ADAPTERS[name]
    problems = [adapter(dict(row), f"{source} row {i}", i, seed) for i, row in enumerate(dataset)]
    return _finish(problems, source, limit)


def load_generic(
    path: str | Path,
    question_field: str,
    answer_field: str,
    kind: str,
    id_field: str | None = None,
    benchmark: str | None = None,
    limit: int | None = None,
) -> list[Problem]:
    """Load any question/answer file; every other column goes into ``metadata``.

    For ``kind="choice"`` the answer must be one letter A-D (the question text must already list the options).
    """
    if kind not in KINDS:
        raise ValueError(f"load_generic: kind must be one of {KINDS}, got {kind!r}")
    file = Path(path)
    bench = benchmark or file.stem
    problems = []
    for i, (loc, row) in enumerate(iter_rows(file)):
        where = _where(str(file), loc)
        question = _text(_get(row, question_field, where, "the question text"), where, question_field)
        answer = _text(_get(row, answer_field, where, "the gold answer"), where, answer_field)
        if kind == "choice":
            answer = answer.strip("() ").upper()
            if answer not in CHOICE_LETTERS:
                raise BenchmarkFormatError(f"{where}: field {answer_field!r} must be a letter A-D, got {answer!r}")
        if kind == "integer":
            try:
                int(answer)
            except ValueError:
                raise BenchmarkFormatError(
                    f"{where}: field {answer_field!r} must be an integer, got {answer!r}"
                ) from None
        pid = str(_get(row, id_field, where, "a problem id")) if id_field else str(i)
        meta = {k: v for k, v in row.items() if k not in (question_field, answer_field, id_field)}
        problems.append(Problem(pid, question, answer, kind, bench, meta))
    return _finish(problems, str(file), limit)
