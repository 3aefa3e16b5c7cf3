"""The one table reader (s1lib.tables): the files people have (BOM, CRLF, other encodings, empty files, bad rows) across
jsonl / json / csv, and the three stages that read through it keeping their own error classes."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest

from s1lib.tables import (
    BadRow,
    EmptyTableError,
    TableError,
    is_hub_id,
    iter_file_rows,
    iter_rows,
    read_rows,
    table_in_folder,
    write_jsonl,
)

ROWS = [{"question": "What is 1+1?", "answer": "2"}, {"question": "Café: 2+2?", "answer": "4"}]


def as_text(fmt: str, rows: list[dict], newline: str = "\n") -> str:
    """``rows`` written as a jsonl, json or csv file's text (csv cells hold no comma or quote here)."""
    if fmt == "jsonl":
        lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    elif fmt == "json":
        lines = json.dumps(rows, ensure_ascii=False, indent=1).split("\n")
    else:
        lines = [",".join(rows[0]), *(",".join(r.values()) for r in rows)]
    return newline.join(lines) + newline


def write(tmp_path: Path, fmt: str, data: bytes | str, name: str = "table") -> Path:
    path = tmp_path / f"{name}.{fmt}"
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


FORMATS = ["jsonl", "json", "csv"]


# ---------------------------------------------------------------------------------------------------------------------
# Files that must load


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("bom", "newline"),
    [(False, "\n"), (True, "\n"), (False, "\r\n"), (True, "\r\n")],
    ids=["lf", "bom", "crlf", "bom-crlf"],
)
def test_utf8_with_bom_and_windows_line_endings_load(tmp_path, fmt, bom, newline):
    data = as_text(fmt, ROWS, newline).encode("utf-8")
    path = write(tmp_path, fmt, codecs.BOM_UTF8 + data if bom else data)
    assert read_rows(path) == ROWS
    locations = [location for location, _ in iter_rows(path)]
    assert locations == (
        ["row 0", "row 1"] if fmt == "json" else ["line 1", "line 2"] if fmt == "jsonl" else ["line 2", "line 3"]
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (json.dumps({"data": ROWS}), ROWS),  # the wrapper benchmarks and training accepted
        (json.dumps({"questions": ROWS, "version": 2}), ROWS),  # the one list of an object (curation)
        (json.dumps({"data": ROWS, "columns": ["question", "answer"]}), ROWS),  # "data" wins over another list
    ],
    ids=["data", "one-list", "data-first"],
)
def test_json_wrapper_forms(tmp_path, text, expected):
    assert read_rows(write(tmp_path, "json", text)) == expected


def test_csv_cells_lines_and_tsv(tmp_path):
    text = 'question,answer,note\r\n"two\r\nlines",1,\r\n\r\nplain,2,x\r\n'
    rows = list(iter_rows(write(tmp_path, "csv", text)))
    # an empty cell is None (a csv cannot write null); a row is located at the line it starts on, blank lines skipped
    assert rows == [
        ("line 2", {"question": "two\r\nlines", "answer": "1", "note": None}),
        ("line 5", {"question": "plain", "answer": "2", "note": "x"}),
    ]
    assert read_rows(write(tmp_path, "tsv", "question\tanswer\nq\t3\n")) == [{"question": "q", "answer": "3"}]
    short = write(tmp_path, "csv", "question,answer\nonly\n", "short")
    assert read_rows(short) == [{"question": "only", "answer": None}]


def test_parquet_folder_and_jsonl_round_trip(tmp_path):
    import datasets

    datasets.Dataset.from_list(ROWS).to_parquet(str(tmp_path / "t.parquet"))
    datasets.DatasetDict({"test": datasets.Dataset.from_list(ROWS)}).save_to_disk(str(tmp_path / "saved"))
    assert read_rows(tmp_path / "t.parquet") == ROWS
    assert read_rows(tmp_path / "saved", split="test") == ROWS
    with pytest.raises(TableError, match=r"saved: no split 'train' in the saved DatasetDict \(has \['test'\]\)"):
        read_rows(tmp_path / "saved")
    assert read_rows(write_jsonl(ROWS, tmp_path / "deep" / "out.jsonl")) == ROWS
    assert table_in_folder(tmp_path, "t") == tmp_path / "t.parquet"
    with pytest.raises(FileNotFoundError, match=r"No nope\{\.jsonl,.*\} file in folder"):
        table_in_folder(tmp_path, "nope")


@pytest.mark.parametrize(
    ("source", "hub"),
    [
        ("simplescaling/s1K-1.1", True),
        ("HuggingFaceH4/MATH-500", True),
        ("gsm8k", False),  # no owner: a missing local file, not an id
        ("runs/x.jsonl", False),  # a table suffix
        ("./a/b", False),
        ("/abs/path", False),
        ("~/data", False),
        ("a/b/c", False),
    ],
)
def test_hub_ids_are_owner_slash_name_that_is_no_local_path(source, hub):
    assert is_hub_id(source) is hub


def test_an_existing_folder_named_like_a_hub_id_is_local(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "owner" / "name").mkdir(parents=True)
    assert not is_hub_id("owner/name")


# ---------------------------------------------------------------------------------------------------------------------
# Files that must fail, naming the file and the place


@pytest.mark.parametrize(
    ("fmt", "line"),
    [("jsonl", 2), ("json", 7), ("csv", 3)],  # the line holding "Café" in each layout
)
def test_another_encoding_names_the_file_and_the_line(tmp_path, fmt, line):
    path = write(tmp_path, fmt, as_text(fmt, ROWS).encode("cp1252"), "latin")
    with pytest.raises(TableError, match=rf"latin\.{fmt} line {line}: not UTF-8 text \(byte 0xe9 at column \d+"):
        read_rows(path)


def test_utf16_is_named_as_such(tmp_path):
    path = write(tmp_path, "jsonl", as_text("jsonl", ROWS).encode("utf-16"))
    with pytest.raises(TableError, match=r"line 1: not UTF-8 text .*UTF-16.*save the file as UTF-8"):
        read_rows(path)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "content",
    [b"", b"\n\n", b"  \r\n", codecs.BOM_UTF8, codecs.BOM_UTF8 + b"\r\n"],
    ids=["zero", "lf", "ws", "bom", "bom-crlf"],
)
def test_an_empty_file_is_an_error_naming_it(tmp_path, fmt, content):
    path = write(tmp_path, fmt, content, "empty")
    with pytest.raises(EmptyTableError, match=rf"empty\.{fmt}: empty file \(no rows\)"):
        read_rows(path)


@pytest.mark.parametrize(
    ("fmt", "text", "message"),
    [
        ("json", "[]", r"t\.json: no rows \(an empty JSON list\)"),
        ("json", '{"data": []}', r"t\.json: no rows"),
        ("csv", "question,answer\r\n", r"t\.csv: no rows below the header"),
    ],
)
def test_a_table_without_rows_is_an_error_naming_it(tmp_path, fmt, text, message):
    with pytest.raises(EmptyTableError, match=message):
        read_rows(write(tmp_path, fmt, text, "t"))


BAD_ROWS = [
    ("jsonl", '{"question": "a"}\n{"question": \n', r"bad\.jsonl line 2: not valid JSON", True),
    ("jsonl", '{"question": "a"}\n\n["a", "list"]\n', r"bad\.jsonl line 3: expected a JSON object, got list", False),
    ("json", '[{"question": "a"}, "oops"]', r"bad\.json row 1: expected a JSON object, got str", False),
    ("csv", "question,answer\na,1\nb,2,extra\n", r"bad\.csv line 3: 3 cells but the header has 2 columns", False),
]


@pytest.mark.parametrize(("fmt", "text", "message", "unparsable"), BAD_ROWS, ids=[m for _, _, m, _ in BAD_ROWS])
def test_a_bad_row_names_the_file_and_the_line_or_row(tmp_path, fmt, text, message, unparsable):
    path = write(tmp_path, fmt, text, "bad")
    with pytest.raises(TableError, match=message):
        read_rows(path)
    # kept for a quarantine: the good rows stay, the bad one comes as a BadRow at its place
    rows = list(iter_rows(path, keep_bad_rows=True))
    bad = [(location, row) for location, row in rows if isinstance(row, BadRow)]
    assert len(bad) == 1 and len(rows) == 2
    location, row = bad[0]
    place, reason = message.replace("\\", "").split(": ", 1)
    assert place.endswith(location) and row.reason.startswith(reason) and row.unparsable is unparsable


@pytest.mark.parametrize(
    ("fmt", "text", "message"),
    [
        (
            "json",
            '[{"question": "a"},\n  {"question" "b"}]',
            r"t\.json line 2: not valid JSON \(Expecting ':' delimiter",
        ),
        ("json", '{"a": [1], "b": [2]}', r"t\.json: expected a JSON list of objects, or an object holding one such"),
        ("json", '"text"', r"t\.json: expected a JSON list of objects, got str"),
        ("csv", "q,q,a\n1,2,3\n", r"t\.csv line 1: column\(s\) \['q'\] appear more than once in the header"),
        ("parquet", "not parquet", r"t\.parquet: not a readable parquet file"),
        ("txt", "x", r"t\.txt: unsupported file type '\.txt'"),
    ],
)
def test_whole_file_problems_name_the_file(tmp_path, fmt, text, message):
    with pytest.raises(TableError, match=message):
        read_rows(write(tmp_path, fmt, text, "t"))


def test_missing_paths_and_plain_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.jsonl does not exist"):
        read_rows(tmp_path / "nope.jsonl")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_rows(str(tmp_path / "a" / "b"))  # a local-looking path is never sent to the hub
    (tmp_path / "plain").mkdir()
    with pytest.raises(TableError, match="plain: is a folder but not a saved datasets folder"):
        read_rows(tmp_path / "plain")
    with pytest.raises(TableError, match="is a folder; expected a"):
        list(iter_file_rows(tmp_path / "plain"))


# ---------------------------------------------------------------------------------------------------------------------
# The three stages read through it, each with its own error class


def test_benchmarks_training_and_curation_share_the_reader(tmp_path):
    from s1lib.curation.schema import SchemaError, SourceSpec, load_source
    from s1lib.eval.benchmarks import BenchmarkFormatError, load_generic
    from s1lib.train.data import DataError, load_records

    rows = [{"question": "q?", "thinking_trajectories": ["t"], "attempt": "a", "answer": "1"}]
    good = write(tmp_path, "jsonl", codecs.BOM_UTF8 + as_text("jsonl", rows, "\r\n").encode(), "good")
    assert [p.answer for p in load_generic(good, "question", "answer", "integer")] == ["1"]
    assert load_records(str(good)) == rows
    assert [r["question"] for r in load_source(SourceSpec(str(good)))] == ["q?"]

    latin = write(tmp_path, "csv", as_text("csv", ROWS).encode("cp1252"), "latin")
    with pytest.raises(BenchmarkFormatError, match=r"latin\.csv line 3: not UTF-8"):
        load_generic(latin, "question", "answer", "integer")
    with pytest.raises(DataError, match=r"latin\.csv line 3: not UTF-8"):
        load_records(str(latin))
    with pytest.raises(SchemaError, match=r"latin\.csv, line 3: field '<table>': not UTF-8") as error:
        load_source(SourceSpec(str(latin)))
    assert (error.value.location, error.value.field) == ("line 3", "<table>")

    empty = write(tmp_path, "jsonl", b"", "empty")
    with pytest.raises(DataError, match=r"empty\.jsonl: no records \(an empty training set\)"):
        load_records(str(empty))
    with pytest.raises(SchemaError, match=r"empty\.jsonl, file: field '<table>': empty file \(no rows\)"):
        load_source(str(empty))
