"""Execute one run of a grid through papermill, and keep its status record.

``execute_run(run_dir)`` is the unit of work every executor calls (a local worker subprocess, or a submitit job
on a cluster node): it reads ``run.json``, executes the notebook with papermill into ``notebook.ipynb`` (saved
after every cell, so a crash or a kill leaves the partial notebook), and writes ``status.json`` atomically:
``running`` → ``done`` or ``failed`` (with the exception name, value and cell). A failing notebook is kept with its
error cell. Papermill and nbclient do the executing; nothing here interprets notebook cells.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from s1lib.batch.grid import RunSpec
from s1lib.versions import software_versions

RUN_FILE = "run.json"
STATUS_FILE = "status.json"
JOB_FILE = "job.json"  # the scheduler's job id, written by the submitting process only (never races the job)
EXECUTED_NOTEBOOK = "notebook.ipynb"
STATES = ("pending", "running", "done", "failed", "skipped")


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write, then rename: a reader (or a resumed grid) never sees half a status file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


def read_status(run_dir: Path) -> dict[str, Any] | None:
    """The run's status record, with the cluster job id (``job.json``) merged in when there is one."""
    path = Path(run_dir) / STATUS_FILE
    if not path.is_file():
        return None
    try:
        status = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None  # torn by a crash before the rename existed: treat as never run
    job_path = Path(run_dir) / JOB_FILE
    if job_path.is_file():
        with contextlib.suppress(json.JSONDecodeError, KeyError):
            status.setdefault("job_id", json.loads(job_path.read_text())["job_id"])
    return status


def write_job_id(run_dir: Path, job_id: str) -> None:
    """Record the scheduler's job id beside the status, which the job itself writes: two writers, two files."""
    write_json_atomic(Path(run_dir) / JOB_FILE, {"job_id": job_id, "submitted": time.time()})


def write_status(run_dir: Path, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into the run's status record."""
    status = read_status(run_dir) or {}
    status.update(fields)
    status["updated"] = time.time()
    write_json_atomic(Path(run_dir) / STATUS_FILE, status)
    return status


def prepare_run(run: RunSpec, run_dir: Path, executor: str) -> None:
    """Write ``run.json`` and a ``pending`` status (keeping the attempt count of an earlier try)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run_dir / RUN_FILE, {**run.to_dict(), "versions": software_versions()})
    previous = read_status(run_dir) or {}
    (run_dir / JOB_FILE).unlink(missing_ok=True)  # a new attempt gets its own job id
    write_json_atomic(
        run_dir / STATUS_FILE,
        {
            "run_id": run.run_id,
            "job": run.job,
            "status": "pending",
            "parameters_hash": run.parameters_hash,
            "attempts": previous.get("attempts", 0),
            "executor": executor,
            "updated": time.time(),
        },
    )


def _error_of(exc: BaseException) -> dict[str, Any]:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        return {"ename": exc.ename, "evalue": exc.evalue, "cell_index": exc.cell_index, "exec_count": exc.exec_count}
    return {"ename": type(exc).__name__, "evalue": str(exc), "traceback": traceback.format_exc(limit=5)}


def execute_run(run_dir: str | Path) -> dict[str, Any]:
    """Execute the run in ``run_dir`` (its ``run.json``) and return the final status record. Never raises for a
    failing notebook: the failure is recorded, so one bad run cannot stop a grid."""
    import papermill

    run_dir = Path(run_dir)
    spec = json.loads((run_dir / RUN_FILE).read_text())
    spec["versions"] = software_versions()  # where it runs (a worker may not be the machine that planned it)
    write_json_atomic(run_dir / RUN_FILE, spec)
    previous = read_status(run_dir) or {}
    started = time.time()
    write_status(
        run_dir,
        status="running",
        started=started,
        host=socket.gethostname(),
        pid=os.getpid(),
        device=os.environ.get("CUDA_VISIBLE_DEVICES"),
        attempts=previous.get("attempts", 0) + 1,
        error=None,
    )
    outcome: dict[str, Any] = {"status": "done", "error": None}
    try:
        with open(run_dir / "stdout.log", "w") as stdout, open(run_dir / "stderr.log", "w") as stderr:
            papermill.execute_notebook(
                spec["notebook"],
                str(run_dir / EXECUTED_NOTEBOOK),
                parameters=spec["parameters"],
                kernel_name=spec.get("kernel"),
                cwd=spec.get("cwd") or None,
                progress_bar=False,
                request_save_on_cell_execute=True,
                stdout_file=stdout,
                stderr_file=stderr,
            )
    except Exception as exc:  # every failure is recorded, then the grid goes on
        outcome = {"status": "failed", "error": _error_of(exc)}
    finished = time.time()
    return write_status(run_dir, **outcome, finished=finished, wall_seconds=round(finished - started, 2))


def main(argv: list[str] | None = None) -> int:
    """``python -m s1lib.batch RUN_DIR``: how the local executor runs one run in its own process."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m s1lib.batch RUN_DIR", file=sys.stderr)
        return 2
    status = execute_run(args[0])
    return 0 if status["status"] == "done" else 1
