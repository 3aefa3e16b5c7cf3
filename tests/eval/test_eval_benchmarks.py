"""Benchmark loaders on the real shared files, plus self-built GPQA-shaped fixtures (GPQA itself is gated)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from s1lib.eval.benchmarks import BenchmarkFormatError, Problem, load_benchmark, load_generic
from s1lib.eval.problems import gpqa_permutation

GPQA_COLUMNS = [
    "Question",
    "Correct Answer",
    "Incorrect Answer 1",
    "Incorrect Answer 2",
    "Incorrect Answer 3",
    "Explanation",
    "Subdomain",
    "High-level domain",
    "Record ID",
]


def gpqa_rows(n: int = 6) -> list[dict[str, str]]:
    """GPQA-shaped rows written here (toy questions), with multi-line text like the real set."""
    return [
        {
            "Question": f"Toy question {i}:\nwhich value is right for case {i}?",
            "Correct Answer": f"right {i}",
            "Incorrect Answer 1": f"wrong {i}a",
            "Incorrect Answer 2": f"wrong {i}b",
            "Incorrect Answer 3": f" wrong {i}c\n",
            "Explanation": "because",
            "Subdomain": "Physics (general)",
            "High-level domain": "Physics",
            "Record ID": f"rec{i:03d}",
        }
        for i in range(n)
    ]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


# ---------------------------------------------------------------------------------------------------------------------
# Real files


def test_aime24_real(shared_data):
    problems = load_benchmark("aime24", shared_data)
    assert len(problems) == 30
    assert all(p.kind == "integer" and p.benchmark == "aime24" for p in problems)
    by_answer = {p.answer for p in problems}
    assert "025" in by_answer  # zero-padded strings kept as written
    assert all(0 <= int(p.answer) <= 999 for p in problems)
    assert problems[0].question.startswith("Every morning Aya")
    assert "url" in problems[0].metadata


def test_math500_real(shared_data):
    problems = load_benchmark(shared_data / "math500.jsonl")  # benchmark inferred from the file name
    assert len(problems) == 500
    first = problems[0]
    assert first.id == "test/precalculus/807.json"
    assert first.answer == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert first.metadata["subject"] == "Precalculus" and first.metadata["level"] == 2
    assert len({p.id for p in problems}) == 500
    assert {p.metadata["level"] for p in problems} == {1, 2, 3, 4, 5}


def test_olympiadbench_real(shared_data):
    problems = load_benchmark("olympiadbench", shared_data / "olympiadbench.jsonl")
    assert len(problems) == 675
    first = problems[0]
    assert (first.id, first.answer, first.kind) == ("1606", "2", "math")
    multi = [p for p in problems if p.metadata["is_multiple_answer"]]
    assert multi, "the real file has multiple-answer rows"
    assert all("$" not in p.answer.replace("\\$", "") for p in problems)  # math delimiters stripped
    with_unit = [p for p in problems if p.metadata["unit"]]
    assert len(with_unit) == 8


def test_limit_keeps_file_order(shared_data):
    full = load_benchmark("aime24", shared_data)
    assert load_benchmark("aime24", shared_data, limit=5) == full[:5]
    assert load_benchmark("aime24", shared_data, limit=0) == []


# ---------------------------------------------------------------------------------------------------------------------
# GPQA Diamond (fixtures built here)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "json", "parquet"])
def test_gpqa_formats_agree(tmp_path, fmt):
    rows = gpqa_rows()
    if fmt == "jsonl":
        path = write_jsonl(tmp_path / "gpqa.jsonl", rows)
    elif fmt == "csv":
        path = write_csv(tmp_path / "gpqa.csv", rows)
    elif fmt == "json":
        path = tmp_path / "gpqa.json"
        path.write_text(json.dumps(rows))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = tmp_path / "gpqa.parquet"
        pq.write_table(pa.Table.from_pylist(rows), path)
    problems = load_benchmark("gpqa_diamond", path)
    reference = load_benchmark("gpqa_diamond", write_jsonl(tmp_path / "ref.jsonl", rows))
    assert problems == reference
    assert len(problems) == 6


def test_gpqa_permutation_gold_and_prompt(tmp_path):
    rows = gpqa_rows()
    problems = load_benchmark("gpqa_diamond", write_jsonl(tmp_path / "g.jsonl", rows), seed=0)
    golds = set()
    for row, p in zip(rows, problems):
        assert p.kind == "choice" and p.id == row["Record ID"]
        perm = p.metadata["permutation"]
        assert sorted(perm) == [0, 1, 2, 3]
        assert perm == gpqa_permutation(row["Record ID"], 0)
        choices = p.metadata["choices"]
        assert choices[perm.index(0)] == row["Correct Answer"]
        assert choices["ABCD".index(p.answer)] == row["Correct Answer"].strip()
        assert "wrong" in choices[perm.index(3)] and choices[perm.index(3)] == row["Incorrect Answer 3"].strip()
        for letter, text in zip("ABCD", choices):
            assert f"\n{letter}) {text}" in p.question
        assert p.question.startswith(row["Question"])
        assert p.metadata["subdomain"] == "Physics (general)" and p.metadata["domain"] == "Physics"
        golds.add(p.answer)
    assert len(golds) > 1, "the gold letter must not always sit in the same place"


def test_gpqa_permutation_stable_under_limit_reorder_and_seed(tmp_path):
    rows = gpqa_rows(8)
    full = {p.id: p for p in load_benchmark("gpqa_diamond", write_jsonl(tmp_path / "a.jsonl", rows))}
    reordered = load_benchmark("gpqa_diamond", write_jsonl(tmp_path / "b.jsonl", rows[::-1]), limit=3)
    for p in reordered:
        assert p == full[p.id]
    other_seed = load_benchmark("gpqa_diamond", write_jsonl(tmp_path / "c.jsonl", rows), seed=1)
    assert [p.metadata["permutation"] for p in other_seed] != [full[p.id].metadata["permutation"] for p in other_seed]
    # permutations are spread over many orders, not a constant
    assert len({tuple(gpqa_permutation(f"r{i}")) for i in range(200)}) == 24


def test_gpqa_missing_field_names_file_line_and_field(tmp_path):
    rows = gpqa_rows(3)
    del rows[1]["Incorrect Answer 2"]
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(BenchmarkFormatError, match=r"bad\.jsonl line 2: field 'Incorrect Answer 2' is missing"):
        load_benchmark("gpqa_diamond", path)


def test_csv_error_points_at_the_starting_line_of_a_multiline_row(tmp_path):
    rows = gpqa_rows(3)  # every question spans two physical lines
    rows[2]["Correct Answer"] = ""
    path = write_csv(tmp_path / "bad.csv", rows)
    # header on line 1, row 0 on lines 2-4 (question and answer 3 hold newlines), row 1 on 5-7, row 2 starts at 8
    with pytest.raises(BenchmarkFormatError, match=r"bad\.csv line 8: field 'Correct Answer' is missing or empty"):
        load_benchmark("gpqa_diamond", path)


# ---------------------------------------------------------------------------------------------------------------------
# Errors


def test_bad_rows_raise_with_location(tmp_path):
    bad_json = tmp_path / "aime24.jsonl"
    bad_json.write_text('{"problem": "p", "answer": "001"}\n{"problem": "q", "answer": \n')
    with pytest.raises(BenchmarkFormatError, match=r"aime24\.jsonl line 2: not valid JSON"):
        load_benchmark("aime24", bad_json)

    not_int = write_jsonl(tmp_path / "a2.jsonl", [{"problem": "p", "answer": "12.5"}])
    with pytest.raises(BenchmarkFormatError, match=r"a2\.jsonl line 1: field 'answer' must be an integer 0-999"):
        load_benchmark("aime24", not_int)

    no_answer = write_jsonl(tmp_path / "m.jsonl", [{"problem": "p", "answer": "1", "unique_id": "a"}, {"problem": "q"}])
    with pytest.raises(BenchmarkFormatError, match=r"m\.jsonl line 2: field 'answer' is missing"):
        load_benchmark("math500", no_answer)

    dupes = write_jsonl(tmp_path / "d.jsonl", [{"problem": "p", "answer": "1", "unique_id": "a"}] * 2)
    with pytest.raises(BenchmarkFormatError, match="duplicate problem id 'a'"):
        load_benchmark("math500", dupes)

    listed = tmp_path / "l.json"
    listed.write_text(json.dumps([{"problem": "p", "answer": "1"}, "oops"]))
    with pytest.raises(BenchmarkFormatError, match=r"l\.json row 1: expected a JSON object"):
        load_benchmark("math500", listed)

    empty = tmp_path / "e.jsonl"
    empty.write_text("\n")
    with pytest.raises(BenchmarkFormatError, match="no rows"):
        load_benchmark("math500", empty)


def test_unknown_name_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match=r"Unknown benchmark 'aime26'.*aime24.*gpqa_diamond.*math500.*olympiadbench"):
        load_benchmark("aime26")
    with pytest.raises(ValueError, match="Unknown benchmark"):
        load_benchmark(tmp_path / "whatever.jsonl")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_benchmark("math500", tmp_path / "nope.jsonl")
    with pytest.raises(FileNotFoundError, match="No math500"):
        load_benchmark("math500", tmp_path)
    (tmp_path / "math500.txt").write_text("x")
    with pytest.raises(BenchmarkFormatError, match="unsupported file type"):
        load_benchmark("math500", tmp_path / "math500.txt")


# ---------------------------------------------------------------------------------------------------------------------
# Generic files


def test_load_generic(tmp_path):
    rows = [{"q": "1+1?", "a": "2", "key": "x1", "topic": "arith"}, {"q": "2+2?", "a": "4", "key": "x2", "topic": "t"}]
    problems = load_generic(write_jsonl(tmp_path / "toy.jsonl", rows), "q", "a", "integer", id_field="key")
    assert problems[0] == Problem("x1", "1+1?", "2", "integer", "toy", {"topic": "arith"})
    assert [p.id for p in load_generic(tmp_path / "toy.jsonl", "q", "a", "math")] == ["0", "1"]

    choice = write_jsonl(tmp_path / "c.jsonl", [{"q": "pick", "a": "(b)"}, {"q": "pick", "a": "E"}])
    with pytest.raises(BenchmarkFormatError, match=r"c\.jsonl line 2: field 'a' must be a letter A-D, got 'E'"):
        load_generic(choice, "q", "a", "choice")
    with pytest.raises(BenchmarkFormatError, match=r"toy\.jsonl line 1: field 'question' is missing"):
        load_generic(tmp_path / "toy.jsonl", "question", "a", "math")
    with pytest.raises(ValueError, match="kind must be one of"):
        load_generic(tmp_path / "toy.jsonl", "q", "a", "essay")
