"""Adaptive settings evaluated: probe tokens reported apart from thinking tokens in results.json and the summary, the
Pareto figure (fixed budgets as a curve, each adaptive setting a labelled point, drawn at thinking and at thinking +
probe tokens, with 95% intervals), its place among the sweep's figures, and notebook 05's runner."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from s1lib import viz
from s1lib.cli.eval import register_cli, write_figures
from s1lib.eval.pareto import DEMO_MODEL, describe_model, pareto_rows, resolve_model, run_pareto
from s1lib.eval.store import summarize
from s1lib.eval.summary import scaling_summary
from s1lib.notebook_params import AdaptiveParams
from s1lib.widgets import policy_from_controls


def _record(setting: str, method: str, problem: int, correct: bool, thinking: int, probes: list[int] = ()) -> dict:
    record = {
        "setting": setting, "method": method, "problem_id": str(problem), "sample": 0,
        "status": "correct" if correct else "wrong", "thinking_tokens": thinking, "answer_tokens": 3,
        "probe_tokens": sum(probes), "budget": [0, 64],
        "thinking_end_reason": "adaptive" if probes and thinking < 64 else "cap",
    }  # fmt: skip
    if probes:
        record["probes"] = [{"thinking_tokens": 8 * (i + 1), "num_tokens": n} for i, n in enumerate(probes)]
    return record


def records() -> list[dict]:
    """Four problems: fixed caps 16 and 64, and one rule that stopped early on two problems (6 tokens a probe)."""
    out = []
    for i in range(4):
        out.append(_record("cap=16", "budget forcing", i, i == 0, 16))
        out.append(_record("cap=64", "budget forcing", i, i < 3, 60 + i))
        early = i < 2
        out.append(
            _record("cap=64 agree=2/8", "adaptive (probe_consistency)", i, i < 3, 16 if early else 64,
                    [6, 6] if early else [6] * 8)
        )  # fmt: skip
    return out


def test_results_report_thinking_probe_and_compute_tokens_apart():
    results = summarize(records(), ["cap=16", "cap=64", "cap=64 agree=2/8"])
    fixed, _, rule = results["settings"]
    assert (fixed["avg_thinking_tokens"], fixed["avg_probe_tokens"], fixed["avg_probes"]) == (16, 0, 0)
    assert fixed["avg_thinking_plus_probe_tokens"] == 16 and "adaptive_stop_rate" not in fixed
    assert rule["avg_thinking_tokens"] == (16 + 16 + 64 + 64) / 4  # never the probes
    assert rule["avg_probe_tokens"] == (12 + 12 + 48 + 48) / 4 and rule["avg_probes"] == (2 + 2 + 8 + 8) / 4
    assert rule["avg_thinking_plus_probe_tokens"] == 40 + 30
    assert rule["adaptive_stop_rate"] == 0.5
    assert (rule["accuracy"], rule["ci_method"]) == (0.75, "wilson") and rule["ci_low"] < 0.75 < rule["ci_high"]
    summary = {s["label"]: s for s in scaling_summary(results)["settings"]}
    assert summary["cap=64 agree=2/8"]["mean_probe_tokens"] == 30
    assert summary["cap=64 agree=2/8"]["method"] == "adaptive_probe_consistency"
    assert summary["cap=16"]["mean_probe_tokens"] == 0
    (row,) = [r for r in pareto_rows(results) if r["setting"] == "cap=64 agree=2/8"]
    assert (row["thinking_tokens"], row["probe_tokens"], row["compute_tokens"]) == (40, 30, 70)


def test_pareto_figure_fixed_curve_and_adaptive_points_at_both_costs():
    settings = summarize(records(), ["cap=64", "cap=16", "cap=64 agree=2/8"])["settings"]
    settings.append({**settings[2], "setting": "cap=32 conf≥0.9", "method": "adaptive (answer_confidence)"})
    fig = viz.pareto_figure(settings)
    names = [t.name for t in fig.data]
    assert names == [
        "budget forcing (fixed budgets)",
        "adaptive (probe_consistency): thinking tokens",
        "adaptive (probe_consistency): thinking + probe tokens",
        "adaptive (answer_confidence): thinking tokens",
        "adaptive (answer_confidence): thinking + probe tokens",
    ]
    fixed, thinking, compute = fig.data[:3]
    assert fixed.mode == "lines+markers" and list(fixed.x) == [16, 61.5]  # sorted by thinking
    assert list(fixed.text) == ["cap=16", "cap=64"] and list(fixed.y) == pytest.approx([25, 75])
    assert list(thinking.x) == [40] and list(compute.x) == [70] and list(thinking.text) == ["cap=64 agree=2/8"]
    assert "text" in thinking.mode and compute.marker.symbol == "circle-open"
    for trace in fig.data:  # every point has its 95% interval
        assert trace.error_y.array is not None and all(v >= 0 for v in trace.error_y.array)
        assert all(v >= 0 for v in trace.error_y.arrayminus)
    low = settings[2]["ci_low"]
    assert thinking.error_y.arrayminus[0] == pytest.approx(75 - 100 * low)
    assert len(fig.layout.shapes) == 2  # a dotted line from each point's thinking to its thinking + probe cost
    assert fig.layout.xaxis.type == "log"
    with pytest.raises(ValueError, match="no 'budget forcing' or adaptive settings"):
        viz.pareto_figure([{**settings[0], "method": "majority voting"}])


def test_the_sweep_writes_the_pareto_figure_only_with_adaptive_settings(tmp_path):
    rows = records()
    results = summarize(rows, ["cap=16", "cap=64", "cap=64 agree=2/8"])
    names = {p.name for p in write_figures(results, rows, tmp_path / "with")}
    assert "pareto.html" in names and (tmp_path / "with" / "pareto.plotly.json").exists()
    fixed = [r for r in rows if r["method"] == "budget forcing"]
    assert "pareto.html" not in {p.name for p in write_figures(summarize(fixed), fixed, tmp_path / "without")}


def test_resolve_model_prefers_the_demo_model_when_it_exists(tmp_path):
    assert resolve_model("default") == "default" and resolve_model("/some/folder") == "/some/folder"
    assert resolve_model("demo", roots=[tmp_path]) == "default"
    folder = tmp_path / DEMO_MODEL
    folder.mkdir(parents=True)
    assert resolve_model("demo", roots=[tmp_path]) == "default"  # a folder without a model is no model
    (folder / "config.json").write_text("{}")
    assert resolve_model("demo", roots=[tmp_path / "elsewhere", tmp_path]) == str(folder)
    assert describe_model(str(folder)) == "the demo's fine-tuned model"
    assert describe_model("default") == "the embedded model" and describe_model("org/name") == "name"


def test_notebook_params_build_the_sweep(tmp_path):
    params = AdaptiveParams(model="default", output_dir=str(tmp_path), limit=3)
    config = params.sweep_config(batch_size=2)
    assert (config.caps, config.limit, config.batch_size, config.model) == ([8, 16, 32, 64], 3, 2, "default")
    assert [rule["strategy"] for rule in config.adaptive] == ["probe_consistency", "answer_confidence"]
    assert config.benchmark == "toy" and config.data is None and config.engine_options == {"dtype": "auto"}
    assert params.live_controls() == {"adaptive": "probe_consistency", "probe_every": 16, "agree": 3,
                                      "threshold": 0.95, "num_ignore": 0, "probe_tokens": 6,
                                      "probe_opening": " \\boxed{", "probe_transitions": False}  # fmt: skip
    confident = params.live_controls("answer_confidence")
    assert (confident["threshold"], confident["num_ignore"]) == (0.9, 2)
    at_own_waits = AdaptiveParams(adaptive=[{"strategy": "answer_confidence", "probe_transitions": True}])
    transitions = at_own_waits.live_controls("answer_confidence")  # the sweep runs it with no forced Wait
    assert (transitions["probe_transitions"], transitions["num_ignore"]) == (True, 0)
    policy_from_controls(64, **transitions)  # a policy the widget can run
    with pytest.raises(ValueError, match=r"SweepConfig.adaptive\[0\]"):
        AdaptiveParams(adaptive=[{"strategy": "dynasor"}]).sweep_config()


def test_run_pareto_on_the_tiny_model(tiny_model_dir: Path, tmp_path: Path):
    """Notebook 05's call end to end: fixed caps and both rules, the rows and the figure written beside results."""
    params = AdaptiveParams(
        model=str(tiny_model_dir), output_dir=str(tmp_path / "run"), limit=2, budgets=[4, 8], max_answer_tokens=3,
        adaptive=[{"probe_every": 2, "agree": 1, "probe_tokens": 3},
                  {"strategy": "answer_confidence", "threshold": 0.5, "num_ignore": 1, "probe_tokens": 3}],
    )  # fmt: skip
    run = run_pareto(params.sweep_config(), progress=False)
    labels = [r["setting"] for r in run.rows]
    assert labels == ["cap=4", "cap=8", "cap=4 agree=1/2", "cap=8 agree=1/2", "cap=4 wait×1 conf≥0.5",
                      "cap=8 wait×1 conf≥0.5"]  # fmt: skip
    stored = json.loads((tmp_path / "run" / "pareto.json").read_text())
    assert stored == run.rows and run.figure_path == tmp_path / "run" / "pareto.html" and run.figure_path.exists()
    consistency = [r for r in run.rows if "agree" in r["setting"]]
    assert all(r["probe_tokens"] > 0 and r["compute_tokens"] == r["thinking_tokens"] + r["probe_tokens"]
               for r in consistency)  # fmt: skip
    assert all(r["probe_tokens"] == 0 for r in run.rows if r["method"] == "budget forcing")
    assert len(run.figure.data) == 1 + 2 * 2
    with pytest.raises(ValueError, match="no adaptive rules"):
        run_pareto(params.sweep_config(adaptive=[]), progress=False)


def test_s1_sweep_with_adaptive_rules_prints_probe_tokens_and_writes_the_figure(tiny_model_dir, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="s1")
    register_cli(parser.add_subparsers(dest="command"))
    grid = tmp_path / "grid.yaml"
    grid.write_text(
        f"benchmark: toy\nmodel: {tiny_model_dir}\ncaps: [6]\nmax_answer_tokens: 2\nlimit: 2\n"
        "adaptive:\n  - {probe_every: 3, agree: 1, probe_tokens: 2}\n"
    )
    out = tmp_path / "sweep"
    args = parser.parse_args(["sweep", str(grid), "--output", str(out), "--no-progress"])
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert " probe " in text.splitlines()[0] and "pareto.html" in text
    results = json.loads((out / "results.json").read_text())
    rule = next(s for s in results["settings"] if s["method"] == "adaptive (probe_consistency, hand-picked)")
    assert rule["avg_probe_tokens"] > 0 and (out / "pareto.html").exists()


def test_the_overthinking_grid_and_its_bench_config_build_their_sweeps(tmp_path):
    """env/batch/overthink.yaml's notebook-05 run and env/bench/adaptive-overthink.yaml name valid rules, DEER's
    probes at the model's own Waits among them."""
    from s1lib.batch.grid import load_grid
    from s1lib.benches.adaptive import sweep_config
    from s1lib.benches.adaptive_config import AdaptiveBenchConfig
    from s1lib.eval.sweep import build_settings

    root = Path(__file__).resolve().parents[2]
    grid = load_grid(root / "env/batch/overthink.yaml", output_root=tmp_path)
    (run,) = [r for r in grid.runs if r.run_id == "adaptive"]
    names = {k: v for k, v in run.parameters.items() if k in AdaptiveParams.__dataclass_fields__}
    config = AdaptiveParams(**{**names, "model": "default", "data": None}).sweep_config()
    assert len(build_settings(config)) == len(config.caps) + len(config.adaptive) == 6 + 2
    assert any(rule.get("probe_transitions") for rule in config.adaptive)
    bench = AdaptiveBenchConfig.from_file(root / "env/bench/adaptive-overthink.yaml")
    assert len(build_settings(sweep_config(bench, "m", None, str(tmp_path)))) == len(bench.caps) + len(bench.adaptive)


def test_the_calibrated_point_is_marked_and_its_choice_explained():
    from s1lib.eval.calibration import CalibrationTarget, Candidate, Outcome, calibrate
    from s1lib.eval.pareto import calibration_lines
    from s1lib.eval.summary import method_name

    settings = summarize(records(), ["cap=64", "cap=16", "cap=64 agree=2/8"])["settings"]
    settings.append({**settings[2], "setting": "calibrated cap=64 agree=2/8", "method": "adaptive (calibrated)"})
    names = [t.name for t in viz.pareto_figure(settings).data]
    assert (
        "adaptive (calibrated): thinking tokens" in names and "adaptive (calibrated): thinking + probe tokens" in names
    )
    assert method_name("adaptive (calibrated)") == "adaptive_calibrated"
    assert method_name("adaptive (probe_consistency, hand-picked)") == "adaptive_probe_consistency"
    reference = {f"c{i}": Outcome(True, 64.0) for i in range(60)}
    candidates = [Candidate("agree=3/16", {}, {k: Outcome(True, 48.0, 8.0) for k in reference})]
    result = calibrate(reference, candidates, CalibrationTarget(0.05, 0.9))
    lines = calibration_lines({"calibration": result.to_dict()})
    assert lines[0].startswith("calibrated on 60 problems apart") and "harm rate <= 0.05" in lines[0]
    assert "agree=3/16: 0 harmed, p = 0.046" in lines[1] and lines[1].endswith("certified")
    assert lines[-1] == "chosen: agree=3/16" and calibration_lines({}) == []
