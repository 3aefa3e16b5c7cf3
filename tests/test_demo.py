"""The main job: ``s1 demo --quick`` runs the four real notebooks as one papermill grid on the embedded model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.model]

STAGES = ["curation", "sft", "forcing", "scaling"]


def test_demo_quick_end_to_end(tmp_path: Path):
    command = [sys.executable, "-m", "s1lib.cli", "demo", "--quick", "--output-root", str(tmp_path), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    printed = json.loads(done.stdout)
    grid = tmp_path / "demo-quick"
    assert printed["counts"] == {"done": 4} and printed["report"] == str(grid / "report.html")

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
    assert {s["problem_id"] for s in samples} == {f"toy-{i}" for i in range(6)}, "held-out toy problems"

    # One report with the funnel, loss curve, scaling curve and Control/Scaling/Performance table, and timings.
    report = (grid / "report.html").read_text()
    for title in ("Curation funnel", "Training loss", "Test-time scaling", "Sequential scaling"):  # "/" is escaped
        assert title in report, title
    assert report.count("plotly.js v") <= 2, "plotly.js is embedded once"
    timings = json.loads((grid / "timings.json").read_text())
    assert list(timings["stages"]) == STAGES and all(timings["stages"][s] > 0 for s in STAGES)

    # A rerun reuses every finished stage.
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert sorted(json.loads(again.stdout)["reused"]) == sorted(STAGES)
