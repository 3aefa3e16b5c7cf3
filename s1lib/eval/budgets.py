"""Notebook 03's budget comparison: one question generated under each thinking cap, scored by Control.

The Jupyter notebook and the marimo app both call :func:`compare_budgets` and :meth:`BudgetComparison.save`, so
the two front ends write the same files: ``traces.json``, ``metrics.json`` (with ``control``),
``forced_insertions.html`` and ``thinking_vs_budget.html``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from s1lib import viz
from s1lib.eval.grading import extract_answer
from s1lib.eval.metrics import control
from s1lib.forcing.engine import Engine
from s1lib.forcing.policy import BudgetPolicy
from s1lib.forcing.state import InsertionKind
from s1lib.forcing.trace import Trace
from s1lib.results import StageResult

FORCED_KINDS = (InsertionKind.WAIT, InsertionKind.END, InsertionKind.FINAL_ANSWER)
"""The insertion kinds counted per cap (a forced "Wait", a forced end of thinking, the forced answer prefix)."""


def cap_headline(budget: int | str, thinking_tokens: int, answer: str | None) -> str:
    """One cap's run in words: ``cap 8: 7 thinking tokens, answer 47`` (``answer (none)`` where none was given)."""
    return f"cap {budget}: {thinking_tokens} thinking tokens, answer {'(none)' if answer is None else answer}"


def comparison_headline(metrics: dict[str, Any]) -> str:
    """A comparison's ``metrics.json`` (:meth:`BudgetComparison.metrics`) in one line: each cap's thinking and the
    answer it reached (read from its answer section), then Control, so a reader sees where the answer turns."""
    answers = metrics.get("answers") or {}
    caps = sorted(metrics.get("thinking_tokens") or {}, key=int)
    parts = [cap_headline(c, metrics["thinking_tokens"][c], extract_answer(answers.get(c) or "")) for c in caps]
    control = metrics.get("control")
    return "; ".join([*parts, *([] if control is None else [f"Control {control:.0%}"])])


@dataclass
class BudgetRun:
    """The question's generation under one thinking cap."""

    budget: int
    trace: Trace
    extracted_answer: str | None

    def headline(self) -> str:
        return cap_headline(self.budget, self.trace.thinking_tokens, self.extracted_answer)

    def forced_counts(self) -> dict[str, int]:
        return {kind: sum(f.kind == kind for f in self.trace.forced) for kind in FORCED_KINDS}

    def to_dict(self) -> dict[str, Any]:
        """A ``traces.json`` row: the cap, then the trace (``answer`` is the answer section as generated)."""
        return {"budget": self.budget, **self.trace.to_dict()}


@dataclass
class BudgetComparison(StageResult):
    """Every cap's run, in the order the budgets were given."""

    question: str
    runs: list[BudgetRun]

    @property
    def control(self) -> float:
        """The paper's Control: the share of runs whose thinking stayed within their cap."""
        return control([r.trace.thinking_tokens for r in self.runs], 0, [r.budget for r in self.runs])

    def metrics(self) -> dict[str, Any]:
        return {
            "control": self.control,
            "thinking_tokens": {r.budget: r.trace.thinking_tokens for r in self.runs},
            "answers": {r.budget: r.trace.answer_text for r in self.runs},
        }

    def rows(self) -> list[dict[str, Any]]:
        """One row per cap for display (``mo.ui.table``): budget, thinking tokens used, the answer section."""
        return [
            {"budget": r.budget, "thinking tokens": r.trace.thinking_tokens, "answer": r.trace.answer_text}
            for r in self.runs
        ]

    def table(self) -> str:
        """:meth:`rows` as text, and the Control they reach."""
        lines = [f"{'budget':>7} {'thinking':>9}  answer"]
        lines += [f"{r['budget']:>7} {r['thinking tokens']:>9}  {r['answer'].strip()[:60]!r}" for r in self.rows()]
        return "\n".join([*lines, f"Control: {self.control:.0%} of the runs stayed within their cap"])

    def figures(self) -> dict[str, go.Figure]:
        """``forced_insertions`` (bars per cap) and ``thinking_vs_budget`` (thinking tokens used against the cap)."""
        insertions = viz.forced_insertion_counts({f"cap {r.budget}": r.forced_counts() for r in self.runs})
        lengths = viz.scaling_curve(
            {"thinking tokens": [(r.budget, r.trace.thinking_tokens) for r in self.runs]},
            title="Thinking tokens vs budget",
            percent=False,
        )
        lengths.update_xaxes(title="Budget (max thinking tokens)")
        lengths.update_yaxes(title="Thinking tokens used")
        return {"forced_insertions": insertions, "thinking_vs_budget": lengths}

    def save(self, out: str | Path) -> list[Path]:
        """The figures (``<name>.html``) and ``metrics.json``, and every cap's trace in ``traces.json``."""
        traces = Path(out) / "traces.json"
        paths = super().save(out)
        traces.write_text(json.dumps([r.to_dict() for r in self.runs], indent=1), encoding="utf-8")
        return [*paths, traces]


def compare_budgets(
    engine: Engine,
    question: str,
    budgets: Sequence[int],
    *,
    num_ignore: int = 0,
    max_answer_tokens: int | None = None,
    on_run: Callable[[BudgetRun], None] | None = None,
) -> BudgetComparison:
    """Generate ``question`` once per thinking cap in ``budgets``, each with ``num_ignore`` suppressed ends.

    ``on_run`` is called with each cap's run as soon as it is generated (a notebook prints it, an app advances a
    progress bar), so a slow model shows progress cap by cap.
    """
    if not budgets:
        raise ValueError("compare_budgets: budgets is empty; expected at least one thinking cap, e.g. [8, 16, 32]")
    runs = []
    for budget in budgets:
        policy = BudgetPolicy(max_thinking_tokens=budget, num_ignore=num_ignore, max_answer_tokens=max_answer_tokens)
        trace = engine.generate([engine.prompt_for(question, policy)], policy)[0]
        run = BudgetRun(budget, trace, extract_answer(trace.text))
        runs.append(run)
        if on_run is not None:
            on_run(run)
    return BudgetComparison(question, runs)
