"""Batch grids: the workspace's notebooks as papermill jobs, locally or on Slurm (``s1 batch GRID.yaml``).

``grid`` reads a grid file into runs, ``runner`` executes one run with papermill and records its status,
``executors`` place runs on local workers (one GPU each) or submitit jobs, ``scheduler`` resumes and orders them,
and ``report`` gathers every run's metrics and figures into one page.
"""

from s1lib.batch.executors import LocalExecutor, SlurmOptions, SubmititExecutor
from s1lib.batch.grid import Grid, GridError, RunSpec, load_grid
from s1lib.batch.report import write_report
from s1lib.batch.runner import execute_run, read_status
from s1lib.batch.scheduler import GridResult, run_grid

__all__ = [
    "Grid",
    "GridError",
    "GridResult",
    "LocalExecutor",
    "RunSpec",
    "SlurmOptions",
    "SubmititExecutor",
    "execute_run",
    "load_grid",
    "read_status",
    "run_grid",
    "write_report",
]
