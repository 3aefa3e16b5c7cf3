"""Loss and throughput log of a run: one JSON line per logging step, and a plotly loss curve.

Throughput counts real (non-pad) tokens, so padded and padding-free runs compare honestly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

LOG_NAME = "train_log.jsonl"


@dataclass
class TokenCounter:
    """Tokens seen by this process since the last log: real, padded (incl. pad) and in the loss."""

    tokens: int = 0
    padded_tokens: int = 0
    loss_tokens: int = 0
    total_tokens: int = 0

    def add(self, batch: dict[str, Any]) -> None:
        input_ids = batch["input_ids"]
        mask = batch.get("attention_mask")
        real = int(mask.sum()) if mask is not None else int(input_ids.numel())
        self.tokens += real
        self.total_tokens += real
        self.padded_tokens += int(input_ids.numel())
        labels = batch.get("labels")
        if labels is not None:
            self.loss_tokens += int((labels != -100).sum())

    def take(self) -> tuple[int, int, int]:
        out = (self.tokens, self.padded_tokens, self.loss_tokens)
        self.tokens = self.padded_tokens = self.loss_tokens = 0
        return out


class JsonLogCallback(TrainerCallback):
    """Append ``{step, epoch, loss, lr, grad_norm, tokens, padded_tokens, loss_tokens, tokens_per_s, ...}`` rows."""

    def __init__(
        self,
        path: Path,
        counter: TokenCounter,
        on_row: Callable[[dict[str, Any]], None] | None = None,
        extra: dict[str, Any] | None = None,
    ):
        self.path = Path(path)
        self.counter = counter
        self.on_row = on_row
        self.extra = dict(extra or {})  # constant fields of every row (the resolved precision)
        self.rows: list[dict[str, Any]] = []
        self._last = time.perf_counter()
        self._start = self._last
        self._start_step = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self._last = self._start = time.perf_counter()
        self._start_step = state.global_step  # a resumed run starts past 0; its ETA uses this run's pace

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" not in logs:
            return  # the final summary (train_runtime, ...) goes to train_summary.json instead
        now = time.perf_counter()
        seconds = max(now - self._last, 1e-9)
        self._last = now
        tokens, padded, loss_tokens = self.counter.take()
        done_here = state.global_step - self._start_step
        remaining = max(state.max_steps - state.global_step, 0)
        row = {
            "step": state.global_step,
            "max_steps": state.max_steps,
            "epoch": round(float(logs.get("epoch", state.epoch or 0.0)), 4),
            "loss": float(logs["loss"]),
            "lr": float(logs.get("learning_rate", 0.0)),
            "grad_norm": float(logs["grad_norm"]) if logs.get("grad_norm") is not None else None,
            "tokens": tokens,
            "padded_tokens": padded,
            "loss_tokens": loss_tokens,
            "seconds": round(seconds, 3),
            "tokens_per_s": round(tokens / seconds, 2),
            "elapsed": round(now - self._start, 3),
            "eta_seconds": round((now - self._start) / done_here * remaining, 1) if done_here > 0 else None,
            "processes": args.world_size,  # token counts and rates are those of the main process
            **self.extra,
        }
        self.rows.append(row)
        if state.is_world_process_zero:
            with self.path.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
        if self.on_row is not None and state.is_world_process_zero:
            self.on_row(row)


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a ``train_log.jsonl`` (a file or the run folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / LOG_NAME
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def loss_figure(rows: list[dict[str, Any]]) -> Any:
    """Loss against step: ``s1lib.viz.loss_curve`` when it exists, else a plain plotly figure."""
    try:
        from s1lib.viz import loss_curve
    except ImportError:
        loss_curve = None
    if loss_curve is not None:
        return loss_curve(rows)
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=[r["step"] for r in rows], y=[r["loss"] for r in rows], mode="lines+markers"))
    fig.update_layout(
        title="SFT training loss", xaxis_title="optimizer step", yaxis_title="loss", template="plotly_white"
    )
    return fig
