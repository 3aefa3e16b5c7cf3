"""Run a grid: resume what is finished, respect dependencies, keep going past failures, summarise at the end.

A run is **reused** when its ``status.json`` says ``done`` for the same notebook (path and cells' sources) and
parameters (its ``parameters_hash``); a run left ``running`` by a killed grid, a ``failed`` run (unless
``retry_failed=False``) and a run whose notebook or parameters changed execute again. A failed or interrupted run
of unchanged work resumes in its folder (a sweep continues from its samples); a run whose notebook, parameters or
upstream runs changed starts from an empty folder, since its outputs came from other inputs. A run whose dependency
failed is marked ``skipped`` with the reason, never executed against missing inputs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s1lib.batch.grid import Grid, RunSpec
from s1lib.batch.runner import STATUS_FILE, prepare_run, read_status, write_status

logger = logging.getLogger(__name__)


@dataclass
class GridResult:
    grid: Grid
    statuses: dict[str, dict[str, Any]]
    reused: list[str] = field(default_factory=list)
    executed: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(s.get("status") == "done" for s in self.statuses.values())

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for status in self.statuses.values():
            counts[status.get("status", "?")] = counts.get(status.get("status", "?"), 0) + 1
        return counts


class OutputFollower:
    """New lines of each running notebook's ``stdout.log`` (papermill writes cell output there as it happens), so a
    grid shows every stage's own progress (SFT steps, sweep batches) instead of minutes of silence."""

    LOG = "stdout.log"

    def __init__(self, emit: Callable[[str, str], None]):
        self.emit = emit
        self.offsets: dict[str, int] = {}
        self.partial: dict[str, str] = {}

    def poll(self, run_id: str, run_dir: Path, final: bool = False) -> None:
        path = Path(run_dir) / self.LOG
        try:
            with path.open("rb") as handle:
                handle.seek(self.offsets.get(run_id, 0))
                data = handle.read()
        except OSError:
            return
        self.offsets[run_id] = self.offsets.get(run_id, 0) + len(data)
        text = self.partial.pop(run_id, "") + data.decode("utf-8", errors="replace")
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if not final:
            self.partial[run_id] = lines.pop()  # an unfinished line waits for its end
        for line in lines:
            if line.strip():
                self.emit(run_id, line.rstrip())


def is_reusable(status: dict[str, Any] | None, parameters_hash: str, retry_failed: bool) -> bool:
    if not status or status.get("parameters_hash") != parameters_hash:
        return False
    return status.get("status") == "done" or (status.get("status") == "failed" and not retry_failed)


def resumes_in_place(run: RunSpec, status: dict[str, Any] | None, rerun: set[str], force: bool) -> bool:
    """Whether a run that executes again continues in its folder: another attempt at the same work (same notebook
    and parameters, nothing it depends on run again, no ``force``). Otherwise its old outputs are stale."""
    if force or status is None or status.get("parameters_hash") != run.parameters_hash:
        return False
    return not any(d in rerun for d in run.after)


def clear_stale_outputs(run_dir: Path) -> bool:
    """Empty a run's folder of an earlier execution's outputs (they came from other inputs), keeping only its
    ``status.json`` (the count of attempts goes on); whether there was anything to remove."""
    import shutil

    stale = [p for p in run_dir.iterdir() if p.name != STATUS_FILE] if run_dir.is_dir() else []
    for path in stale:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return bool(stale)


def run_grid(
    grid: Grid,
    executor: Any,
    force: bool = False,
    retry_failed: bool = True,
    only: list[str] | None = None,
    on_event: Callable[[str, str, dict[str, Any]], None] | None = None,
    poll_seconds: float = 0.5,
    summarize: bool = True,
    title: str | None = None,
    on_output: Callable[[str, str], None] | None = None,
) -> GridResult:
    """Execute every run of ``grid`` that is not already finished, ``executor.capacity`` at a time.

    ``on_event(kind, run_id, status)`` sees ``reused``, ``cleared`` (a stale run's old outputs removed), ``start``,
    ``done``, ``failed`` and ``skipped`` (the CLI
    prints them as progress); ``on_output(run_id, line)`` sees each line a running notebook prints. ``only``
    restricts the grid to these runs and what they depend on. ``title`` heads
    the report written at the end (``summarize``).
    """
    started = time.time()
    grid.directory.mkdir(parents=True, exist_ok=True)
    wanted = _closure(grid, only) if only else {r.run_id for r in grid.runs}
    runs = [r for r in grid.runs if r.run_id in wanted]
    emit = on_event or (lambda kind, run_id, status: None)
    result = GridResult(grid, {})

    # A finished run is reused unless it, or anything it depends on, must run again (stale inputs).
    rerun = {
        r.run_id
        for r in runs
        if force or not is_reusable(read_status(grid.run_dir(r.run_id)), r.parameters_hash, retry_failed)
    }
    changed = True
    while changed:
        changed = False
        for run in runs:
            if run.run_id not in rerun and any(d in rerun for d in run.after):
                rerun.add(run.run_id)
                changed = True
    pending = []
    for run in runs:
        run_dir = grid.run_dir(run.run_id)
        if run.run_id not in rerun:
            status = read_status(run_dir) or {}
            result.statuses[run.run_id] = status
            result.reused.append(run.run_id)
            emit("reused", run.run_id, status)
        else:
            if not resumes_in_place(run, read_status(run_dir), rerun, force) and clear_stale_outputs(run_dir):
                emit("cleared", run.run_id, {})
            prepare_run(run, run_dir, getattr(executor, "name", "local"))
            pending.append(run)

    active: dict[str, Any] = {}
    follower = OutputFollower(on_output) if on_output is not None else None
    try:
        while pending or active:
            for run in list(pending):
                failed_deps = [
                    d for d in run.after if result.statuses.get(d, {}).get("status") in ("failed", "skipped")
                ]
                if failed_deps:
                    status = write_status(
                        grid.run_dir(run.run_id),
                        status="skipped",
                        error={"ename": "DependencyFailed", "evalue": f"{failed_deps} did not finish"},
                    )
                    result.statuses[run.run_id] = status
                    pending.remove(run)
                    emit("skipped", run.run_id, status)
                elif all(result.statuses.get(d, {}).get("status") == "done" for d in run.after):
                    if len(active) >= executor.capacity:
                        continue
                    active[run.run_id] = executor.submit(grid.run_dir(run.run_id))
                    pending.remove(run)
                    result.executed.append(run.run_id)
                    emit("start", run.run_id, read_status(grid.run_dir(run.run_id)) or {})
            finished = [run_id for run_id, handle in active.items() if handle.done()]
            if follower is not None:
                for run_id in active:
                    follower.poll(run_id, grid.run_dir(run_id), final=run_id in finished)
            for run_id in finished:
                handle = active.pop(run_id)
                status = _final_status(grid.run_dir(run_id), handle)
                result.statuses[run_id] = status
                emit(status["status"], run_id, status)
            if not finished and (active or pending):
                if not active and pending:
                    raise RuntimeError(f"runs {[r.run_id for r in pending]} wait on runs outside this grid")
                time.sleep(poll_seconds)
    except BaseException:
        executor.shutdown(cancel=True)
        raise
    executor.shutdown()
    result.wall_seconds = round(time.time() - started, 2)
    if summarize:
        from s1lib.batch.report import write_report

        result.report = write_report(grid, result, title=title)
    return result


def _final_status(run_dir: Path, handle: Any) -> dict[str, Any]:
    """The run's own record, or ``failed`` if its process died before it could write one (OOM, kill, timeout)."""
    status = read_status(run_dir) or {}
    if status.get("status") in ("done", "failed"):
        return status
    reason = "the run's process ended without recording a result (killed, out of memory or timed out)"
    try:
        exception = handle.exception() if hasattr(handle, "exception") else None
        if exception is not None:
            reason = f"{type(exception).__name__}: {exception}"
    except Exception as error:  # submitit raises when the job state is unknown
        reason = f"{reason}; executor says {error}"
    return write_status(run_dir, status="failed", error={"ename": "RunLost", "evalue": reason}, finished=time.time())


def _closure(grid: Grid, only: list[str]) -> set[str]:
    known = {r.run_id for r in grid.runs}
    jobs = {r.job for r in grid.runs}
    wanted: set[str] = set()
    for name in only:
        if name in known:
            wanted.add(name)
        elif name in jobs:
            wanted.update(r.run_id for r in grid.runs if r.job == name)
        else:
            raise ValueError(f"--only {name!r}: no such run or job; runs: {sorted(known)}")
    stack = list(wanted)
    while stack:
        for dep in grid.get(stack.pop()).after:
            if dep not in wanted:
                wanted.add(dep)
                stack.append(dep)
    return wanted
