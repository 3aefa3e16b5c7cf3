"""A sweep's outputs beyond its numbers: the figures of its results and records, and its table as text (the same for
``s1 eval`` / ``s1 sweep`` and notebook 04)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from s1lib import viz

CHANCE = "chance (best constant answer)"


def sweep_figures(results: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The scaling curve and the metrics table (the best constant answer as a reference line), thinking lengths,
    forced insertions, the thinking before and after the first right answer, one panel per task family when the
    benchmark has families (toy), and with adaptive settings the Pareto figure."""
    settings = list(results.get("settings", []))
    chance = (results.get("chance") or {}).get("all")
    curve, table = viz.sweep_figures(list(results.get("methods", [])), references={CHANCE: chance} if chance else None)
    lengths: dict[str, list[float]] = {}
    for r in records:
        lengths.setdefault(str(r["setting"]), []).append(float(r.get("thinking_tokens") or 0))
    forced = {s["setting"]: s.get("forced_counts") or {} for s in settings}
    figures = {
        "scaling_curve": curve,
        "metrics_table": table,
        "thinking_lengths": viz.thinking_length_histogram(lengths),
        "forced_insertions": viz.forced_insertion_counts(forced),
        "overthinking": viz.overthinking(settings),
    }
    if any(s.get("by_family") for s in settings):
        figures["scaling_by_family"] = viz.family_scaling(settings, results.get("chance") or {})
    if any(str(s.get("method") or "").startswith("adaptive") for s in settings):
        figures["pareto"] = viz.pareto_figure(settings)  # adaptive points against the fixed-budget curve
    return figures


def _fmt(value: Any, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _pct(value: float | None) -> float | None:
    return None if value is None else 100 * value


def results_table(results: Mapping[str, Any]) -> str:
    """A plain-text table of the settings (accuracy with its interval, thinking and probe tokens, Control, the
    share the budget censored and the accuracy without them) and of
    the methods (Control, Scaling, Performance)."""
    lines = [
        f"{'setting':28} {'method':26} {'n':>4} {'acc%':>6} {'95% CI':>13} {'think':>7} {'probe':>6} {'ctrl%':>6} "
        f"{'cens%':>6} {'acc% uncens':>11}"
    ]
    for s in results.get("settings", []):
        ci = f"{_fmt(s['ci_low'] and 100 * s['ci_low'], '.0f')}-{_fmt(s['ci_high'] and 100 * s['ci_high'], '.0f')}"
        control = None if s.get("control") is None else 100 * s["control"]
        lines.append(
            f"{s['setting'][:28]:28} {str(s['method'])[:26]:26} {s['n']:4d} {100 * s['accuracy']:6.1f} "
            f"{ci:>13} {s['avg_thinking_tokens']:7.1f} {s.get('avg_probe_tokens') or 0:6.1f} "
            f"{_fmt(control, '6.0f'):>6} {_fmt(_pct(s.get('censored_rate')), '6.1f'):>6} "
            f"{_fmt(_pct(s.get('accuracy_uncensored')), '11.1f'):>11}"
        )
    lines += [
        "",
        f"{'method':28} {'control%':>9} {'scaling pp/doubling':>20} {'pp/1k tokens':>13} {'performance%':>13}",
    ]
    for m in results.get("methods", []):
        control = None if m.get("control") is None else 100 * m["control"]
        lines.append(
            f"{m['method'][:28]:28} {_fmt(control, '9.0f'):>9} {_fmt(m.get('scaling_log2_pp'), '20.2f'):>20} "
            f"{_fmt(m.get('scaling_per_1k_pp'), '13.2f'):>13} {100 * m['performance']:13.1f}"
        )
    return "\n".join(lines)
