"""``s1 eval`` and ``s1 sweep``: results, figures and clear errors, on the tiny model."""

from __future__ import annotations

import argparse
import json

import pytest

from s1lib.cli.eval import register_cli


@pytest.fixture()
def parser():
    p = argparse.ArgumentParser(prog="s1")
    register_cli(p.add_subparsers(dest="command"))
    return p


FIGURES = {
    "scaling_curve.html",
    "metrics_table.html",
    "thinking_lengths.html",
    "forced_insertions.html",
    "overthinking.html",
}


def test_eval_one_policy_writes_results_and_figures(parser, tiny_model_dir, shared_data, tmp_path, capsys):
    out = tmp_path / "eval"
    args = parser.parse_args([
        "eval", "aime24", "--data", str(shared_data), "--model", str(tiny_model_dir), "--max-thinking-tokens", "5",
        "--num-ignore", "1", "--max-answer-tokens", "3", "--limit", "2", "--output", str(out), "--json",
        "--no-progress",
    ])  # fmt: skip
    assert args.func(args) == 0
    printed = json.loads(capsys.readouterr().out)
    (setting,) = printed["settings"]
    assert setting["setting"] == "cap=5 wait×1" and setting["n"] == 2
    assert setting["avg_thinking_tokens"] <= 5 and setting["control"] == 1.0
    assert {p.split("/")[-1] for p in printed["figures"]} == FIGURES
    assert {p.name for p in out.iterdir()} >= FIGURES
    assert "plotly" in (out / "scaling_curve.html").read_text()[:200000].lower()
    assert len((out / "samples.jsonl").read_text().splitlines()) == 2


def test_sweep_from_yaml_with_overrides(parser, tiny_model_dir, shared_data, tmp_path, capsys):
    grid = tmp_path / "grid.yaml"
    grid.write_text(
        f"benchmark: math500\ndata: {shared_data}\nmodel: {tiny_model_dir}\ncaps: [3, 6]\nwaits: [1]\n"
        "wait_cap: 8\nmax_answer_tokens: 2\nlimit: 5\n"
    )
    out = tmp_path / "sweep"
    args = parser.parse_args(["sweep", str(grid), "--limit", "2", "--output", str(out), "--no-progress"])
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "budget forcing" in text and "scaling pp/doubling" in text
    results = json.loads((out / "results.json").read_text())
    assert [s["setting"] for s in results["settings"]] == ["cap=3", "cap=6", "wait×1"]
    assert all(s["n"] == 2 for s in results["settings"])
    assert {p.name for p in out.iterdir()} >= FIGURES


def test_sweep_errors_are_clear(parser, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("benchmark: aime24\ncaps: []\n")
    args = parser.parse_args(["sweep", str(bad)])
    with pytest.raises(ValueError, match="grid is empty"):
        args.func(args)
    bad.write_text("benchmark: aime24\ncapz: [1]\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: unknown field\(s\) \['capz'\]"):
        args.func(args)
    bad.write_text("benchmark: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        args.func(args)
    missing = parser.parse_args(["sweep", str(tmp_path / "none.yaml")])
    with pytest.raises(FileNotFoundError, match=r"none\.yaml"):
        missing.func(missing)


def test_main_parser_has_eval_and_sweep():
    from s1lib.cli import build_parser

    parsed = build_parser().parse_args(["sweep", "grid.yaml", "--limit", "3", "--json"])
    assert parsed.limit == 3 and parsed.json and parsed.grid == "grid.yaml"
    parsed = build_parser().parse_args(["eval", "math500", "--max-thinking-tokens", "64"])
    assert parsed.max_thinking_tokens == 64 and parsed.benchmark == "math500"
