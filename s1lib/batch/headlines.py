"""Each stage's headline in words, for the report's runs table: what curation took in and selected, where SFT's
loss started and ended, the answer each cap of budget forcing reached, the scaling sweep's rise with its interval,
the calibrated adaptive rule's saving against the fixed budget of equal accuracy.

Every line comes from the stage's own one-line formatter, applied to the files the stage wrote in its run folder
(``funnel.headline``, ``progress.sft_loss_line``, ``budgets.comparison_headline``, ``summary.headline``,
``adaptive_summary.summary_lines``, ``pareto.comparison_lines``), so the report, ``s1 demo`` and the notebooks
word the same figures the same way. Those modules load torch; each is imported only when its file is there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SFT_LOG = "train_log.jsonl"
ADAPTIVE_FILE = "adaptive_summary.json"
PARETO_FILE = "pareto.json"
"""``s1lib.train.runlog.LOG_NAME``, ``s1lib.eval.adaptive_summary.SUMMARY_FILE`` and ``s1lib.eval.pareto.PARETO_FILE``,
named here because importing those modules loads transformers or torch, which a report of other stages never needs
(a test checks that the names agree)."""

MAX_TOP_LEVEL = 5
"""Top-level metrics named for a stage without a headline (every figure is one click away, in the raw table)."""


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _sft_rows(run_dir: Path, metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The SFT log's rows (the trainer writes it beside the model, ``<run>/model``), or the final loss alone."""
    folders = [run_dir, run_dir / "model", *([Path(metrics["output_dir"])] if metrics.get("output_dir") else [])]
    for folder in folders:
        if (folder / SFT_LOG).is_file():
            lines = (folder / SFT_LOG).read_text(encoding="utf-8").splitlines()
            return [json.loads(line) for line in lines if line.strip()]
    final = metrics.get("final_loss")
    return [] if final is None else [{"step": metrics.get("global_step") or 0, "loss": final}]


def _known(run_dir: Path, metrics: Any) -> list[str] | None:
    """The headline of a stage whose files say which stage it is; None for any other."""
    from s1lib.eval.summary import SUMMARY_FILE as SCALING_FILE

    if (run_dir / SCALING_FILE).is_file():
        from s1lib.eval.summary import headline

        return [headline(_read_json(run_dir / SCALING_FILE))]
    if (run_dir / ADAPTIVE_FILE).is_file():
        from s1lib.eval.adaptive_summary import summary_lines

        return [line.strip() for line in summary_lines(_read_json(run_dir / ADAPTIVE_FILE))]
    if (run_dir / PARETO_FILE).is_file():
        from s1lib.eval.pareto import comparison_lines

        return comparison_lines(_read_json(run_dir / PARETO_FILE))
    if not isinstance(metrics, dict):
        return None
    if {"input", "output", "stages"} <= metrics.keys():
        from s1lib.curation.funnel import headline as funnel_headline

        return [funnel_headline(metrics)]
    if {"global_step", "final_loss"} <= metrics.keys():
        from s1lib.progress import sft_loss_line

        return [sft_loss_line(_sft_rows(run_dir, metrics))]
    if {"control", "thinking_tokens", "answers"} <= metrics.keys():
        from s1lib.eval.budgets import comparison_headline

        return [comparison_headline(metrics)]
    return None


def top_level(metrics: Any, limit: int = MAX_TOP_LEVEL) -> list[str]:
    """A stage without a headline: its first ``limit`` top-level scalar metrics as ``key = value`` (and how many
    more there are), never the nested keys that flatten into dozens."""
    if not isinstance(metrics, dict):
        return []
    scalars = [(k, v) for k, v in metrics.items() if v is None or isinstance(v, (bool, int, float, str))]
    shown = [f"{k} = {round(v, 4) if isinstance(v, float) else v}"[:80] for k, v in scalars[:limit]]
    more = len(metrics) - len(shown)
    return [", ".join(shown) + (f" (+{more} more)" if more else "")] if shown else []


def stage_headline(run_dir: str | Path, metrics: Any) -> list[str]:
    """The lines that head a stage's row: its headline (:func:`_known`), else :func:`top_level`. A file that cannot
    be read says so and falls back, so one malformed stage output never costs the whole report."""
    try:
        known = _known(Path(run_dir), metrics)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as error:
        return [f"(no headline: {type(error).__name__}: {error})"[:200], *top_level(metrics)]
    return known if known is not None else top_level(metrics)
