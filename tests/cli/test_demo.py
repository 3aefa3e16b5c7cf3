"""The main job: ``s1 demo --quick`` runs the five real notebooks as one papermill grid on the embedded model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.model]

STAGES = ["curation", "sft", "forcing", "scaling", "adaptive"]


def test_demo_quick_end_to_end(tmp_path: Path):
    command = [sys.executable, "-m", "s1lib.cli", "demo", "--quick", "--output-root", str(tmp_path), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    printed = json.loads(done.stdout)
    grid = tmp_path / "demo-quick"
    assert printed["counts"] == {"done": 5} and printed["report"] == str(grid / "report.html")

    # Each stage ran as a papermill run and fed the next one.
    sft = json.loads((grid / "sft" / "run.json").read_text())
    assert sft["parameters"]["data"] == str(grid / "curation" / "selected.parquet")
    assert json.loads((grid / "curation" / "metrics.json").read_text())["output"] > 0
    trained = json.loads((grid / "sft" / "metrics.json").read_text())
    assert trained["global_step"] == 3 and trained["final_loss"] > 0
    methods = {m["method"]: m for m in json.loads((grid / "scaling" / "metrics.json").read_text())}
    assert {"budget forcing", "token-conditional"} <= set(methods)
    assert methods["budget forcing"]["control"] == 1.0  # caps are exact
    samples = [json.loads(line) for line in (grid / "scaling" / "samples.jsonl").read_text().splitlines()]
    limit = 8  # env/batch/demo.yaml, profile quick
    assert {s["problem_id"] for s in samples} == {f"toy-{i}" for i in range(limit)}, "held-out toy problems"

    # The headline numbers in their schema, every interval around its point.
    summary = json.loads((grid / "scaling" / "scaling_summary.json").read_text())
    assert summary["n_problems"] == limit
    assert {s["method"] for s in summary["settings"]} == {
        "budget_forcing_cap",
        "budget_forcing_wait",
        "token_conditional",
    }
    for s in summary["settings"]:
        assert set(s) == {
            "method", "label", "budget", "accuracy", "ci_low", "ci_high", "mean_thinking_tokens", "mean_probe_tokens",
            "censored_rate", "accuracy_uncensored", "efficiency",
        }  # fmt: skip
        assert 0.0 <= s["censored_rate"] <= 1.0
        rates = s["efficiency"]
        assert 0.0 <= rates["cut_by_cap_rate"] + rates["never_closed_rate"] <= 1.0
        assert s["mean_probe_tokens"] == 0  # no adaptive rule in the demo's scaling stage
        assert isinstance(s["label"], str) and (s["budget"] is None or isinstance(s["budget"], int))
        assert 0 <= s["ci_low"] <= s["accuracy"] <= s["ci_high"] <= 1 and s["mean_thinking_tokens"] >= 0
    caps = [s for s in summary["settings"] if s["method"] == "budget_forcing_cap"]
    assert [s["budget"] for s in caps] == [8, 32] and caps[0]["mean_thinking_tokens"] <= 8
    (cap_change,) = [c for c in summary["changes"] if c["method"] == "budget_forcing_cap"]
    assert cap_change["ci_low"] <= cap_change["difference"] <= cap_change["ci_high"]
    assert set(summary["chance"]) >= {"all", "count", "max", "parity", "sum"}

    # The hindsight figures: where the first correct answer sits in each setting's thinking, and what came after.
    for s in summary["settings"]:
        rates = s["efficiency"]
        assert {"first_correct_in_thinking_rate", "tokens_before_first_correct", "tokens_after_first_correct",
                "answer_settled_in_thinking_rate", "tokens_after_settled_answer"} <= set(rates)  # fmt: skip
        if rates["tokens_after_settled_answer"] is not None:  # after the answer that stays: within the thinking
            assert 0 <= rates["tokens_after_settled_answer"] <= s["mean_thinking_tokens"] / rates[
                "answer_settled_in_thinking_rate"] + 1e-9  # fmt: skip
        if rates["tokens_after_first_correct"] is not None:  # per located sample, before + after = its thinking
            assert rates["tokens_before_first_correct"] >= 0 and rates["tokens_after_first_correct"] >= 0
            assert 0 < rates["first_correct_in_thinking_rate"] <= 1
            if s["method"] == "budget_forcing_cap":
                spent = rates["tokens_before_first_correct"] + rates["tokens_after_first_correct"]
                assert spent <= s["budget"] + 1e-9

    # The adaptive stage: fixed caps, the hand-picked rule and the calibrated one at the largest cap, its figure.
    pareto = {r["setting"]: r for r in json.loads((grid / "adaptive" / "pareto.json").read_text())}
    assert {"cap=8", "cap=32"} <= set(pareto)
    adaptive = [r for name, r in pareto.items() if name not in ("cap=8", "cap=32")]
    assert all(r["probe_tokens"] > 0 or not r["adaptive_stop_rate"] for r in adaptive), "probes counted apart"
    assert [r["method"] for r in adaptive if "hand-picked" in r["method"]] == [
        "adaptive (probe_consistency, hand-picked)"
    ]
    assert (grid / "adaptive" / "pareto.plotly.json").is_file()
    # The calibration: chosen on 45 toy problems apart, before the held-out ones; its point and its report.
    calibration = json.loads((grid / "adaptive" / "results.json").read_text())["calibration"]
    assert calibration["problems"] == 45 and calibration["cap"] == 32
    reported = json.loads((grid / "adaptive" / "adaptive_summary.json").read_text())
    calibrated = [r for r in adaptive if r["method"] == "adaptive (calibrated)"]
    for r in calibrated:  # probes every 8 tokens: always probes
        assert r["probe_tokens"] > 0 and r["adaptive_stop_rate"] is not None, "probes counted apart"
    assert reported["calibrated"] == bool(calibration["chosen"]) == bool(calibrated)
    assert reported["setting"] == (calibrated[0]["setting"] if calibrated else "cap=32")
    assert reported["full"]["setting"] == "cap=32" and reported["matched_fixed"]["setting"] in pareto
    for delta in (reported["accuracy_delta"], reported["accuracy_vs_full"]):
        assert delta["ci_low"] <= delta["difference"] <= delta["ci_high"]
    for bound in ("hindsight_bound", "hindsight_first_correct"):  # shares of the full budget's thinking
        assert reported[bound] is None or 0 <= reported[bound] <= 1
    # What `s1 demo` prints last: the scaling stage's headline, one line per adaptive setting, the calibrated report.
    from s1lib.batch.grid import load_grid
    from s1lib.cli.demo import DEMO_GRID, stage_headlines

    lines = stage_headlines(load_grid(DEMO_GRID, profile="quick", output_root=tmp_path))
    assert [line.split(":")[0] for line in lines] == ["scaling"] + ["adaptive"] * (len(adaptive) + 3)
    assert all(
        f"{r['thinking_tokens']:.1f} thinking + {r['probe_tokens']:.1f} probe" in "".join(lines) for r in adaptive
    )
    assert lines[-3].startswith(f"adaptive: reported: {reported['setting']}")

    # Each stage's progress reached the console as it ran, with the stage it belongs to.
    assert "sft | SFT step 1/3 · loss" in done.stderr and "sft | SFT step 3/3" in done.stderr
    assert "scaling | sweep toy:" in done.stderr

    # One report with the funnel, loss curve, scaling curve and Control/Scaling/Performance table, and timings.
    report = (grid / "report.html").read_text()
    titles = ("Curation funnel", "Training loss", "Test-time scaling", "Sequential scaling", "against adaptive stops")
    for title in titles:  # "/" is escaped
        assert title in report, title
    assert report.count("plotly.js v") <= 2, "plotly.js is embedded once"
    timings = json.loads((grid / "timings.json").read_text())
    assert list(timings["stages"]) == STAGES and all(timings["stages"][s] > 0 for s in STAGES)
    # The precision auto chose is recorded: for the machine and for each stage that computed.
    assert timings["machine"]["requested"] == "auto" and timings["machine"]["dtype"] in ("float32", "bfloat16")
    assert timings["precision"]["scaling"] == timings["machine"]["dtype"]
    assert timings["precision"]["sft"].startswith(("bf16 autocast", "weights in float32"))
    # And where each stage computed: auto resolved (the GPU where torch sees one), the same for training and decoding.
    from s1lib.device import resolve_device

    assert timings["device"]["sft"] == timings["device"]["scaling"] == resolve_device("auto")
    assert "precision <code>auto</code>" in report

    # A rerun reuses every finished stage.
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert sorted(json.loads(again.stdout)["reused"]) == sorted(STAGES)
