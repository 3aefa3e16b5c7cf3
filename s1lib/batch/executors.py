"""Where runs execute: local worker processes (one device each), or submitit jobs (Slurm, or submitit's local
executor, which the tests use). Each executor turns a run folder into a handle with ``done()``; the run itself
always goes through ``s1lib.batch.runner.execute_run``, which records its own status.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

WORKER_LOG = "worker.log"


class Handle(Protocol):
    def done(self) -> bool: ...


def detect_devices() -> list[str]:
    """GPU ids to hand out, one per worker: ``CUDA_VISIBLE_DEVICES`` if set, else torch's count (none on CPU)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d for d in visible.split(",") if d.strip()]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:  # no torch or no driver: CPU only
        return []


class LocalExecutor:
    """``workers`` runs at a time, each in its own ``python -m s1lib.batch`` process.

    With GPUs, each worker owns one device, or one group of devices for tensor parallelism (``"0,1"``), for all
    its runs (``CUDA_VISIBLE_DEVICES`` in the run's environment), so two notebooks never share a GPU. Every worker
    gets its share of the physical cores as its thread count (``S1_NUM_THREADS``, ``OMP_NUM_THREADS``), so N
    workers on C cores never run more than C threads; on a CPU-only machine at most C workers run.
    """

    name = "local"

    def __init__(self, workers: int = 1, devices: list[str] | None = None):
        from s1lib.machine import cpu_info, split_threads

        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.devices = list(devices) if devices is not None else detect_devices()
        if self.devices and workers > len(self.devices):
            raise ValueError(f"{workers} workers but only {len(self.devices)} devices {self.devices}: one per worker")
        cores = cpu_info().physical_cores
        if not self.devices and workers > cores:
            raise ValueError(
                f"{workers} workers on {cores} cores: at most {cores} (each torch process needs a core of its own; "
                "two on one core were measured 10-50x slower)"
            )
        self.workers = workers
        self.threads = split_threads(workers, cores)  # N workers on C cores: C/N threads each, never more
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="s1-batch")
        self._free = list(self.devices[:workers])
        self._slots = list(range(workers))
        self._lock = threading.Lock()
        self._processes: set[subprocess.Popen] = set()

    @property
    def capacity(self) -> int:
        return self.workers

    def worker_env(self, slot: int, device: str | None = None) -> dict[str, str]:
        """The environment of a run in worker ``slot``: its share of the cores, and its GPU (group) if any."""
        from s1lib.machine import THREADS_ENV

        env = dict(os.environ)
        threads = str(self.threads[slot])
        env[THREADS_ENV] = env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = threads
        if device is not None:
            env["CUDA_VISIBLE_DEVICES"] = device
        return env

    def _run(self, run_dir: Path) -> int:
        device = None
        with self._lock:
            slot = self._slots.pop()
            if self.devices:
                device = self._free.pop()
        try:
            # The worker's own output (the kernel's start-up chatter) goes to worker.log; the notebook's output is
            # in stdout.log/stderr.log, which the grid follows and prints as progress.
            with open(Path(run_dir) / WORKER_LOG, "w") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "s1lib.batch", str(run_dir)],
                    env=self.worker_env(slot, device),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                with self._lock:
                    self._processes.add(process)
                code = process.wait()
            with self._lock:
                self._processes.discard(process)
            return code
        finally:
            with self._lock:
                self._slots.append(slot)
                if device is not None:
                    self._free.append(device)

    def submit(self, run_dir: Path) -> Future:
        return self._pool.submit(self._run, run_dir)

    def shutdown(self, cancel: bool = False) -> None:
        if cancel:
            with self._lock:
                for process in self._processes:
                    process.terminate()
        self._pool.shutdown(wait=True, cancel_futures=cancel)


@dataclass
class SlurmOptions:
    """Cluster resources of each run (submitit's ``update_parameters``); one GPU per run by default."""

    partition: str | None = field(default=None, metadata={"help": "Slurm partition."})
    gpus_per_node: int = field(default=1, metadata={"help": "GPUs per run (tensor parallelism inside a run)."})
    cpus_per_task: int = field(default=8, metadata={"help": "CPU cores per run."})
    mem_gb: int = field(default=64, metadata={"help": "Memory per run."})
    timeout_min: int = field(default=240, metadata={"help": "Wall-clock limit per run."})
    max_parallel: int = field(default=64, metadata={"help": "Runs submitted at once."})
    additional: dict[str, Any] = field(default_factory=dict, metadata={"help": "More slurm_* parameters."})


class SubmititExecutor:
    """Runs as submitit jobs: ``cluster='slurm'`` on a cluster, ``'local'`` for submitit's local executor.

    Jobs log under ``<grid>/.submitit/``; the job id is recorded in each run's status. Each job calls
    ``execute_run`` on the node, so a run behaves the same wherever it executes.
    """

    def __init__(self, folder: Path, cluster: str = "slurm", options: SlurmOptions | None = None):
        try:
            import submitit
        except ImportError as error:  # pragma: no cover - submitit is a dependency of s1lib[notebooks]
            raise ImportError("--executor slurm needs submitit: pip install submitit") from error
        self.options = options or SlurmOptions()
        self.name = "submitit-local" if cluster == "local" else "slurm"
        self._executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
        parameters: dict[str, Any] = {"timeout_min": self.options.timeout_min, "name": "s1-batch"}
        if cluster == "local":
            parameters["gpus_per_node"] = 0
        else:
            parameters.update(
                slurm_partition=self.options.partition,
                gpus_per_node=self.options.gpus_per_node,
                cpus_per_task=self.options.cpus_per_task,
                mem_gb=self.options.mem_gb,
                slurm_array_parallelism=self.options.max_parallel,
                **{f"slurm_{k}" if not k.startswith("slurm_") else k: v for k, v in self.options.additional.items()},
            )
            if parameters["slurm_partition"] is None:
                del parameters["slurm_partition"]
        self._executor.update_parameters(**parameters)
        self._jobs: list[Any] = []

    @property
    def capacity(self) -> int:
        return self.options.max_parallel

    def submit(self, run_dir: Path) -> Any:
        from s1lib.batch.runner import execute_run, write_job_id

        job = self._executor.submit(execute_run, str(run_dir))
        write_job_id(run_dir, str(job.job_id))
        self._jobs.append(job)
        return job

    def shutdown(self, cancel: bool = False) -> None:
        if cancel:
            for job in self._jobs:
                if not job.done():
                    job.cancel(check=False)
