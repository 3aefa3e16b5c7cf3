"""``s1 batch GRID.yaml``: execute a grid of notebooks with papermill, resumable, locally or on Slurm."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from s1lib.batch.executors import LocalExecutor, SlurmOptions, SubmititExecutor
from s1lib.batch.grid import GridError, load_grid
from s1lib.batch.scheduler import GridResult, run_grid
from s1lib.cli.commands import add_command
from s1lib.cli.flags import field_flag, run_flag


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``--set key=value`` pairs; values are parsed as YAML (numbers, lists, null), else kept as strings."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise GridError(f"--set {item!r}: expected KEY=VALUE")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def parse_devices(text: str) -> list[str]:
    """``0,1,2,3``: one GPU per worker; ``0,1|2,3``: a group per worker (tensor parallelism); ``''``: none."""
    separator = "|" if "|" in text else ","
    return [group.strip() for group in text.split(separator) if group.strip()]


def make_executor(args: argparse.Namespace, grid_dir: Path) -> Any:
    if args.executor == "local":
        devices = None if args.devices is None else parse_devices(args.devices)
        return LocalExecutor(workers=args.workers, devices=devices)
    options = SlurmOptions(
        partition=args.slurm_partition,
        gpus_per_node=args.gpus_per_run,
        timeout_min=args.timeout_min,
        cpus_per_task=args.cpus_per_run,
        mem_gb=args.mem_gb,
        max_parallel=args.workers if args.executor == "submitit-local" else max(args.workers, 64),
    )
    cluster = "local" if args.executor == "submitit-local" else "slurm"
    return SubmititExecutor(grid_dir / ".submitit", cluster=cluster, options=options)


class ProgressPrinter:
    """One line per event, with a running count: readable in a terminal and in a batch log."""

    def __init__(self, total: int, stream: Any = sys.stderr):
        self.total, self.finished, self.stream = total, 0, stream

    def __call__(self, kind: str, run_id: str, status: dict[str, Any]) -> None:
        if kind in ("reused", "done", "failed", "skipped"):
            self.finished += 1
        detail = ""
        if kind == "start" and status.get("executor"):
            detail = f" ({status['executor']})"
        elif kind in ("done", "failed") and status.get("wall_seconds") is not None:
            detail = f" in {status['wall_seconds']:.1f} s"
        if kind in ("failed", "skipped") and status.get("error"):
            error = status["error"]
            detail += f": {error.get('ename')}: {str(error.get('evalue'))[:200]}"
        stamp = time.strftime("%H:%M:%S")
        print(f"[{stamp} {self.finished}/{self.total}] {kind:7} {run_id}{detail}", file=self.stream, flush=True)

    def output(self, run_id: str, line: str) -> None:
        """A line the running notebook printed (its own progress), indented under the run's events."""
        print(f"    {run_id} | {line}", file=self.stream, flush=True)


def add_grid_arguments(parser: argparse.ArgumentParser) -> None:
    run_flag(parser, "--output-root", default=None, help="parent of the grid folder (default: the grid's, or runs/)")
    run_flag(
        parser,
        "--executor",
        choices=("local", "slurm", "submitit-local"),
        default="local",
        help="local worker processes, Slurm through submitit, or submitit's local executor",
    )
    run_flag(
        parser, "--workers", type=int, default=1, help="runs at a time (local: one device each when there are GPUs)"
    )
    run_flag(
        parser,
        "--devices",
        default=None,
        help="GPUs for local workers: '0,1,2,3' one each, '0,1|2,3' a group each, '' none (default: all visible)",
    )
    run_flag(parser, "--force", action="store_true", help="run everything again, even finished runs")
    run_flag(parser, "--keep-failed", action="store_true", help="do not retry runs that failed before")
    run_flag(parser, "--json", action="store_true", help="print the summary as JSON on stdout")
    slurm = parser.add_argument_group("Slurm (--executor slurm)")
    field_flag(slurm, SlurmOptions, "partition", flag="--slurm-partition", dest="slurm_partition")
    field_flag(slurm, SlurmOptions, "gpus_per_node", flag="--gpus-per-run", dest="gpus_per_run")
    field_flag(slurm, SlurmOptions, "timeout_min", note="(minutes)")
    field_flag(slurm, SlurmOptions, "cpus_per_task", flag="--cpus-per-run", dest="cpus_per_run")
    field_flag(slurm, SlurmOptions, "mem_gb", note="(GB)")


def execute(grid: Any, args: argparse.Namespace, only: list[str] | None = None, title: str | None = None) -> GridResult:
    executor = make_executor(args, grid.directory)
    printer = ProgressPrinter(len(grid.runs))
    return run_grid(
        grid,
        executor,
        force=args.force,
        retry_failed=not args.keep_failed,
        only=only,
        on_event=printer,
        title=title,
        on_output=printer.output,
    )


def _cmd_batch(args: argparse.Namespace) -> int:
    try:
        grid = load_grid(
            args.grid,
            profile=args.profile,
            output_root=args.output_root,
            name=args.name,
            overrides=parse_overrides(args.set),
        )
    except (GridError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.dry_run:
        plan = [
            {"run_id": r.run_id, "notebook": r.notebook, "after": r.after, "parameters": r.parameters}
            for r in grid.runs
        ]
        print(json.dumps({"grid": grid.name, "folder": str(grid.directory), "runs": plan}, indent=1, default=str))
        return 0
    result = execute(grid, args, only=args.only)
    return report_result(result, args.json)


def report_result(result: GridResult, as_json: bool) -> int:
    counts = result.counts()
    if as_json:
        print(
            json.dumps(
                {
                    "grid": result.grid.name,
                    "counts": counts,
                    "wall_seconds": result.wall_seconds,
                    "reused": result.reused,
                    "executed": result.executed,
                    **result.report,
                },
                indent=1,
            )
        )
    else:
        print(
            f"grid {result.grid.name}: {counts} in {result.wall_seconds:.0f} s "
            f"({len(result.reused)} reused, {len(result.executed)} executed)"
        )
        for kind, path in result.report.items():
            print(f"{kind:8} {path}")
    return 0 if result.ok else 1


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "batch",
        description="Execute every run of GRID (a YAML/JSON file) into <output-root>/<grid>/<run-id>/, skipping "
        "finished runs, recording failures, and writing report.html + summary.json at the end.",
    )
    run_flag(parser, "grid", help="grid file (see env/batch/)")
    run_flag(parser, "--profile", default=None, help="a profile of the grid file (e.g. quick)")
    run_flag(parser, "--name", default=None, help="grid folder name (default: the grid's name)")
    run_flag(parser, "--set", action="append", metavar="KEY=VALUE", help="parameter for every run (repeatable)")
    run_flag(parser, "--only", nargs="+", default=None, help="only these runs or jobs (and what they need)")
    run_flag(parser, "--dry-run", action="store_true", help="print the planned runs and exit")
    add_grid_arguments(parser)
    parser.set_defaults(func=_cmd_batch)
