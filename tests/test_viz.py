"""Figures build from plain inputs, carry the expected traces and axes, and save as standalone HTML."""

from __future__ import annotations

import re

import pytest

from s1lib import viz
from s1lib.eval.metrics import MethodMetrics


def test_scaling_curve_one_sorted_line_per_method_log_x():
    fig = viz.scaling_curve(
        {"budget forcing": [(4000, 0.5), (1000, 0.2), (2000, 0.4)], "token-conditional": [(1500, 0.3), (3000, 0.25)]},
        labels_by_method={"budget forcing": ["4k", "1k", "2k"]},
    )
    assert [t.name for t in fig.data] == ["budget forcing", "token-conditional"]
    bf = fig.data[0]
    assert list(bf.x) == [1000, 2000, 4000]
    assert list(bf.y) == pytest.approx([20.0, 40.0, 50.0])  # percent, sorted with x
    assert list(bf.text) == ["1k", "2k", "4k"]  # labels follow their points
    assert fig.layout.xaxis.type == "log"
    assert viz.scaling_curve({"m": [(1, 0.5)]}, log_x=False, percent=False).layout.xaxis.type == "linear"


def test_metrics_table_from_dicts_and_dataclasses():
    rows = [
        MethodMetrics("budget forcing", 1.0, 0.15, 0.567),
        {"method": "rejection sampling", "control": 1.0, "scaling": -0.35, "performance": 0.4},
        {"method": "one budget", "control": 0.5, "scaling": float("nan"), "performance": 0.3},
    ]
    fig = viz.metrics_table(rows)
    cells = fig.data[0].cells.values
    assert list(cells[0]) == ["budget forcing", "rejection sampling", "one budget"]
    assert list(cells[1]) == ["100%", "100%", "50%"]
    assert list(cells[2]) == ["15", "-35", "n/a"]
    assert list(cells[3]) == ["56.7", "40.0", "30.0"]
    assert "Control —" not in fig.layout.title.text


def test_metrics_table_says_why_a_method_has_no_control():
    """A method with no token budget (forced Waits) has no Control: a dash and a footnote, never ``n/a%``."""
    rows = [{"method": "wait", "control": float("nan"), "scaling": 0.1, "performance": 0.5}]
    fig = viz.metrics_table(rows)
    assert list(fig.data[0].cells.values[1]) == ["—"]
    assert "Control —: the method sets no token budget" in fig.layout.title.text
    assert viz.metrics_table(rows * 12).layout.height > fig.layout.height  # every row shows, none scrolls inside


def test_histogram_and_forced_insertions():
    hist = viz.thinking_length_histogram({"512": [100, 300, 512], "auto": [900, 1200]})
    assert [t.type for t in hist.data] == ["histogram", "histogram"]
    assert hist.layout.barmode == "overlay"

    bars = viz.forced_insertion_counts({"wait x1": {"wait": 8, "end": 2}, "wait x2": {"wait": 16}, "cap": 3})
    assert [t.name for t in bars.data] == ["wait", "end", "forced"]
    assert list(bars.data[0].y) == [8, 16, 0]
    assert list(bars.data[1].y) == [2, 0, 0]
    assert list(bars.data[2].y) == [0, 0, 3]


def test_funnel_domains_and_loss():
    fun = viz.funnel([("pool", 59029), ("api errors", 54116), ("formatting", 51581)])
    assert fun.data[0].type == "funnel"
    assert list(fun.data[0].x) == [59029, 54116, 51581]
    assert list(viz.funnel({"a": 3, "b": 1}).data[0].y) == ["a", "b"]

    dom = viz.domain_distribution({"Geometry": 3, "Number theory": 10, "Biology": 1}, top=2)
    assert list(dom.data[0].y) == ["Geometry", "Number theory"]  # largest drawn on top (last)
    assert list(dom.data[0].x) == [3, 10]

    log = [
        {"step": 1, "loss": 2.0, "learning_rate": 1e-5},
        {"step": 2, "loss": 1.5},
        {"step": 2, "eval_loss": 1.7},
        {"train_runtime": 12.0},
    ]
    loss = viz.loss_curve(log)
    assert [t.name for t in loss.data] == ["loss", "eval_loss"]
    assert list(loss.data[0].y) == [2.0, 1.5]


def test_save_figure_writes_standalone_html(tmp_path):
    fig = viz.scaling_curve({"m": [(100, 0.1), (200, 0.3)]})
    path = viz.save_figure(fig, tmp_path / "out" / "scaling.html")
    html = path.read_text()
    assert "<html>" in html[:100] and "plotly.js" in html.lower()
    assert not re.search(r"<script[^>]+src=", html)  # plotly.js embedded, not loaded from a CDN: works offline
    assert len(html) > 1_000_000
    with pytest.raises(ValueError, match=r"\.html"):
        viz.save_figure(fig, tmp_path / "x.png")
