"""LIMO's curation end to end: `s1 curate env/curation/limo-toy.yaml` on CPU, a funnel that accounts for every row."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from s1lib.cli.curate import main
from s1lib.curation.chainscore import ChainScoreConfig, chain_score
from s1lib.curation.config import CurationConfig
from s1lib.curation.passrate import PassBand

ROOT = Path(__file__).resolve().parents[2]
LIMO_TOY = ROOT / "env" / "curation" / "limo-toy.yaml"


@pytest.fixture(scope="module")
def limo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("limo") / "out"
    assert main(["curate", str(LIMO_TOY), "--json", "--output", str(out)]) == 0
    config = CurationConfig.from_file(LIMO_TOY)
    funnel = json.loads((out / "funnel.json").read_text())
    selected = pq.read_table(out / "selected.parquet").to_pylist()
    candidates = pq.read_table(out / "candidates.parquet").to_pylist()
    drops = [json.loads(line) for line in (out / "drops.jsonl").read_text().splitlines()]
    return config, funnel, selected, candidates, drops


def test_the_funnel_accounts_for_every_row(limo_run):
    config, funnel, selected, _, drops = limo_run
    assert funnel["input"] == config.toy["n"] and funnel["output"] == len(selected) == config.total
    assert (
        funnel["input"] == funnel["output"] + sum(s["dropped"] for s in funnel["stages"]) == len(selected) + len(drops)
    )
    for s in funnel["stages"]:
        assert s["in"] - s["out"] == sum(s["reasons"].values())
    ids = [d["row_id"] for d in drops] + [r["row_id"] for r in selected]
    assert len(ids) == len(set(ids))
    assert [s["stage"] for s in funnel["stages"]] == [
        "load", "decontaminate", "dedup", "missing", "format", "difficulty", "chains", "select",
    ]  # fmt: skip
    difficulty = next(s for s in funnel["stages"] if s["stage"] == "difficulty")
    assert {r.split(":")[0] for r in difficulty["reasons"]} == {"too_easy", "too_hard"}


def test_every_kept_question_is_inside_both_bands(limo_run):
    config, _, _, candidates, drops = limo_run
    bands = [PassBand.from_any(b) for b in config.pass_bands]
    for rec in candidates:
        counts = json.loads(rec["pass_counts_json"])
        for band in bands:
            right, n = counts[band.model]
            assert n == band.samples and band.min_correct <= right <= band.max_correct
    items = {r["row_id"]: json.loads(r["metadata"])["n_items"] for r in candidates}
    assert min(items.values()) > 4  # the coarse model solves <= 3 items; the fine one always solves 4
    assert all(d["detail"].endswith("right") for d in drops if d["stage"] == "difficulty")


def test_the_selection_is_the_top_by_chain_score_of_right_chains(limo_run):
    config, _, selected, candidates, _ = limo_run
    score = ChainScoreConfig.from_any(config.chain_score)
    for rec in candidates:
        chain = rec["thinking_trajectories"][0]
        assert rec["chain_score"] == pytest.approx(chain_score(chain, score), abs=1e-6)
        attempts = json.loads(rec["attempts_json"])
        assert attempts[rec["chain_source"]]["correct"] is True and attempts[rec["chain_source"]]["attempt"] == chain
        assert rec["attempt"] == f"\\boxed{{{rec['answer']}}}"
        assert rec["trace_length"] > 0
        others = [a["attempt"] for k, a in attempts.items() if k.startswith("toy-sampler") and a["correct"]]
        assert rec["chain_score"] == pytest.approx(max(chain_score(c, score) for c in others), abs=1e-6)
    cut = min(r["chain_score"] for r in selected)
    chosen = {r["row_id"] for r in selected}
    assert all(r["chain_score"] <= cut for r in candidates if r["row_id"] not in chosen)
    assert len(candidates) > config.total  # the score decided something


def test_limo_gpu_config_loads_with_limos_bands():
    config = CurationConfig.from_file(ROOT / "env" / "curation" / "limo.yaml")
    assert [(b.samples, b.min_correct, b.max_correct) for b in config.bands()] == [(4, 0, 0), (32, 1, 3)]
    assert "Qwen2.5-Math-7B-Instruct" in config.pass_bands[0]["model"] and config.total == 800
    assert config.selector == "limo" and config.chain_models[0] == config.pass_bands[1]["model"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pass_bands": [{"model": "toy-sampler:4", "samples": 8, "min_correct": 5, "max_correct": 3}]}, "pass_bands"),
        ({"pass_bands": [{"model": "gpt", "samples": 8}]}, "not an attempt model"),
        ({"chain_models": ["nope"]}, "not an attempt model"),
        ({"chain_score": {"weights": 1}}, "chain_score option"),
    ],
)
def test_bad_limo_options_fail_before_any_work(change, message):
    with pytest.raises(ValueError, match=message):
        CurationConfig.from_dict({"toy": {"n": 10}, **change})
