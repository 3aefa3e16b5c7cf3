"""The one config loader (s1lib.configfile): YAML/JSON to a mapping, errors naming the file and line, unknown fields
named with the file they came from; and the loaders of curation, training and batch grids built on it."""

from __future__ import annotations

import codecs
from dataclasses import dataclass

import pytest

from s1lib.configfile import ConfigFileError, check_fields, config_from_dict, read_config


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("c.yaml", b"a: 1\r\nb: [x, y]\r\n"),
        ("c.yml", codecs.BOM_UTF8 + b"a: 1\nb: [x, y]\n"),
        ("c.json", codecs.BOM_UTF8 + b'{"a": 1,\r\n "b": ["x", "y"]}\r\n'),
    ],
)
def test_yaml_and_json_load_with_bom_and_crlf(tmp_path, name, data):
    (tmp_path / name).write_bytes(data)
    assert read_config(tmp_path / name) == {"a": 1, "b": ["x", "y"]}


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("c.yaml", b"a: 1\nb: [unclosed\n", r"c\.yaml line 3: not valid YAML \(expected ',' or '\]'"),
        ("c.json", b'{"a": 1,\n "b" 2}', r"c\.json line 2: not valid JSON \(Expecting ':' delimiter, column 6\)"),
        ("c.yaml", "a: café\n".encode("cp1252"), r"c\.yaml line 1: not UTF-8 text"),
        ("c.yaml", b"# only a comment\n", r"c\.yaml: the file is empty; expected a mapping of X fields"),
        ("c.json", b"  \n", r"c\.json: the file is empty"),
        ("c.yaml", b"- a\n- b\n", r"c\.yaml: expected a mapping of X fields at the top level, got list"),
        ("c.toml", b"a = 1\n", r"c\.toml: expected a thing file ending in \.yaml, \.yml, \.json"),
    ],
)
def test_unreadable_files_name_the_file_and_line(tmp_path, name, data, message):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(ConfigFileError, match=message):
        read_config(tmp_path / name, "thing", "a mapping of X fields")


def test_missing_file_names_the_kind(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.yaml: sweep file not found"):
        read_config(tmp_path / "nope.yaml", "sweep")


@dataclass
class Small:
    a: int = 1
    b: str = "x"


def test_unknown_fields_are_named_with_their_origin():
    assert config_from_dict(Small, {"a": 2}) == Small(2, "x")
    with pytest.raises(ValueError, match=r"^Unknown field\(s\) \['c', 'd'\]; expected some of \['a', 'b'\]$"):
        config_from_dict(Small, {"a": 2, "d": 0, "c": 1})
    with pytest.raises(ValueError, match=r"^run\.yaml: unknown Small option\(s\) \['c'\]"):
        check_fields(Small, {"c": 1}, "run.yaml", noun="Small option")


def test_stage_loaders_read_through_it(tmp_path):
    from s1lib.batch.grid import GridError, load_grid
    from s1lib.curation.config import CurationConfig
    from s1lib.train.config import TrainConfig

    (tmp_path / "train.yaml").write_bytes(codecs.BOM_UTF8 + b"preset: cpu-demo\r\nblock_size: 256\r\n")
    assert TrainConfig.from_file(tmp_path / "train.yaml").block_size == 256
    (tmp_path / "cur.yaml").write_text("total: 5\ntotl: 3\n")
    with pytest.raises(ValueError, match=r"cur\.yaml: unknown curation option\(s\) \['totl'\]"):
        CurationConfig.from_file(tmp_path / "cur.yaml")
    (tmp_path / "grid.yaml").write_text("")
    with pytest.raises(GridError, match=r"grid\.yaml: the file is empty; expected a mapping with a 'jobs' list"):
        load_grid(tmp_path / "grid.yaml")
