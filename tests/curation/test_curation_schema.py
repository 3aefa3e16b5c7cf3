"""Importers on the real shared data and on the real s1K / s1K-1.1 / GPQA layouts; errors name file, line, field."""

from __future__ import annotations

import json

import pytest

from s1lib.curation.schema import Quarantine, SchemaError, SourceSpec, gpqa_permutation, load_source


def test_real_aime_math_olympiad_s1k(shared_data):
    aime = load_source(SourceSpec(str(shared_data / "aime24.jsonl"), importer="aime"))
    assert len(aime) == 30 and all(r["answer_kind"] == "integer" for r in aime)
    assert aime[0]["answer"] == str(int(json.loads(aime[0]["metadata"])["answer"]))
    math = load_source(SourceSpec(str(shared_data / "math500.jsonl"), importer="math"))
    assert len(math) == 500 and math[0]["source_type"] == "MATH" and math[0]["answer"]
    assert json.loads(math[0]["metadata"])["subject"] == "Precalculus"
    olymp = load_source(SourceSpec(str(shared_data / "olympiadbench.jsonl"), importer="olympiadbench"))
    assert len(olymp) == 675 and all(isinstance(r["solution"], str) for r in olymp)
    s1k = load_source(SourceSpec(str(shared_data / "s1k_questions.json"), importer="s1k-questions"))
    assert len(s1k) == 1000 and all(r["thinking_trajectories"] is None for r in s1k)
    assert len({r["row_id"] for r in s1k}) == 1000


def _write_parquet(rows, path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)


def test_s1k_and_s1k11_layouts(tmp_path):
    s1k = {
        "solution": "x=1",
        "question": "Q1?",
        "cot_type": "math",
        "source_type": "AI-MO/NuminaMath",
        "metadata": "{'a': 1}",
        "cot": None,
        "thinking_trajectories": ["think"],
        "attempt": "\\boxed{1}",
    }
    _write_parquet([s1k], tmp_path / "s1k.parquet")
    rec = load_source(SourceSpec(str(tmp_path / "s1k.parquet"), importer="s1k"))[0]
    assert rec["thinking_trajectories"] == ["think"] and rec["metadata"] == "{'a': 1}"
    assert rec["source_type"] == "AI-MO/NuminaMath"
    row = {k: s1k[k] for k in ("solution", "question", "cot_type", "source_type", "metadata")}
    row.update(
        gemini_thinking_trajectory="g-think",
        gemini_attempt="g",
        deepseek_thinking_trajectory="d-think",
        deepseek_attempt="d",
        gemini_grade="Yes",
        gemini_grade_reason="",
        deepseek_grade="No",
        deepseek_grade_reason="",
    )
    _write_parquet([row], tmp_path / "s1k11.parquet")
    g = load_source(SourceSpec(str(tmp_path / "s1k11.parquet"), importer="s1k-1.1", trace="gemini"))[0]
    d = load_source(SourceSpec(str(tmp_path / "s1k11.parquet"), importer="s1k-1.1", trace="deepseek"))[0]
    assert (g["thinking_trajectories"], g["attempt"], g["trace_grade"]) == (["g-think"], "g", True)
    assert (d["thinking_trajectories"], d["attempt"], d["trace_grade"]) == (["d-think"], "d", False)


def test_gpqa_csv_real_columns(tmp_path):
    import pandas as pd

    cols = {
        "Question": ["What is the spin of an electron?"],
        "Correct Answer": ["1/2"],
        "Incorrect Answer 1": ["1"],
        "Incorrect Answer 2": ["0"],
        "Incorrect Answer 3": ["3/2"],
        "Explanation": ["Fermion."],
        "Subdomain": ["Quantum"],
        "High-level domain": ["Physics"],
        "Record ID": ["rec1"],
    }
    pd.DataFrame(cols).to_csv(tmp_path / "gpqa.csv", index=False)
    rec = load_source(SourceSpec(str(tmp_path / "gpqa.csv"), importer="gpqa"))[0]
    letter = "ABCD"[gpqa_permutation("rec1").index(0)]
    assert rec["answer"] == letter and rec["answer_kind"] == "choice"
    assert f"({letter}) 1/2" in rec["question"] and rec["cot_type"] == "science"
    plain = load_source(SourceSpec(str(tmp_path / "gpqa.csv"), importer="gpqa", gpqa_choices=False))[0]
    assert plain["answer"] == "1/2" and "(A)" not in plain["question"]


def test_datasets_folder(tmp_path):
    import datasets

    datasets.Dataset.from_list([{"problem": "P?", "solution": "S", "answer": "3"}]).save_to_disk(tmp_path / "ds")
    rec = load_source(SourceSpec(str(tmp_path / "ds"), importer="math"))[0]
    assert rec["question"] == "P?" and rec["answer"] == "3" and rec["answer_kind"] == "integer"


def test_errors_name_file_line_and_field(tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_text(json.dumps({"question": "ok?"}) + "\n\n" + json.dumps({"problem": 5}) + "\n")
    with pytest.raises(SchemaError) as err:
        load_source(SourceSpec(str(path)))
    assert (
        "pool.jsonl" in str(err.value)
        and "line 3" in str(err.value)
        and "field 'problem': a string, got int" in str(err.value)
    )
    path.write_text(json.dumps({"question": "ok?"}) + "\n{not json\n")
    with pytest.raises(SchemaError, match=r"line 2: field '<json>'"):
        load_source(SourceSpec(str(path)))
    aime = tmp_path / "aime.jsonl"
    aime.write_text(json.dumps({"problem": "p", "solution": "s", "answer": "x12"}) + "\n")
    with pytest.raises(SchemaError, match=r"aime.jsonl, line 1: field 'answer'"):
        load_source(SourceSpec(str(aime), importer="aime"))


def test_quarantine_keeps_going_and_writes_reasons(tmp_path):
    path = tmp_path / "pool.jsonl"
    rows = [{"question": "a?"}, {"question": ""}, "just a string", {"question": "b?", "domain": "5x"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    q = Quarantine(tmp_path / "q.jsonl")
    recs = load_source(SourceSpec(str(path)), on_error="quarantine", quarantine=q)
    assert [r["question"] for r in recs] == ["a?"]
    written = [json.loads(line) for line in (tmp_path / "q.jsonl").read_text().splitlines()]
    assert [w["location"] for w in written] == ["line 2", "line 3", "line 4"]
    assert [w["field"] for w in written] == ["question", "<row>", "domain"]
    assert all(w["reason"] for w in written)


def test_generic_keeps_row_source_type_unless_named(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"question": "q?", "source_type": "AIME", "grade": "Yes", "domain": "05"}) + "\n")
    rec = load_source(SourceSpec(str(path)))[0]
    assert (rec["source_type"], rec["trace_grade"], rec["domain"]) == ("AIME", True, "05")
    assert load_source(SourceSpec(str(path), name="mine"))[0]["source_type"] == "mine"


@pytest.mark.parametrize(
    "row, in_metadata, trace",
    [
        # The copied trace and attempt are not stored twice; every other column stays.
        ({"thinking_trajectories": ["T"], "attempt": "A", "subject": "x"}, {"subject"}, "T"),
        ({"thinking": "T", "subject": "x"}, {"subject"}, "T"),
        # Only the first of several traces is the record's: the column stays whole in metadata.
        ({"thinking_trajectories": ["T1", "T2"]}, {"thinking_trajectories"}, "T1"),
        # A second trace column that was not copied stays.
        ({"thinking_trajectories": ["T"], "thinking": "other"}, {"thinking"}, "T"),
    ],
)
def test_generic_metadata_keeps_what_the_record_does_not(tmp_path, row, in_metadata, trace):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"question": "q?", **row}) + "\n")
    rec = load_source(SourceSpec(str(path)))[0]
    assert rec["thinking_trajectories"] == [trace]
    assert set(json.loads(rec["metadata"])) == {"question"} | in_metadata
