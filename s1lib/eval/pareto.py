"""Fixed budgets against adaptive stop rules on one model: the sweep, its cost table, and the Pareto figure.

Notebook 05 (Jupyter and marimo) calls :func:`run_pareto` with the :class:`~s1lib.eval.sweep_config.SweepConfig` its
parameters describe; everything it shows comes from the sweep's ``results.json``. Each row of the table keeps an
adaptive rule's probe tokens apart from its thinking tokens and adds them up (``compute_tokens``), so a rule that
thinks less but probes a lot is seen to. With a calibration, the calibrated rule's savings and intervals go to
``adaptive_summary.json`` (:mod:`s1lib.eval.adaptive_summary`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s1lib.eval.adaptive_summary import adaptive_summary, summary_lines, write_adaptive_summary
from s1lib.eval.store import ResultsStore
from s1lib.eval.sweep import SweepRun, run_sweep
from s1lib.eval.sweep_config import SweepConfig
from s1lib.forcing.engine import Engine
from s1lib.paths import REPO_ROOT
from s1lib.results import StageResult

DEMO_MODEL = Path("runs") / "demo" / "sft" / "model"
"""Where ``make demo`` (``s1 demo``, run from the repository) leaves the model its SFT stage fine-tuned."""

PARETO_FILE = "pareto.json"
PARETO_FIGURE = "pareto.html"


def resolve_model(model: str, roots: Sequence[Path] | None = None) -> str:
    """``"demo"``: the demo's fine-tuned model (:data:`DEMO_MODEL` under the repository or the working directory)
    when it exists, else the embedded ``"default"``; any other name is returned as it is."""
    if model != "demo":
        return model
    for root in roots if roots is not None else (REPO_ROOT, Path.cwd()):
        folder = Path(root) / DEMO_MODEL
        if (folder / "config.json").is_file():
            return str(folder)
    return "default"


def describe_model(model: str) -> str:
    """How a figure names the model: the embedded one, the demo's, or the folder / hub id."""
    if model == "default":
        return "the embedded model"
    if Path(model).parts[-len(DEMO_MODEL.parts) :] == DEMO_MODEL.parts:
        return "the demo's fine-tuned model"
    return model.rstrip("/").rsplit("/", 1)[-1]


def pareto_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per setting: accuracy with its 95% interval, mean thinking, probe and compute (thinking + probe)
    tokens per sample, and how often an adaptive rule ended thinking (None for a fixed budget)."""
    rows = []
    for s in results["settings"]:
        thinking, probe = float(s["avg_thinking_tokens"]), float(s.get("avg_probe_tokens") or 0.0)
        rows.append(
            {
                "setting": s["setting"],
                "method": s.get("method"),
                "accuracy": s["accuracy"],
                "ci_low": s["ci_low"],
                "ci_high": s["ci_high"],
                "thinking_tokens": thinking,
                "probe_tokens": probe,
                "compute_tokens": thinking + probe,
                "adaptive_stop_rate": s.get("adaptive_stop_rate"),
                "n": s["n"],
            }
        )
    return rows


def _pct(row: Mapping[str, Any]) -> str:
    return f"{100 * row['accuracy']:.0f}% [{100 * row['ci_low']:.0f}, {100 * row['ci_high']:.0f}]"


def comparison_lines(rows: Sequence[Mapping[str, Any]], fixed_method: str = "budget forcing") -> list[str]:
    """One line per adaptive setting, beside the fixed budget whose thinking tokens are closest to its compute
    (thinking + probe) tokens: the comparison the figure invites, in numbers, with both intervals."""
    fixed = [r for r in rows if r["method"] == fixed_method]
    lines = []
    for r in rows:
        if not str(r["method"] or "").startswith("adaptive"):
            continue
        line = (
            f"{r['setting']}: {_pct(r)} at {r['thinking_tokens']:.1f} thinking + {r['probe_tokens']:.1f} probe "
            f"tokens, stopped by the rule in {100 * (r['adaptive_stop_rate'] or 0):.0f}% of samples"
        )
        if fixed:
            near = min(fixed, key=lambda f: abs(f["thinking_tokens"] - r["compute_tokens"]))
            line += f"; fixed {near['setting']}: {_pct(near)} at {near['thinking_tokens']:.1f} thinking tokens"
        lines.append(line)
    return lines


def calibration_lines(results: Mapping[str, Any]) -> list[str]:
    """How the calibrated setting was chosen (``results["calibration"]``, :mod:`s1lib.eval.calibration`): the
    target, each setting's harms and p-value on the calibration split, and the choice; [] without calibration."""
    c = results.get("calibration")
    if not c:
        return []
    target = c["target"]
    lines = [
        f"calibrated on {c['problems']} problems apart from these (full budget {100 * c['reference_accuracy']:.0f}%"
        f" there): harm rate <= {target['max_accuracy_drop']:g} with confidence {target['confidence']:g}; "
        f"{c['method']}"
    ]
    for t in c["tests"]:
        verdict = "certified" if t["certified"] else ("not certified" if t["tested"] else "not tested")
        lines.append(
            f"  {t['label']}: {t['harms']} harmed, p = {t['p_value']:.3g}, {t['thinking_tokens']:.1f} thinking + "
            f"{t['probe_tokens']:.1f} probe tokens: {verdict}"
        )
    lines.append(f"chosen: {c['chosen'] or 'none certified, so no early stop (the full budget)'}")
    return lines


def report_lines(run: ParetoRun) -> list[str]:
    """What notebook 05 prints under its figure: each rule beside its nearest fixed budget, how the calibrated
    rule was chosen, and its savings with intervals (:func:`s1lib.eval.adaptive_summary.summary_lines`)."""
    return comparison_lines(run.rows) + calibration_lines(run.results) + summary_lines(run.summary)


@dataclass
class ParetoRun(StageResult):
    """What :func:`run_pareto` returns: the sweep, its rows (:func:`pareto_rows`) and the figure it saved. As a
    stage's result: ``metrics.json`` holds the methods, the figure is ``pareto``, the table each setting's cost and
    :func:`report_lines`."""

    sweep: SweepRun
    rows: list[dict[str, Any]]
    figure: Any
    figure_path: Path
    summary: dict[str, Any] | None = None
    """The calibrated rule's figures (:func:`s1lib.eval.adaptive_summary.adaptive_summary`); None without one."""

    @property
    def results(self) -> dict[str, Any]:
        return self.sweep.results

    def metrics(self) -> list[dict[str, Any]]:
        return self.results["methods"]

    def figures(self) -> dict[str, Any]:
        return {"pareto": self.figure}

    def table(self) -> str:
        lines = [
            f"{r['setting']:<26} accuracy {r['accuracy']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]  thinking "
            f"{r['thinking_tokens']:5.1f} + probes {r['probe_tokens']:5.1f} = {r['compute_tokens']:5.1f}"
            for r in self.rows
        ]
        return "\n".join([*lines, "", *report_lines(self)])


def engine_for(config: SweepConfig) -> Engine:
    """The engine ``run_sweep`` would load for ``config``: load it once, run the sweep on it, then stream on it."""
    from s1lib.backends import load_engine

    return load_engine(
        config.model,
        config.backend,
        device=config.device,
        trust_remote_code=config.trust_remote_code,
        **config.engine_options,
    )


def run_pareto(
    config: SweepConfig, engine: Engine | None = None, progress: bool = True, title: str | None = None
) -> ParetoRun:
    """Run (or resume) the sweep of ``config`` (caps and ``adaptive`` rules), then write ``pareto.json`` (the rows)
    and ``pareto.html`` (:func:`s1lib.viz.pareto_figure`) beside its ``results.json``."""
    from s1lib import viz

    if not config.adaptive:
        raise ValueError("run_pareto: the config has no adaptive rules (SweepConfig.adaptive) to set against the caps")
    sweep = run_sweep(config, engine=engine, progress=progress)
    rows = pareto_rows(sweep.results)
    (sweep.output_dir / PARETO_FILE).write_text(json.dumps(rows, indent=1) + "\n")
    model = describe_model(config.model)
    problems = sweep.results["run"]["problems"]
    title = title or f"{config.benchmark}, {problems} problems, {model}: fixed budgets against adaptive stops"
    figure = viz.pareto_figure(sweep.results["settings"], title=title)
    path = viz.save_figure(figure, sweep.output_dir / PARETO_FIGURE)
    summary = None
    if sweep.results.get("calibration"):  # only a calibrated sweep has a rule to summarise: read its samples then
        summary = adaptive_summary(sweep.results, ResultsStore(sweep.output_dir).records)
        write_adaptive_summary(summary, sweep.output_dir)
    return ParetoRun(sweep, rows, figure, path, summary)
