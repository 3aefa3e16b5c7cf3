"""Every marimo notebook runs as a plain script (writing its outputs) and exports to HTML, with tiny parameters."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

MARIMO = Path(__file__).resolve().parents[2] / "notebooks" / "marimo"
VENV_BIN = Path(sys.executable).parent


TINY_ARGS = {
    "01_curation": "--toy-n 150 --total 40 --tokenizer estimate",
    "02_sft": "--model {model} --max-steps 2 --toy-examples 8 --block-size 256",
    "03_budget_forcing": "--model {model} --budgets 4,8 --max-thinking-tokens 8",
    "04_test_time_scaling": (
        "--model {model} --caps 4,8 --waits 0,1 --wait-cap 8 --baselines token_conditional --token-budgets 6 "
        "--limit 1 --max-answer-tokens 4"
    ),
    "05_adaptive_budget": "--model {model} --budgets 4,8 --limit 2 --batch-size 2 --max-answer-tokens 3",
}
TINY_ADAPTIVE = '[{"probe_every": 2, "agree": 1, "probe_tokens": 3}, {"strategy": "answer_confidence", "threshold": 0.5, "num_ignore": 1, "probe_tokens": 3}]'  # noqa: E501


def tiny_args(name: str, model: str, out: Path, request: pytest.FixtureRequest) -> list[str]:
    args = ["--output-dir", str(out), *TINY_ARGS[name].format(model=model).split()]
    if name == "04_test_time_scaling":  # AIME24 from the benchmark data (the test skips where there is none)
        args += ["--data", str(request.getfixturevalue("shared_data"))]
    if name == "05_adaptive_budget":  # both rules, probing often and cheaply (one argument: JSON has spaces)
        args += ["--adaptive", TINY_ADAPTIVE]
    return args


EXPECTED = {
    "01_curation": [
        "selected.parquet",
        "funnel.html",
        "domains.html",
        "metrics.json",
        "limo/selected.parquet",
        "selection_comparison.json",
    ],
    "02_sft": ["loss_curve.html", "metrics.json", "model/config.json"],
    "03_budget_forcing": ["traces.json", "metrics.json", "forced_insertions.html", "thinking_vs_budget.html"],
    "04_test_time_scaling": [
        "results.json",
        "scaling_curve.html",
        "metrics_table.html",
        "metrics.json",
        "scaling_summary.json",
    ],
    "05_adaptive_budget": ["results.json", "metrics.json", "pareto.json", "pareto.html"],
}


def test_every_stage_has_a_marimo_notebook():
    assert sorted(p.stem for p in MARIMO.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(EXPECTED))
def test_marimo_notebook_runs_as_script(name: str, tmp_path: Path, tiny_model_dir: Path, request):
    out = tmp_path / "out"
    cmd = [sys.executable, str(MARIMO / f"{name}.py"), *tiny_args(name, str(tiny_model_dir), out, request)]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for relative in EXPECTED[name]:
        assert (out / relative).exists(), f"{name} did not write {relative}"
    if name == "03_budget_forcing":  # the streamed run (script mode) prints its counter at the end
        assert "8 / 8 thinking tokens" in done.stdout, done.stdout[-2000:]
        metrics = json.loads((out / "metrics.json").read_text())  # the same budget comparison as the Jupyter one
        assert metrics["control"] == 1.0 and metrics["thinking_tokens"] == {"4": 4, "8": 8}
    if name == "04_test_time_scaling":  # every method asked for on the command line was measured
        methods = {m["method"] for m in json.loads((out / "metrics.json").read_text())}
        assert {"token-conditional"} < methods and len(methods) >= 3, methods
    if name == "05_adaptive_budget":  # both rules ran at both budgets, and the live stream showed its probes
        rows = json.loads((out / "pareto.json").read_text())
        assert len(rows) == 2 + 2 * 2 and any(r["probe_tokens"] > 0 for r in rows)
        assert "probe tokens)" in done.stdout, done.stdout[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(EXPECTED))
def test_marimo_export_html(name: str, tmp_path: Path, tiny_model_dir: Path, request):
    html = tmp_path / f"{name}.html"
    cmd = [
        str(VENV_BIN / "marimo"), "export", "html", str(MARIMO / f"{name}.py"), "-o", str(html), "-f", "--",
        *tiny_args(name, str(tiny_model_dir), tmp_path / "out", request),
    ]  # fmt: skip
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    text = html.read_text()
    assert "<marimo-" in text or "marimo" in text
    assert len(text) > 10_000
