"""``scaling_summary.json``: a sweep's headline numbers in one small, stable schema.

Written by the test-time scaling stage (notebook 04) into its output folder, read by ``s1 demo`` for its one-line
summary and by anyone comparing runs without parsing ``results.json``::

    {"n_problems": 100,
     "settings": [{"method": "budget_forcing_cap", "label": "cap=16", "budget": 16, "accuracy": 0.41,
                   "ci_low": 0.32, "ci_high": 0.51, "mean_thinking_tokens": 16.0,
                   "mean_probe_tokens": 0.0, "censored_rate": 0.05, "accuracy_uncensored": 0.43,
                   "efficiency": {"cut_by_cap_rate": 0.9, ...}}, ...],
     "changes": [{"method": "budget_forcing_cap", "from": "cap=4", "to": "cap=64", "difference": 0.4,
                  "ci_low": 0.3, "ci_high": 0.5}, ...],
     "chance": {"all": 0.27, "count": 0.4, ...}, "precision": "float32", "device": "cpu"}

``method`` is ``budget_forcing_cap`` (the cap sweep), ``budget_forcing_wait`` (forced "Wait"s) or the baseline's
name (``token_conditional``, ...); an adaptive rule is ``adaptive_probe_consistency`` or
``adaptive_answer_confidence`` (hand-picked) or ``adaptive_calibrated`` (chosen on problems apart,
:mod:`s1lib.eval.calibration`), and its probe tokens (``mean_probe_tokens``) are never part of its thinking tokens.
``censored_rate`` is the share of samples the budget cut off before any readable answer (scored wrong in
``accuracy``), and ``accuracy_uncensored`` the accuracy with them left out. ``efficiency`` holds the overlong
rates and where the first correct answer sits in the thinking (:mod:`s1lib.eval.efficiency`); ``versions`` the
software the sweep ran under. Intervals are 95%: Wilson for each accuracy, Newcombe's paired interval for a change
between two settings on the same problems.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

SUMMARY_FILE = "scaling_summary.json"
_METHODS = {
    "budget forcing": "budget_forcing_cap",
    "token-conditional": "token_conditional",
    "token-conditional + BF": "token_conditional_bf",
    "step-conditional": "step_conditional",
    "class-conditional": "class_conditional",
    "rejection sampling": "rejection",
    "majority voting": "majority",
}


def method_name(method: str) -> str:
    """The schema's method name of a sweep method (``extrapolation (Wait)`` → ``budget_forcing_wait``)."""
    if method.startswith("extrapolation"):
        return "budget_forcing_wait"
    method = method.replace(", hand-picked", "")  # a hand-picked rule keeps its rule's name; calibrated: its own
    return _METHODS.get(method, re.sub(r"[^a-z0-9]+", "_", method.lower()).strip("_"))


def scaling_summary(results: dict[str, Any]) -> dict[str, Any]:
    """The summary of a sweep's ``results`` (``run_sweep(...).results``)."""
    settings = []
    for s in results["settings"]:
        policy = s.get("policy") or {}
        budget = (s.get("budget") or [None, None])[1] if s.get("budget") else policy.get("max_thinking_tokens")
        settings.append(
            {
                "method": method_name(str(s.get("method") or "custom")),
                "label": s["setting"],
                "budget": None if budget is None else int(budget),
                "accuracy": float(s["accuracy"]),
                "ci_low": float(s["ci_low"]),
                "ci_high": float(s["ci_high"]),
                "mean_thinking_tokens": float(s["avg_thinking_tokens"]),
                "mean_probe_tokens": float(s.get("avg_probe_tokens") or 0.0),
                "censored_rate": s.get("censored_rate"),  # cut by the budget before any readable answer
                "accuracy_uncensored": s.get("accuracy_uncensored"),  # accuracy with those samples left out
                "efficiency": s.get("efficiency"),
            }
        )
    changes = [
        {"method": method_name(str(m["method"])), **m["change"]} for m in results.get("methods", []) if m.get("change")
    ]
    run = results.get("run") or {}
    precision = (run.get("precision") or {}).get("dtype")
    device = (run.get("precision") or {}).get("device")  # where the engine ran (auto resolved)
    return {
        "n_problems": int(run.get("problems") or max((s.get("problems") or 0) for s in results["settings"])),
        "settings": settings,
        "changes": changes,
        "chance": results.get("chance") or {},
        "precision": precision,
        "device": device,
        "versions": run.get("versions"),
    }


def write_scaling_summary(results: dict[str, Any], folder: str | Path) -> Path:
    path = Path(folder) / SUMMARY_FILE
    path.write_text(json.dumps(scaling_summary(results), indent=1) + "\n")
    return path


def headline(summary: dict[str, Any]) -> str:
    """One line: the cap sweep's smallest and largest budget with intervals, and the change between them."""

    def pct(value: float) -> str:
        return f"{100 * value:.0f}%"

    caps = [s for s in summary["settings"] if s["method"] == "budget_forcing_cap"]
    if not caps:
        return f"{summary['n_problems']} problems; no budget-forcing cap settings"
    low, high = caps[0], caps[-1]
    text = (
        f"budget forcing on {summary['n_problems']} held-out problems: {low['label']} {pct(low['accuracy'])} "
        f"[{pct(low['ci_low'])}, {pct(low['ci_high'])}] → {high['label']} {pct(high['accuracy'])} "
        f"[{pct(high['ci_low'])}, {pct(high['ci_high'])}]"
    )
    for change in summary.get("changes", []):
        if change["method"] == "budget_forcing_cap":
            text += (
                f", {100 * change['difference']:+.0f} points "
                f"[{100 * change['ci_low']:+.0f}, {100 * change['ci_high']:+.0f}]"
            )
    return text
