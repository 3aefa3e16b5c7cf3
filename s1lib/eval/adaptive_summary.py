"""What an adaptive-budget sweep reports for its reported rule: savings against the fixed budgets, with intervals.

The reported rule is the calibrated one (``results["calibration"]``, :mod:`s1lib.eval.calibrated_stop`), chosen
on problems apart from these before any of them was decoded. Without a calibration there is nothing to report
here: hand-picked rules stay in the figure, labelled, and are not summarised as a result.

- **full**: the fixed budget at the rule's own cap (what thinking costs when nothing stops it early).
- **matched fixed**: the cheapest fixed budget whose accuracy is within ``tolerance`` of the rule's or above;
  ``token_saving`` is the thinking the rule saves against it (the saving a fixed budget could not also get).
- **accuracy delta**: the rule's accuracy minus the matched budget's (and minus the full budget's), on the same
  problems, with Newcombe's paired 95% interval.
- **probe overhead**: probe tokens per thinking token (probes are never counted as thinking).
- **hindsight bound**: the share of the full budget's thinking tokens spent after each row's final answer was
  stated in its thinking for good (the setting's efficiency figures, read from the text by
  :mod:`s1lib.eval.efficiency`): what a perfect stop could save without changing one answer.
  ``saving_over_hindsight`` is the rule's saving against the full budget as a fraction of that bound;
  ``hindsight_first_correct`` is the same share after the first correct answer (wrong rows think on).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from s1lib.eval.calibrated_stop import CALIBRATED_METHOD
from s1lib.eval.metrics import paired_difference_interval

SUMMARY_FILE = "adaptive_summary.json"
FIXED_METHOD = "budget forcing"


def reaches(accuracy: float, reference: float, tolerance: float) -> bool:
    """Whether ``accuracy`` is within ``tolerance`` of ``reference`` or above it (float noise forgiven)."""
    return accuracy >= reference - tolerance - 1e-12


HINDSIGHT = {
    "settled": ("answer_settled_in_thinking_rate", "tokens_after_settled_answer"),
    "first_correct": ("first_correct_in_thinking_rate", "tokens_after_first_correct"),
}
"""The efficiency figures each hindsight share reads: after the final answer settled, or after the first correct."""


def hindsight_share(efficiency: Mapping[str, Any], thinking_tokens: float, after: str = "settled") -> float | None:
    """The share of a setting's thinking tokens that came after the point ``after`` names (:data:`HINDSIGHT`), from
    its efficiency figures (:func:`s1lib.eval.efficiency.efficiency`) and mean thinking tokens; None when it has
    no thinking or no such point was located."""
    rate_key, after_key = HINDSIGHT[after]
    rate, after = efficiency.get(rate_key), efficiency.get(after_key)
    if not thinking_tokens or not rate or after is None:
        return None
    return rate * after / thinking_tokens


def _paired(first: Sequence[Mapping[str, Any]], second: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    by_problem = {(r["problem_id"], r.get("sample", 0)): bool(r["correct"]) for r in second}
    keys = [(r["problem_id"], r.get("sample", 0)) for r in first]
    missing = [k for k in keys if k not in by_problem]
    if missing or len(keys) != len(by_problem):
        raise ValueError(f"adaptive summary: the two settings were not run on the same problems (e.g. {missing[:3]})")
    diff = paired_difference_interval([bool(r["correct"]) for r in first], [by_problem[k] for k in keys])
    return {"difference": diff.difference, "ci_low": diff.low, "ci_high": diff.high}


def _row(setting: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    policy = setting.get("policy") or {}
    return {
        "setting": setting["setting"],
        "cap": policy.get("max_thinking_tokens"),
        "accuracy": setting["accuracy"],
        "ci_low": setting.get("ci_low"),
        "ci_high": setting.get("ci_high"),
        "thinking_tokens": float(setting["avg_thinking_tokens"]),
        "probe_tokens": float(setting.get("avg_probe_tokens") or 0.0),
        "problems": len(records),
    }


def adaptive_summary(
    results: Mapping[str, Any], records: Sequence[Mapping[str, Any]], tolerance: float = 0.01
) -> dict[str, Any] | None:
    """The reported (calibrated) rule's figures on these problems (see the module docstring); None when the sweep
    has no calibration. ``records`` are the sweep's samples (``samples.jsonl``)."""
    calibration = results.get("calibration")
    if not calibration:
        return None
    by_setting: dict[str, list[Mapping[str, Any]]] = {}
    for r in records:
        by_setting.setdefault(str(r["setting"]), []).append(r)
    settings = {s["setting"]: s for s in results["settings"]}
    fixed = sorted(
        (_row(s, by_setting[name]) for name, s in settings.items() if s.get("method") == FIXED_METHOD),
        key=lambda r: (r["thinking_tokens"], r["cap"] or 0),
    )
    cap = calibration["cap"]
    full = next((r for r in fixed if r["cap"] == cap), None)
    if full is None:
        raise ValueError(f"adaptive summary: no fixed budget at the calibrated cap {cap} to compare with")
    rule = next((s for s in settings.values() if s.get("method") == CALIBRATED_METHOD), None)
    if rule is None:  # calibration certified nothing: the full budget is what is reported
        reported, chosen = dict(full), None
    else:
        reported, chosen = _row(rule, by_setting[rule["setting"]]), rule["setting"]
    reaching = [f for f in fixed if reaches(f["accuracy"], reported["accuracy"], tolerance)]
    matched = reaching[0] if reaching else max(fixed, key=lambda f: (f["accuracy"], -f["thinking_tokens"]))
    full_efficiency = settings[full["setting"]].get("efficiency") or {}
    bound = hindsight_share(full_efficiency, full["thinking_tokens"])
    saving_vs_full = 1 - reported["thinking_tokens"] / full["thinking_tokens"] if full["thinking_tokens"] else None
    return {
        "setting": reported["setting"],
        "calibrated": chosen is not None,
        "chosen_by": (
            f"calibrated on {calibration['problems']} problems apart: {calibration['method']}"
            if chosen
            else "calibration certified no rule: the full budget"
        ),
        "target": calibration["target"],
        "reported": reported,
        "full": full,
        "matched_fixed": {**matched, "reaches": bool(reaching), "tolerance": tolerance},
        "token_saving": (
            1 - reported["thinking_tokens"] / matched["thinking_tokens"] if matched["thinking_tokens"] else None
        ),
        "accuracy_delta": _paired(by_setting[reported["setting"]], by_setting[matched["setting"]]),
        "accuracy_vs_full": _paired(by_setting[reported["setting"]], by_setting[full["setting"]]),
        "probe_overhead": (
            reported["probe_tokens"] / reported["thinking_tokens"] if reported["thinking_tokens"] else None
        ),
        "saving_vs_full": saving_vs_full,
        "hindsight_bound": bound,
        "saving_over_hindsight": saving_vs_full / bound if saving_vs_full is not None and bound else None,
        "hindsight_first_correct": hindsight_share(full_efficiency, full["thinking_tokens"], "first_correct"),
    }


def write_adaptive_summary(summary: Mapping[str, Any] | None, folder: str | Path) -> Path | None:
    """``adaptive_summary.json`` in ``folder`` (nothing without a summary)."""
    if summary is None:
        return None
    path = Path(folder) / SUMMARY_FILE
    path.write_text(json.dumps(summary, indent=1) + "\n")
    return path


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def _points(d: Mapping[str, float]) -> str:
    return f"{100 * d['difference']:+.0f} points [{100 * d['ci_low']:+.0f}, {100 * d['ci_high']:+.0f}]"


def summary_lines(summary: Mapping[str, Any] | None) -> list[str]:
    """The reported rule's figures in words (what notebook 05 and ``s1 demo`` print); [] without calibration."""
    if not summary:
        return []
    r, m, f = summary["reported"], summary["matched_fixed"], summary["full"]
    match = "" if m["reaches"] else " (no fixed budget reaches its accuracy: the most accurate)"
    return [
        f"reported: {summary['setting']} ({summary['chosen_by']}): {100 * r['accuracy']:.0f}% at "
        f"{r['thinking_tokens']:.1f} thinking + {r['probe_tokens']:.1f} probe tokens "
        f"(probe overhead {_pct(summary['probe_overhead'])})",
        f"  against the fixed budget of equal accuracy, {m['setting']}{match} ({m['thinking_tokens']:.1f} thinking): "
        f"token saving {_pct(summary['token_saving'])}, accuracy {_points(summary['accuracy_delta'])}",
        f"  against the full budget, {f['setting']} ({f['thinking_tokens']:.1f} thinking): saving "
        f"{_pct(summary['saving_vs_full'])}, accuracy {_points(summary['accuracy_vs_full'])}; hindsight bound "
        f"{_pct(summary['hindsight_bound'])} (thinking after the final answer was there for good), of which the "
        f"rule took {_pct(summary['saving_over_hindsight'])}",
    ]
