"""Notebook 03's budget comparison (``s1lib.eval.budgets``), as both front ends call it, on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from s1lib.backends.hf import HFEngine
from s1lib.eval.budgets import BudgetComparison, BudgetRun, compare_budgets


@pytest.fixture(scope="module")
def tiny_engine(tiny_model):
    return HFEngine(*tiny_model)


@pytest.fixture(scope="module")
def comparison(tiny_engine) -> tuple[BudgetComparison, list[BudgetRun]]:
    seen: list[BudgetRun] = []
    result = compare_budgets(tiny_engine, "What is 2+3?", [4, 8], max_answer_tokens=4, on_run=seen.append)
    return result, seen


def test_each_cap_is_generated_once_and_reported_in_order(comparison):
    result, seen = comparison
    assert [r.budget for r in result.runs] == [4, 8] and seen == result.runs
    for run in result.runs:
        assert run.trace.policy["max_thinking_tokens"] == run.budget
        assert run.trace.policy["max_answer_tokens"] == 4
        assert run.headline().startswith(f"cap {run.budget}: {run.trace.thinking_tokens} thinking tokens, answer ")


def test_metrics_have_control_thinking_and_answers(comparison):
    result, _ = comparison
    metrics = result.metrics()
    assert metrics["control"] == result.control == 1.0  # the caps are exact
    assert metrics["thinking_tokens"] == {4: 4, 8: 8}
    assert metrics["answers"] == {r.budget: r.trace.answer_text for r in result.runs}
    assert [row["budget"] for row in result.rows()] == [4, 8]


def test_save_writes_what_both_notebooks_write(comparison, tmp_path: Path):
    result, _ = comparison
    written = result.save(tmp_path / "out")
    names = {p.name for p in written}
    assert names == {"forced_insertions.html", "thinking_vs_budget.html", "traces.json", "metrics.json"}
    assert all(p.exists() for p in written)
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["control"] == 1.0 and metrics["thinking_tokens"] == {"4": 4, "8": 8}
    traces = json.loads((tmp_path / "out" / "traces.json").read_text())
    assert [t["budget"] for t in traces] == [4, 8]
    assert traces[0] == {"budget": 4, **result.runs[0].trace.to_dict()}


def test_figures_plot_each_cap(comparison):
    result, _ = comparison
    figures = result.figures()
    assert set(figures) == {"forced_insertions", "thinking_vs_budget"}
    (line,) = figures["thinking_vs_budget"].data
    assert list(line.x) == [4, 8] and list(line.y) == [4, 8]
    assert all(list(bar.x) == ["cap 4", "cap 8"] for bar in figures["forced_insertions"].data)


def test_a_budget_over_its_cap_lowers_control():
    """Control counts runs within their cap; fake traces stand in for a backend that overran."""
    from types import SimpleNamespace

    runs = [BudgetRun(8, SimpleNamespace(thinking_tokens=t), None) for t in (8, 9)]
    assert BudgetComparison("q", runs).control == 0.5  # type: ignore[arg-type]


def test_no_budgets_is_a_clear_error(tiny_engine):
    with pytest.raises(ValueError, match="budgets is empty"):
        compare_budgets(tiny_engine, "What is 2+3?", [])
