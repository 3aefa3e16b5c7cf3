"""Benchmarks beyond the named five: any table by path with its fields named, and the AMC23 / AIME25 presets."""

from __future__ import annotations

import json

import pytest

from s1lib.eval.benchmarks import BENCHMARKS, BenchmarkFormatError, FieldNames, load_any, load_benchmark, number_text
from s1lib.eval.grading import grade
from s1lib.eval.sweep_config import SweepConfig


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(
    ("raw", "read"),
    [("27.0", "27"), ("27", "27"), ("-3.0", "-3"), ("2.5", "2.5"), ("1e3", "1e3"), ("\\frac{1}{2}", "\\frac{1}{2}")],
)
def test_numbers_lose_a_floats_trailing_zero(raw, read):
    assert number_text(raw) == read


def test_amc23_preset_reads_numbers_written_as_floats(tmp_path):
    path = _jsonl(
        tmp_path / "amc23.jsonl", [{"id": 0, "question": "Q?", "answer": 27.0}, {"question": "R?", "answer": "3.5"}]
    )
    problems = load_benchmark("amc23", path)
    assert [(p.answer, p.kind, p.benchmark) for p in problems] == [("27", "math", "amc23"), ("3.5", "math", "amc23")]
    assert grade(problems[0], "so \\boxed{27}").correct and grade(problems[0], "\\boxed{27.0}").correct
    assert not grade(problems[0], "\\boxed{28}").correct
    assert load_benchmark(path)[0].benchmark == "amc23"  # inferred from the file name


def test_aime25_preset_is_an_aime(tmp_path):
    path = _jsonl(tmp_path / "aime25.jsonl", [{"id": "I-1", "problem": "P?", "answer": "070"}])
    [problem] = load_benchmark("aime25", path)
    assert (problem.id, problem.answer, problem.kind, problem.benchmark) == ("I-1", "070", "integer", "aime25")
    bad = _jsonl(tmp_path / "bad.jsonl", [{"problem": "P?", "answer": "27.5"}])
    with pytest.raises(BenchmarkFormatError, match=r"bad\.jsonl line 1: field 'answer' must be an integer"):
        load_benchmark("aime25", bad)
    assert {"aime25", "amc23"} <= set(BENCHMARKS)


ROWS = [
    {"prompt": "1+1?", "gold": "2", "type": "integer", "uid": "a"},
    {"prompt": "Pick: (A) x (B) y", "gold": "(b)", "type": "choice", "uid": "b"},
    {"prompt": "Half?", "gold": "0.50", "type": "math", "uid": "c"},
]


def test_any_file_by_path_with_named_fields(tmp_path):
    path = _jsonl(tmp_path / "minerva.jsonl", ROWS)
    fields = FieldNames(question="prompt", answer="gold", kind_field="type", id="uid")
    problems = load_any(path, fields=fields)
    assert [(p.id, p.question, p.answer, p.kind, p.benchmark) for p in problems] == [
        ("a", "1+1?", "2", "integer", "minerva"),
        ("b", "Pick: (A) x (B) y", "B", "choice", "minerva"),
        ("c", "Half?", "0.50", "math", "minerva"),
    ]
    one_kind = load_any(path, fields=FieldNames(question="prompt", answer="gold"), limit=1)
    assert [(p.kind, p.id) for p in one_kind] == [("math", "0")]
    assert load_any("amc23", path, fields=FieldNames("prompt", "gold", "math"))[0].benchmark == "amc23"


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        (
            FieldNames(question="question", answer="gold", kind="math"),
            BenchmarkFormatError,
            r"line 1: field 'question'",
        ),
        (FieldNames("prompt", "gold", kind_field="level"), BenchmarkFormatError, r"line 1: field 'level'"),
        (
            FieldNames("prompt", "gold", kind="integer"),
            BenchmarkFormatError,
            r"line 2: field 'gold' must be an integer",
        ),
        (FieldNames("prompt", "gold", kind="math", kind_field="type"), ValueError, "not both"),
    ],
)
def test_a_wrong_field_names_file_line_and_field(tmp_path, fields, error, message):
    path = _jsonl(tmp_path / "x.jsonl", ROWS)
    with pytest.raises(error, match=message):
        load_any(path, fields=fields)


def test_unknown_name_without_a_file_says_how_to_give_one(tmp_path):
    with pytest.raises(ValueError, match="Unknown benchmark 'minerva'.*--question-field"):
        load_any("minerva")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_any(tmp_path / "nope.jsonl", fields=FieldNames(kind="math"))


def test_sweep_config_takes_a_file_by_path(tmp_path):
    path = _jsonl(tmp_path / "minerva.jsonl", ROWS)
    config = SweepConfig(benchmark=str(path), question_field="prompt", answer_field="gold", kind="math", caps=[8])
    assert config.fields() == FieldNames("prompt", "gold", "math", None, None)
    assert [p.id for p in load_any(config.benchmark, config.data, fields=config.fields())] == ["0", "1", "2"]
    with pytest.raises(ValueError, match="unknown benchmark 'minerva'"):
        SweepConfig(benchmark="minerva", caps=[8])
    with pytest.raises(ValueError, match="SweepConfig.kind must be one of"):
        SweepConfig(benchmark=str(path), kind="float", caps=[8])


def test_s1_eval_parses_the_field_flags():
    import argparse

    from s1lib.cli.eval import register_cli

    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["eval", "x/minerva.jsonl", "--question-field", "problem", "--answer-field", "solution", "--kind", "math"]
    )
    assert (args.benchmark, args.question_field, args.answer_field, args.kind, args.kind_field) == (
        "x/minerva.jsonl", "problem", "solution", "math", None,
    )  # fmt: skip
    with pytest.raises(SystemExit):
        parser.parse_args(["eval", "x.jsonl", "--kind", "float"])
