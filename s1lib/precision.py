"""Choosing float32 or bfloat16 for this device by measurement, and recording the choice.

bf16 is not always faster. On a CPU with AMX it ran 1.7× faster than float32 here; on an AMD EPYC with AVX2 only,
torch 2.13 fell back to a scalar kernel and a bf16 matmul ran 64× slower (one SFT step: 503 s instead of ~40 s).
So ``"auto"``, the default wherever s1lib picks a precision, resolves once per process:

- on CUDA, bf16 where the device supports it, else float32;
- on a CPU, bf16 only where a short matmul probe shows bf16 at least as fast as float32, else float32. The probe
  takes about a second and is cached per machine (CPU model, flags, torch version, threads, probe version) under
  ``$S1_CACHE_DIR/precision.json``. It keeps each precision's fastest of three interleaved rounds: a stall can
  only slow a measurement down, and one stalled sample once recorded bf16 at 0.86 GFLOP/s on an EPYC whose bf16
  runs at about 400 (2.4x float32).

An explicit ``"bfloat16"`` on a CPU where the probe shows it slow still runs, with one warning that names the
measured slowdown. :func:`precision_record` is what runs write into their metadata.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from s1lib.machine import cpu_info, default_device

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
CACHE_FILE = "precision.json"
PROBE_VERSION = 2
"""Part of the cache key: entries of the single-sample probe (version 1) are measured again."""
PROBE_ROUNDS = 3
PROBE_SHAPE = (128, 576, 1536)
"""``(m, k, n)`` of the probe matmul: SmolLM2's hidden and MLP sizes at a batch of rows. Small enough that the slow
scalar bf16 path (1.2 GFLOP/s) still finishes one product in 0.2 s."""


@dataclass(frozen=True)
class Probe:
    """Measured matmul throughput of both precisions on this CPU."""

    float32_gflops: float
    bfloat16_gflops: float
    key: str
    seconds: float

    @property
    def bf16_speedup(self) -> float:
        """bf16 throughput ÷ float32 throughput (< 1: bf16 is slower)."""
        return self.bfloat16_gflops / self.float32_gflops if self.float32_gflops > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bf16_speedup": round(self.bf16_speedup, 3)}


@dataclass(frozen=True)
class Resolution:
    """What a requested precision became on this device, and why."""

    requested: str
    dtype: str  # "float32" | "bfloat16" | "float16"
    device: str
    reason: str
    probe: Probe | None = None

    @property
    def bf16(self) -> bool:
        return self.dtype == "bfloat16"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "requested": self.requested,
            "dtype": self.dtype,
            "device": self.device,
            "reason": self.reason,
        }
        if self.probe is not None:
            out["probe"] = self.probe.to_dict()
        return out


def check_precision(value: Any, field_name: str = "precision") -> str:
    """Normalise a precision name (``bf16`` → ``bfloat16``, ``fp32`` → ``float32``); reject anything else by name."""
    aliases = {"bf16": "bfloat16", "fp32": "float32", "fp16": "float16", "half": "float16", "float": "float32"}
    if hasattr(value, "is_floating_point"):  # a torch.dtype
        value = str(value).removeprefix("torch.")
    name = aliases.get(value.lower(), value.lower()) if isinstance(value, str) else None
    if name not in PRECISIONS:
        raise ValueError(f"{field_name}: expected one of {list(PRECISIONS)}, got {value!r}")
    return name


def machine_key() -> str:
    """What the probe's result depends on: CPU model and flags, torch version and kernel capability, threads."""
    import torch

    info = cpu_info()
    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except Exception:
        capability = "unknown"
    parts = [
        info.model,
        info.isa,
        ",".join(info.bf16_flags),
        torch.__version__,
        capability,
        str(torch.get_num_threads()),
        f"probe={PROBE_VERSION}",
    ]
    parts += [f"{k}={os.environ[k]}" for k in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA") if os.environ.get(k)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def matmul_gflops(dtype: Any, min_seconds: float, shape: tuple[int, int, int] = PROBE_SHAPE) -> float:
    """GFLOP/s of an ``(m, k) @ (k, n)`` product in ``dtype`` over at least ``min_seconds`` (one call at minimum):
    the probe's measurement, and ``s1 bench precision``'s at its larger shape."""
    import torch

    m, k, n = shape
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(m, k, generator=generator).to(dtype)
    b = torch.randn(k, n, generator=generator).to(dtype)
    start = time.perf_counter()
    a @ b
    first = time.perf_counter() - start
    if first >= min_seconds:  # so slow that one product is the measurement (its overheads are noise here)
        return 2 * m * k * n / first / 1e9
    calls, start = 0, time.perf_counter()  # the first call's overheads (kernel choice, allocation) left out
    while True:
        a @ b
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            break
    return 2 * m * k * n * calls / elapsed / 1e9


def run_probe(min_seconds: float = 0.05, rounds: int = PROBE_ROUNDS) -> Probe:
    """Time the probe matmul in float32 and bf16, interleaved over ``rounds`` rounds (at least ``min_seconds``
    each, one call at minimum), and keep each precision's fastest round: a stall of the host (another process on
    the same cores) only ever slows a round down, so the fastest is the machine's own speed."""
    start = time.perf_counter()
    import torch

    f32, bf16 = 0.0, 0.0
    for _ in range(max(1, rounds)):
        f32 = max(f32, matmul_gflops(torch.float32, min_seconds))
        bf16 = max(bf16, matmul_gflops(torch.bfloat16, min_seconds))
    return Probe(round(f32, 2), round(bf16, 2), machine_key(), round(time.perf_counter() - start, 3))


def _cache_path() -> Path:
    from s1lib.paths import cache_dir

    return cache_dir() / CACHE_FILE


def cached_probe(refresh: bool = False) -> Probe:
    """The probe for this machine: from the cache when its key matches, else measured now and cached."""
    path = _cache_path()
    key = machine_key()
    entries: dict[str, Any] = {}
    if path.is_file():
        try:
            entries = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            entries = {}  # a torn or foreign file is measured again, never trusted
        if not isinstance(entries, dict):
            entries = {}
    entry = entries.get(key)
    if not refresh and isinstance(entry, dict):
        try:
            return Probe(float(entry["float32_gflops"]), float(entry["bfloat16_gflops"]), key, float(entry["seconds"]))
        except (KeyError, TypeError, ValueError):
            pass
    probe = run_probe()
    entries[key] = {**asdict(probe), "measured": time.time(), "cpu": cpu_info().model}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(entries, indent=1))
        os.replace(tmp, path)
    except OSError as error:  # a read-only cache only costs a re-probe next time
        logger.info("could not cache the precision probe in %s: %s", path, error)
    return probe


_warned: set[str] = set()


def _device_kind(device: Any) -> str:
    text = str(device or "cpu").lower()
    if text == "auto":
        return default_device()
    return "cuda" if text.startswith("cuda") else text.split(":")[0]


def _resolve(requested: str, device: str, probe: Probe | None) -> Resolution:
    import torch

    if device == "cuda":
        supported = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        if requested == "auto":
            dtype = "bfloat16" if supported else "float32"
            why = "CUDA device supports bf16" if supported else "CUDA device without bf16 support"
            return Resolution(requested, dtype, device, why)
        return Resolution(requested, requested, device, "explicit")
    if device != "cpu":  # mps, xpu, ...: explicit choices only; auto stays safe
        return Resolution(requested, "float32" if requested == "auto" else requested, device, f"{device}: no probe")
    if requested in ("float32", "float16"):
        return Resolution(requested, requested, device, "explicit")
    probe = probe or cached_probe()
    fast = probe.bfloat16_gflops >= probe.float32_gflops
    if requested == "auto":
        dtype = "bfloat16" if fast else "float32"
        why = (
            f"probe: bf16 {probe.bfloat16_gflops:.1f} vs float32 {probe.float32_gflops:.1f} GFLOP/s "
            f"({probe.bf16_speedup:.2f}x)"
        )
        return Resolution(requested, dtype, device, why, probe)
    if not fast and probe.key not in _warned:
        _warned.add(probe.key)
        slowdown = probe.float32_gflops / max(probe.bfloat16_gflops, 1e-9)
        warnings.warn(
            f"bfloat16 was requested, but on this CPU ({cpu_info().model}) a bf16 matmul runs {slowdown:.1f}x slower "
            f"than float32 ({probe.bfloat16_gflops:.1f} vs {probe.float32_gflops:.1f} GFLOP/s, no native bf16); "
            "running in bf16 anyway. Use 'auto' or 'float32' to run at this machine's speed.",
            RuntimeWarning,
            stacklevel=3,
        )
    return Resolution(requested, "bfloat16", device, "explicit", probe)


@functools.cache
def _resolve_cached(requested: str, device: str) -> Resolution:
    return _resolve(requested, device, None)


def resolve_precision(requested: Any = "auto", device: Any = "cpu", probe: Probe | None = None) -> Resolution:
    """Resolve ``requested`` (``auto``, ``float32``, ``bfloat16``/``bf16``, ``float16``) for ``device``.

    Resolved once per process and device from this machine's cached probe; an explicit bf16 on a CPU where it is
    slow warns once. A given ``probe`` is used as is and nothing is cached (tests, benches).
    """
    requested, device = check_precision(requested), _device_kind(device)
    if probe is not None:
        return _resolve(requested, device, probe)
    return _resolve_cached(requested, device)


def torch_dtype(requested: Any = "auto", device: Any = "cpu") -> Any:
    """The ``torch.dtype`` that :func:`resolve_precision` chooses."""
    import torch

    return getattr(torch, resolve_precision(requested, device).dtype)


def precision_record(requested: Any = "auto", device: Any = "cpu") -> dict[str, Any]:
    """The resolved precision with the machine facts behind it, as runs record it in their metadata."""
    from s1lib.machine import describe

    return {**resolve_precision(requested, device).to_dict(), "machine": describe()}


def clear_cache() -> None:
    """Forget this process's resolutions and warnings (tests; a changed thread count)."""
    _resolve_cached.cache_clear()
    _warned.clear()
