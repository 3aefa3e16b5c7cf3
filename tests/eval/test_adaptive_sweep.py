"""Adaptive rules as sweep settings: built from ``SweepConfig.adaptive``, never prefix-shared (their probes need the
model), run by the sweep runner on the transformers backend with probe tokens recorded apart."""

from __future__ import annotations

import json

import pytest
from doubles import end_provoker

from s1lib.backends.hf import HFEngine
from s1lib.backends.prefix_sharing import generate_sweep
from s1lib.eval.sweep import SweepConfig, build_settings, run_sweep
from s1lib.forcing import BudgetPolicy
from s1lib.forcing.adaptive import AdaptiveStop


@pytest.fixture(scope="module")
def tiny_engine(tiny_model):
    return HFEngine(*tiny_model)


def test_adaptive_settings_in_a_shared_sweep_run_as_alone(tiny_engine):
    grid = [
        BudgetPolicy(max_thinking_tokens=12, max_answer_tokens=3),
        BudgetPolicy(max_thinking_tokens=20, max_answer_tokens=3, adaptive=AdaptiveStop(probe_every=4, agree=1)),
        BudgetPolicy(
            max_thinking_tokens=20,
            num_ignore=2,
            max_answer_tokens=3,
            adaptive=AdaptiveStop(strategy="answer_confidence", threshold=1e-9),
        ),
    ]
    prompts = [tiny_engine.prompt_for(q) for q in ("What is 7 + 5?", "Count the letters: a b c.")]
    shared = generate_sweep(tiny_engine, prompts, grid, batch_size=2, extra_processors=[end_provoker])
    for policy, traces in zip(grid, shared, strict=True):
        alone = tiny_engine.generate(prompts, policy, batch_size=2, extra_processors=[end_provoker])
        assert [t.to_dict() for t in traces] == [t.to_dict() for t in alone]
    assert any(t.thinking_end_reason == "adaptive" for traces in shared[1:] for t in traces)


def _config(shared_data, tmp_path, **changes):
    values = dict(benchmark="aime24", data=str(shared_data), caps=[8, 16], limit=2, max_answer_tokens=3,
                  batch_size=2, output_dir=str(tmp_path / "run"),
                  adaptive=[{"probe_every": 4, "probe_tokens": 3, "agree": 1},
                            {"strategy": "answer_confidence", "threshold": 0.5, "num_ignore": 2}])  # fmt: skip
    values.update(changes)
    return SweepConfig(**values)


def test_settings_and_errors(shared_data, tmp_path):
    settings = {s.label: s for s in build_settings(_config(shared_data, tmp_path))}
    assert set(settings) == {"cap=8", "cap=16", "cap=8 agree=1/4", "cap=16 agree=1/4", "cap=8 wait×2 conf≥0.5",
                             "cap=16 wait×2 conf≥0.5"}  # fmt: skip
    confident = settings["cap=16 wait×2 conf≥0.5"]
    assert confident.policy.num_ignore == 2 and confident.policy.adaptive.threshold == 0.5
    assert confident.method == "adaptive (answer_confidence, hand-picked)" and confident.budget == (0, 16)
    with pytest.raises(ValueError, match=r"SweepConfig.adaptive\[0\].*probe_every"):
        _config(shared_data, tmp_path, adaptive=[{"probe_every": 0}])
    with pytest.raises(ValueError, match=r"SweepConfig.adaptive\[0\].*num_ignore"):
        _config(shared_data, tmp_path, adaptive=[{"strategy": "answer_confidence"}])
    with pytest.raises(ValueError, match=r"SweepConfig.adaptive\[0\].*probe_evry"):
        _config(shared_data, tmp_path, adaptive=[{"probe_evry": 3}])
    assert _config(shared_data, tmp_path, backend="vllm").adaptive  # vLLM runs them too (in rounds)
    with pytest.raises(ValueError, match="caps is empty"):
        _config(shared_data, tmp_path, caps=[], waits=[1])


def test_the_runner_records_probe_tokens_apart(shared_data, tmp_path, tiny_engine):
    run_sweep(_config(shared_data, tmp_path, adaptive=[{"probe_every": 4, "probe_tokens": 3, "agree": 1}]),
              engine=tiny_engine, progress=False)  # fmt: skip
    rows = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    adaptive = [r for r in rows if "agree" in r["setting"]]
    assert len(adaptive) == 2 * 2 and len(rows) == 4 * 2
    for row in adaptive:
        assert row["probes"] and row["probe_tokens"] == sum(p["num_tokens"] for p in row["probes"])
        assert row["policy"]["adaptive"]["probe_every"] == 4
        assert (
            row["thinking_tokens"] == row["probes"][-1]["thinking_tokens"] or row["thinking_end_reason"] != "adaptive"
        )
    assert all(r["probe_tokens"] == 0 and "probes" not in r for r in rows if "agree" not in r["setting"])
