"""compare_selections: two curation outputs of one pool, matched by row id; every count adds up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from s1lib.curation.compare import compare_selections
from s1lib.curation.funnel import write_parquet

POOL = {f"r{i}": (f"question {i}", ["sum", "max", "parity"][i % 3], str(i % 2)) for i in range(10)}


def write_run(folder: Path, kept: dict[str, int], drops: dict[str, tuple[str, str]], stages: list[tuple[str, int]]):
    """A curation output folder: ``kept`` row id -> trace length, ``drops`` row id -> (stage, reason)."""
    rows = [
        {
            "row_id": rid,
            "question": POOL[rid][0],
            "domain": POOL[rid][2],
            "metadata": json.dumps({"family": POOL[rid][1]}),
            "trace_length": length,
        }
        for rid, length in kept.items()
    ]
    write_parquet(rows, folder / "selected.parquet")
    funnel = {"input": len(POOL), "stages": [{"stage": s, "out": n} for s, n in stages]}
    (folder / "funnel.json").write_text(json.dumps(funnel))
    lines = [json.dumps({"row_id": r, "stage": s, "reason": why}) for r, (s, why) in drops.items()]
    (folder / "drops.jsonl").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def runs(tmp_path: Path) -> tuple[Path, Path]:
    ids = sorted(POOL, key=lambda r: int(r[1:]))
    s1_kept = {r: 10 + i for i, r in enumerate(ids[:5])}  # r0..r4
    limo_kept = {r: 100 + i for i, r in enumerate(ids[3:6])}  # r3, r4, r5
    s1_drops = {r: ("difficulty", "solved") for r in ids[5:8]} | {r: ("select", "not_selected") for r in ids[8:]}
    limo_drops = {r: ("difficulty", "too_easy") for r in ids[:2]} | {"r2": ("difficulty", "too_hard")}
    limo_drops |= {r: ("select", "not_selected") for r in ids[6:]}
    a = write_run(tmp_path / "s1", s1_kept, s1_drops, [("difficulty", 7), ("select", 5)])
    b = write_run(tmp_path / "limo", limo_kept, limo_drops, [("difficulty", 7), ("chains", 7), ("select", 3)])
    return a, b


def test_overlap_fate_lengths_and_mix_add_up(runs):
    c = compare_selections(*runs)
    assert c.sizes == {"s1": 5, "LIMO": 3}
    assert c.overlap == {"both": 2, "only s1": 3, "only LIMO": 1}
    assert c.overlap["both"] + c.overlap["only s1"] == c.sizes["s1"]
    assert c.overlap["both"] + c.overlap["only LIMO"] == c.sizes["LIMO"]
    # where the other recipe dropped each row only one kept: r0, r1 too easy and r2 too hard for LIMO; r5 solved in s1
    assert c.fate == {
        "only s1": {"difficulty: too_easy": 2, "difficulty: too_hard": 1},
        "only LIMO": {"difficulty: solved": 1},
    }
    assert sorted(c.lengths["s1"]) == [10, 11, 12, 13, 14] and sorted(c.lengths["LIMO"]) == [100, 101, 102]
    assert c.mix["family"] == {"s1": {"sum": 2, "max": 2, "parity": 1}, "LIMO": {"sum": 1, "max": 1, "parity": 1}}
    assert c.mix["domain"] == {"s1": {"0": 3, "1": 2}, "LIMO": {"1": 2, "0": 1}}
    assert c.funnels["LIMO"][0] == ("input", 10) and c.funnels["LIMO"][-1] == ("select", 3)
    assert "both 2, only s1 3, only LIMO 1" in c.table()
    assert json.loads(json.dumps(c.to_dict()))["thinking_tokens"]["LIMO"]["median"] == 101


def test_figures_share_one_stage_axis(runs):
    figures = compare_selections(*runs).figures()
    assert set(figures) == {"overlap", "lengths", "mix_domain", "mix_family", "funnels"}
    assert figures["funnels"].layout.yaxis.categoryarray == ("input", "difficulty", "chains", "select")
    shares = {t.name: dict(zip(t.x, t.y)) for t in figures["mix_family"].data}
    assert shares["LIMO"] == pytest.approx({"max": 100 / 3, "parity": 100 / 3, "sum": 100 / 3})
    assert sum(shares["s1"].values()) == pytest.approx(100)


def test_different_pools_and_missing_outputs_are_named(runs, tmp_path: Path):
    a, b = runs
    funnel = json.loads((b / "funnel.json").read_text())
    (b / "funnel.json").write_text(json.dumps({**funnel, "input": 11}))
    with pytest.raises(ValueError, match=r"not the same pool: .*funnel.json 'input' is 10, .*'input' is 11"):
        compare_selections(a, b)
    POOL["r3"] = ("another question", "sum", "1")
    try:
        write_run(b, {"r3": 1}, {}, [("select", 1)])
        with pytest.raises(ValueError, match=r"row_id 'r3' is a different question"):
            compare_selections(a, b)
    finally:
        POOL["r3"] = ("question 3", "sum", "1")
    with pytest.raises(FileNotFoundError, match=r"empty/selected.parquet not found"):
        compare_selections(a, tmp_path / "empty")
