"""The grid report reads at a glance: each stage's row heads with its figures in words, its raw keys one click away.

The stage outputs here are small files in the layout the demo's notebooks write (``metrics.json`` of each stage's
result, the SFT log beside the model, ``scaling_summary.json``, ``adaptive_summary.json`` and ``pareto.json``), so
the report is built without running a notebook.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from s1lib.batch.report import collect, render_html


@dataclass
class FakeRun:
    run_id: str
    job: str
    notebook: str = "stage.ipynb"
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class FakeGrid:
    """What the report reads of a grid: its runs, their folders, its name and folder."""

    directory: Path
    runs: list[FakeRun]
    name: str = "demo"

    def run_dir(self, run_id: str) -> Path:
        return self.directory / run_id


def write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def curation(folder: Path) -> None:
    stages = [("load", 1000, 1000), ("quality", 1000, 880), ("difficulty", 880, 480), ("select", 480, 300)]
    write(
        folder / "metrics.json",
        {
            "input": 1000,
            "output": 300,
            "stages": [
                {"stage": s, "in": a, "out": b, "dropped": a - b, "reasons": {}, "seconds": 0.1} for s, a, b in stages
            ],
            "domains": {str(d): 43 for d in range(60, 100)},
        },
    )


def sft(folder: Path) -> None:
    model = folder / "model"
    write(
        folder / "metrics.json",
        {
            "output_dir": str(model),
            "model_dir": str(model),
            "adapter_dir": None,
            "global_step": 60,
            "final_loss": 0.31,
            "lengths": {"block_size": 256, "examples": 144},
            "metrics": {"train_runtime": 120.5, "precision": {"bf16": False, "model_dtype": "float32"}},
            "resumed_from": None,
        },
    )
    losses = [1.96, 1.2, 0.8, 0.5, 0.4, 0.31]
    rows = [{"step": 10 * (i + 1), "max_steps": 60, "loss": loss} for i, loss in enumerate(losses)]
    model.mkdir()
    (model / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def forcing(folder: Path) -> None:
    write(
        folder / "metrics.json",
        {
            "control": 1.0,
            "thinking_tokens": {"8": 8, "16": 16, "32": 30},  # JSON keys: caps in numeric order all the same
            "answers": {"8": "Final Answer: 47. Wait, let me check.", "16": "Answer:", "32": "Answer: \\boxed{95}"},
        },
    )


def interval(accuracy: float, low: float, high: float) -> dict[str, float]:
    return {"accuracy": accuracy, "ci_low": low, "ci_high": high}


def scaling(folder: Path) -> None:
    methods = [
        {
            "method": "budget forcing",
            "settings": ["cap=4", "cap=128"],
            "points": [[4.0, 0.11], [90.0, 0.5]],
            "intervals": [[0.06, 0.19], [0.4, 0.6]],
            "control": 1.0,
            "scaling_log2_pp": 8.7,
            "performance": 0.5,
            "performance_interval": [0.4, 0.6],
        },
        {  # forced Waits set no token budget: Control is undefined
            "method": "extrapolation (Wait)",
            "settings": ["wait×0", "wait×1"],
            "points": [[60.0, 0.5], [80.0, 0.49]],
            "intervals": [[0.4, 0.6], [0.39, 0.59]],
            "control": None,
            "scaling_log2_pp": -2.4,
            "performance": 0.5,
            "performance_interval": [0.4, 0.6],
        },
    ]
    write(folder / "metrics.json", methods)
    settings = [
        {"method": "budget_forcing_cap", "label": "cap=4", "budget": 4, **interval(0.11, 0.06, 0.19)},
        {"method": "budget_forcing_cap", "label": "cap=128", "budget": 128, **interval(0.5, 0.4, 0.6)},
    ]
    change = {"method": "budget_forcing_cap", "difference": 0.39, "ci_low": 0.28, "ci_high": 0.49}
    write(folder / "scaling_summary.json", {"n_problems": 100, "settings": settings, "changes": [change]})


def adaptive(folder: Path) -> None:
    write(folder / "metrics.json", [])
    reported = {"setting": "deer 0.9", "accuracy": 0.51, "thinking_tokens": 55.0, "probe_tokens": 6.0}
    write(
        folder / "adaptive_summary.json",
        {
            "setting": "deer 0.9",
            "calibrated": True,
            "chosen_by": "calibrated on 150 problems apart: Learn Then Test",
            "reported": reported,
            "full": {"setting": "cap=128", "accuracy": 0.5, "thinking_tokens": 90.0},
            "matched_fixed": {"setting": "cap=96", "thinking_tokens": 89.0, "reaches": True, "tolerance": 0.01},
            "token_saving": 0.38,
            "accuracy_delta": {"difference": 0.01, "ci_low": -0.03, "ci_high": 0.05},
            "accuracy_vs_full": {"difference": 0.01, "ci_low": -0.03, "ci_high": 0.05},
            "probe_overhead": 0.11,
            "saving_vs_full": 0.39,
            "hindsight_bound": 0.45,
            "saving_over_hindsight": 0.87,
        },
    )
    write(folder / "pareto.json", [])


def other(folder: Path) -> None:
    write(folder / "metrics.json", {"value": 4, "label": "x", "nested": {"deep": 1}})


STAGES = {"curation": curation, "sft": sft, "forcing": forcing, "scaling": scaling, "adaptive": adaptive}


@pytest.fixture
def report(tmp_path: Path) -> tuple[dict[str, Any], str]:
    writers = {**STAGES, "other": other}
    grid = FakeGrid(tmp_path / "demo", [FakeRun(name, name) for name in writers])
    for name, writer in writers.items():
        writer(grid.run_dir(name))
    statuses = {name: {"status": "done", "wall_seconds": 1.0} for name in writers}
    summary = collect(grid, statuses)
    return summary, render_html(summary, grid)


HEADLINES = {
    "curation": "1,000 questions in → 300 selected (quality −120, difficulty −400, select −180)",
    "sft": "loss 1.96 → 0.31 over 60 steps",
    "forcing": "cap 8: 8 thinking tokens, answer 47. Wait, let me check; cap 16: 16 thinking tokens, answer (none); "
    "cap 32: 30 thinking tokens, answer 95; Control 100%",
    "scaling": "budget forcing on 100 held-out problems: cap=4 11% [6%, 19%] → cap=128 50% [40%, 60%], "
    "+39 points [+28, +49]",
    "adaptive": "against the fixed budget of equal accuracy, cap=96 (89.0 thinking): token saving 38%, "
    "accuracy +1 points [-3, +5]",
    "other": "value = 4, label = x (+1 more)",
}


def test_each_stage_heads_its_row_with_its_figures_in_words(report):
    summary, page = report
    rows = {r["run_id"]: r for r in summary["rows"]}
    for stage, text in HEADLINES.items():
        assert text in rows[stage]["headline"], (stage, rows[stage]["headline"])
        assert f"<div class='headline'>{html.escape(text)}</div>" in page, stage


def test_raw_keys_sit_one_click_away_and_no_percent_is_undefined(report):
    _, page = report
    table = page[page.index("<h2>Runs") : page.index("</table></div>")]
    hidden = "".join(re.findall(r"<details>.*?</details>", table, flags=re.S))
    shown = re.sub(r"<details>.*?</details>", "", table, flags=re.S)
    for key in ("domains.94", "lengths.block_size", "answers.8", "metrics.train_runtime", "nested.deep"):
        assert key in hidden and key not in shown, key
    assert "n/a%" not in page and r"n\u002fa%" not in page  # as text, and as plotly's JSON writes it
    assert r"\u2014" in page and r"Control \u2014: the method sets no token budget" in page  # plotly's JSON


def test_a_stage_whose_summary_is_malformed_still_reports(tmp_path: Path):
    from s1lib.batch.headlines import stage_headline

    write(tmp_path / "scaling_summary.json", {"settings": []})
    lines = stage_headline(tmp_path, {"value": 1})
    assert lines[0].startswith("(no headline: KeyError") and lines[1] == "value = 1"


def test_the_file_names_the_headlines_read_are_the_stages_own():
    from s1lib.batch import headlines
    from s1lib.eval.adaptive_summary import SUMMARY_FILE
    from s1lib.eval.pareto import PARETO_FILE
    from s1lib.train.runlog import LOG_NAME

    assert (headlines.ADAPTIVE_FILE, headlines.PARETO_FILE, headlines.SFT_LOG) == (SUMMARY_FILE, PARETO_FILE, LOG_NAME)
