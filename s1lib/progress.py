"""Progress of long work as plain lines: readable in a terminal, a notebook, a papermill log and a batch log.

A tqdm bar redraws one line with carriage returns, which papermill's logs and the batch console turn into noise;
these are whole lines, printed at most every few seconds (and always at the end), each with counts and an ETA.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO


def format_seconds(seconds: float | None) -> str:
    """``75`` → ``1:15``; ``3725`` → ``1:02:05``; None → ``?``."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


BEAT_SECONDS = 10.0
"""While work between two updates runs long (a batch of problems decoded together reports when all are done), the
active progress prints a heartbeat line at most this often, so no stage is silent for more than about this long."""

_ACTIVE: list[LineProgress] = []


def beat(tokens: int = 0) -> None:
    """Called by decoding loops once a step with the tokens just decided: the innermost active progress (see
    :meth:`LineProgress.active`) counts them and prints a heartbeat line when it has been quiet for
    :data:`BEAT_SECONDS`. Nothing is active, nothing happens: cheap enough to call on every step."""
    if _ACTIVE:
        _ACTIVE[-1].beat(tokens)


class LineProgress:
    """``done/total`` progress printed as lines, throttled to one every ``every`` seconds (plus the last); inside
    ``with progress.active():`` the decoding loops' :func:`beat` adds heartbeat lines with the tokens decoded."""

    def __init__(self, total: int, desc: str, unit: str = "", every: float = 5.0, stream: TextIO | None = None):
        self.tokens = 0
        self.total = max(int(total), 0)
        self.desc = desc
        self.unit = unit
        self.every = every
        self.stream = stream
        self.done = 0
        self.start = time.perf_counter()
        self._last_print = float("-inf")

    def eta(self) -> float | None:
        if not self.done or not self.total:
            return None
        elapsed = time.perf_counter() - self.start
        return elapsed / self.done * (self.total - self.done)

    def line(self, detail: str = "") -> str:
        elapsed = time.perf_counter() - self.start
        unit = f" {self.unit}" if self.unit else ""
        parts = [f"{self.desc}: {self.done}/{self.total}{unit}"]
        if detail:
            parts.append(detail)
        parts.append(f"{format_seconds(elapsed)} elapsed")
        if self.done < self.total:
            parts.append(f"ETA {format_seconds(self.eta())}")
        return " · ".join(parts)

    @contextlib.contextmanager
    def active(self) -> Iterator[LineProgress]:
        """Make this the progress that :func:`beat` reports to, for the duration of the block."""
        _ACTIVE.append(self)
        try:
            yield self
        finally:
            _ACTIVE.remove(self)

    def beat(self, tokens: int = 0) -> None:
        self.tokens += tokens
        now = time.perf_counter()
        if now - max(self._last_print, self.start) >= BEAT_SECONDS:
            self._last_print = now
            print(self.line(f"decoding, {self.tokens} tokens so far"), file=self.stream or sys.stdout, flush=True)

    def update(self, n: int = 1, detail: str = "", force: bool = False) -> None:
        self.done = min(self.done + n, self.total) if self.total else self.done + n
        now = time.perf_counter()
        if force or self.done >= self.total or now - self._last_print >= self.every:
            self._last_print = now
            print(self.line(detail), file=self.stream or sys.stdout, flush=True)


def sft_step_line(row: dict[str, Any]) -> str:
    """One SFT log row as a progress line: ``SFT step 3/20 · loss 1.234 · 142 tokens/s · 0:45 elapsed · ETA 4:10``."""
    total = row.get("max_steps")
    parts = [f"SFT step {int(row['step'])}/{total if total else '?'}", f"loss {row['loss']:.4f}"]
    if row.get("tokens_per_s") is not None:
        parts.append(f"{row['tokens_per_s']:.0f} tokens/s")
    parts.append(f"{format_seconds(float(row.get('elapsed') or 0.0))} elapsed")
    if row.get("eta_seconds") is not None:
        parts.append(f"ETA {format_seconds(row['eta_seconds'])}")
    return " · ".join(parts)


def sft_loss_line(rows: list[dict[str, Any]]) -> str:
    """A whole SFT log (``train_log.jsonl`` rows) as one line, ``loss 1.96 → 0.31 over 60 steps``: where the loss
    started and ended is what says whether training took, where :func:`sft_step_line` says how far it has got."""
    if not rows:
        return "no loss logged"
    first, last = rows[0], rows[-1]
    steps = int(last["step"])
    if len(rows) == 1:
        return f"loss {last['loss']:.2f} after {steps} step{'s' * (steps != 1)}"
    return f"loss {first['loss']:.2f} → {last['loss']:.2f} over {steps} steps"
