"""What this machine is, and how many threads a torch process may use on it.

Machines of the same kind differ (an Intel Xeon with AMX, an AMD EPYC with AVX2 only, ...), so everything that
depends on the processor is read here, once, and recorded with the results: the CPU model, the instruction-set
flags that decide bf16 speed, the cores this process may run on, and torch's kernel capability.

Threads: torch should use the physical cores this process may run on, never more. ``S1_NUM_THREADS`` (set by the
batch scheduler for each local worker, so N workers on C cores get C/N each) or ``OMP_NUM_THREADS`` overrides it.
"""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path

THREADS_ENV = "S1_NUM_THREADS"
BF16_FLAGS = ("amx_bf16", "avx512_bf16", "avx_ne_convert")
"""CPU flags that give native bf16 arithmetic (x86); without one, torch falls back to a slow scalar bf16 path."""


@dataclass(frozen=True)
class CPUInfo:
    """The processor, as ``lscpu`` would name it, and the facts that decide precision and threads."""

    model: str
    logical_cpus: int
    physical_cores: int
    bf16_flags: tuple[str, ...]
    isa: str  # the widest of avx512 / avx2 / avx / neon / other

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "bf16_flags": list(self.bf16_flags)}


def _cpuinfo_fields() -> tuple[str, set[str]]:
    model, flags = "", set()
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.processor() or platform.machine(), flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware") and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return model or platform.processor() or platform.machine(), flags


def usable_cpus() -> list[int]:
    """The CPU ids this process may run on (its affinity mask)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def _physical_cores(cpus: list[int]) -> int:
    """Distinct (package, core) pairs among the CPUs this process may use; hyperthread siblings count once."""
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            package = (topology / "physical_package_id").read_text().strip()
            core = (topology / "core_id").read_text().strip()
        except OSError:
            return len(cpus)
        cores.add((package, core))
    return len(cores) or len(cpus)


@functools.lru_cache(maxsize=1)
def cpu_info() -> CPUInfo:
    model, flags = _cpuinfo_fields()
    cpus = usable_cpus()
    if "avx512f" in flags:
        isa = "avx512"
    elif "avx2" in flags:
        isa = "avx2"
    elif "avx" in flags:
        isa = "avx"
    elif "asimd" in flags or platform.machine() in ("aarch64", "arm64"):
        isa = "neon"
    else:
        isa = "other"
    bf16 = tuple(f for f in BF16_FLAGS if f in flags) + (("bf16",) if "bf16" in flags else ())
    return CPUInfo(model, len(cpus), _physical_cores(cpus), bf16, isa)


def default_threads() -> int:
    """Threads for torch in this process: ``S1_NUM_THREADS``, else ``OMP_NUM_THREADS``, else the physical cores."""
    for name in (THREADS_ENV, "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value:
            try:
                threads = int(value)
            except ValueError:
                raise ValueError(f"{name}={value!r}: expected a positive integer number of threads") from None
            if threads < 1:
                raise ValueError(f"{name}={value!r}: expected a positive integer number of threads")
            return threads
    return cpu_info().physical_cores


def configure_threads() -> int:
    """Set torch's intra-op threads to :func:`default_threads` (idempotent); return the count."""
    import torch

    threads = default_threads()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def split_threads(workers: int, cores: int | None = None) -> list[int]:
    """Threads per worker so that ``workers`` processes on ``cores`` cores never oversubscribe them.

    Each worker gets ``cores // workers`` (at least 1); the remainder goes to the first workers. With more
    workers than cores every worker gets one thread, which is the least a process can use.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    cores = cpu_info().physical_cores if cores is None else cores
    base, extra = divmod(max(cores, 1), workers)
    return [max(1, base + (1 if i < extra else 0)) for i in range(workers)]


def default_device() -> str:
    """``cuda`` when torch sees a GPU, else ``cpu`` (what ``device="auto"`` means everywhere in s1lib)."""
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def describe() -> dict[str, object]:
    """Machine facts for run metadata: CPU, torch's kernel capability and threads."""
    import torch

    info = cpu_info().to_dict()
    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except Exception:  # older torch
        capability = None
    return {
        "cpu": info,
        "torch": torch.__version__,
        "torch_cpu_capability": capability,
        "threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
