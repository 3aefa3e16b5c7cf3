"""Choosing float32 or bfloat16 for this device by measurement, and recording the choice.

bf16 is not always faster. On a CPU with AMX it ran 1.7× faster than float32 here; on an AMD EPYC with AVX2 only,
torch 2.13 fell back to a scalar kernel and a bf16 matmul ran 64× slower (one SFT step: 503 s instead of ~40 s).
So ``"auto"``, the default wherever s1lib picks a precision, resolves once per process:

- on CUDA, bf16 where the device supports it, else float32;
- on a CPU, what the CPU is decides, confirmed by measurement: bf16 where its flags show native bf16 units
  (``avx512_bf16``, ``amx_bf16``, Arm's ``bf16``), float32 where they do not, unless a *steady* matmul probe
  disagrees clearly (the other precision at least :data:`CLEAR_MARGIN` times faster). A probe taken under load
  misleads: on an EPYC with ``avx512_bf16`` a first probe run beside other work read bf16 30.5 against float32
  38.9 GFLOP/s, where idle it reads about 400 against 175, and a cached float32 then slowed every later run. So
  the probe keeps each precision's fastest of three interleaved rounds (a stall only slows a round), calls itself
  steady only when each precision's rounds agree within :data:`STEADY_SPREAD`, and the cache (per CPU model,
  flags, torch version, threads, probe version, under ``$S1_CACHE_DIR/precision.json``) keeps the best figures
  ever seen and how the decision was made. A decision the probe has not confirmed (it disagreed, or ran
  unsteadily) is measured again by the next process, until an idle probe confirms it or overrules the flags.
  ``python -m s1lib.precision --refresh`` measures again by hand.

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

from s1lib.device import Device, device_kind
from s1lib.machine import cpu_info, default_device

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
CACHE_FILE = "precision.json"
PROBE_VERSION = 3
"""Part of the cache key: entries of older probes (one sample; no flags in the decision) are measured again."""
PROBE_ROUNDS = 3
PROBE_SHAPE = (128, 576, 1536)
"""``(m, k, n)`` of the probe matmul: SmolLM2's hidden and MLP sizes at a batch of rows. Small enough that the slow
scalar bf16 path (1.2 GFLOP/s) still finishes one product in 0.2 s."""
CLEAR_MARGIN = 2.0
"""How much faster a steady probe must find the precision the CPU's flags do not suggest before it overrules them:
native bf16 runs 1.7-2.4x float32 where measured, and bf16 without native units 60x slower, so a smaller gap is
noise or load, never the hardware."""
STEADY_SPREAD = 1.5
"""A probe is steady when each precision's slowest round is within this factor of its fastest: rounds that
disagree more were taken while something else used the cores."""
REFRESH_COMMAND = "python -m s1lib.precision --refresh"


@dataclass(frozen=True)
class Probe:
    """Measured matmul throughput of both precisions on this CPU."""

    float32_gflops: float
    bfloat16_gflops: float
    key: str
    seconds: float
    float32_rounds: tuple[float, ...] = ()
    bfloat16_rounds: tuple[float, ...] = ()

    @property
    def steady(self) -> bool:
        """Each precision's rounds agree within :data:`STEADY_SPREAD` (a probe with no rounds kept counts as
        steady: a figure given by hand or by a test)."""
        return all(
            not rounds or min(rounds) * STEADY_SPREAD >= max(rounds)
            for rounds in (self.float32_rounds, self.bfloat16_rounds)
        )

    @property
    def bf16_speedup(self) -> float:
        """bf16 throughput ÷ float32 throughput (< 1: bf16 is slower)."""
        return self.bfloat16_gflops / self.float32_gflops if self.float32_gflops > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bf16_speedup": round(self.bf16_speedup, 3), "steady": self.steady}

    def figures(self) -> str:
        bf16, f32 = self.bfloat16_gflops, self.float32_gflops
        return f"bf16 {bf16:.1f} vs float32 {f32:.1f} GFLOP/s ({self.bf16_speedup:.2f}x)"


@dataclass(frozen=True)
class CPUDecision:
    """float32 or bf16 on this CPU, and how it was decided: the CPU's flags, confirmed or overruled by a probe."""

    dtype: str
    how: str
    confirmed: bool
    """False where the probe disagreed with the flags without overruling them, or ran unsteadily: the next
    process measures again."""


def decide_cpu_precision(probe: Probe, native_flags: tuple[str, ...]) -> CPUDecision:
    """The CPU's flags decide (native bf16 units: bf16; none: float32), unless a steady probe finds the other
    precision at least :data:`CLEAR_MARGIN` times faster."""
    native = bool(native_flags)
    flags = f"CPU flags {', '.join(native_flags)} (native bf16)" if native else "no native bf16 in the CPU's flags"
    suggested = "bfloat16" if native else "float32"
    faster = "bfloat16" if probe.bfloat16_gflops >= probe.float32_gflops else "float32"
    ratio = probe.bf16_speedup if native else 1 / max(probe.bf16_speedup, 1e-9)  # suggested ÷ other
    if faster == suggested:
        state = "steady" if probe.steady else "unsteady, measured again next run"
        return CPUDecision(suggested, f"{flags}; the probe agrees: {probe.figures()}, {state}", probe.steady)
    if probe.steady and ratio * CLEAR_MARGIN <= 1.0:
        other = "float32" if native else "bfloat16"
        how = f"{flags}, but a steady probe overrules them: {probe.figures()}"
        return CPUDecision(other, how, True)
    load = "steady" if probe.steady else "unsteady: the machine was busy"
    how = f"{flags}; the probe disagreed ({probe.figures()}, {load}) but not clearly, so the flags decide"
    return CPUDecision(suggested, f"{how}; measured again next run", False)


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
    the same cores) only ever slows a round down, so the fastest is the machine's own speed. The rounds are kept
    too: rounds that disagree say the machine was busy (:attr:`Probe.steady`)."""
    start = time.perf_counter()
    import torch

    f32: list[float] = []
    bf16: list[float] = []
    for _ in range(max(1, rounds)):
        f32.append(round(matmul_gflops(torch.float32, min_seconds), 2))
        bf16.append(round(matmul_gflops(torch.bfloat16, min_seconds), 2))
    seconds = round(time.perf_counter() - start, 3)
    return Probe(max(f32), max(bf16), machine_key(), seconds, tuple(f32), tuple(bf16))


def _cache_path() -> Path:
    from s1lib.paths import cache_dir

    return cache_dir() / CACHE_FILE


def _probe_from_entry(entry: Any, key: str) -> Probe | None:
    try:
        return Probe(
            float(entry["float32_gflops"]), float(entry["bfloat16_gflops"]), key, float(entry["seconds"]),
            tuple(float(x) for x in entry.get("float32_rounds", ())),
            tuple(float(x) for x in entry.get("bfloat16_rounds", ())),
        )  # fmt: skip
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _best_of(old: Probe | None, new: Probe) -> Probe:
    """The new probe with each precision's figure raised to the best ever seen on this machine (a stall only slows
    a probe down, so a figure once reached is the machine's). The rounds stay the new probe's: whether *it* was
    steady."""
    if old is None:
        return new
    return Probe(
        max(old.float32_gflops, new.float32_gflops), max(old.bfloat16_gflops, new.bfloat16_gflops), new.key,
        new.seconds, new.float32_rounds, new.bfloat16_rounds,
    )  # fmt: skip


def cached_probe(refresh: bool = False) -> Probe:
    """The probe for this machine: from the cache when its key matches and its decision was confirmed (see
    :func:`decide_cpu_precision`), else measured now (figures merged with the best seen before) and cached with
    the decision it leads to and how it was made."""
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
    old = _probe_from_entry(entry, key) if isinstance(entry, dict) else None
    if not refresh and old is not None and entry.get("confirmed", False):
        return old
    probe = _best_of(old, run_probe())
    decision = decide_cpu_precision(probe, cpu_info().bf16_flags)
    entries[key] = {
        **asdict(probe),
        "measured": time.time(),
        "cpu": cpu_info().model,
        "decision": decision.dtype,
        "how": decision.how,
        "confirmed": decision.confirmed,
    }
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
    """``cpu`` or ``cuda`` (``auto`` as :mod:`s1lib.device` resolves it, without refusing a missing GPU: a
    precision can be asked for a device this process does not have)."""
    text = str(device or "cpu").lower()
    return default_device() if text == Device.AUTO else device_kind(text)


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
    decision = decide_cpu_precision(probe, cpu_info().bf16_flags)
    if requested == "auto":
        return Resolution(requested, decision.dtype, device, decision.how, probe)
    if decision.dtype != "bfloat16" and probe.key not in _warned:
        _warned.add(probe.key)
        slowdown = probe.float32_gflops / max(probe.bfloat16_gflops, 1e-9)
        warnings.warn(
            f"bfloat16 was requested, but on this CPU ({cpu_info().model}) a bf16 matmul runs {slowdown:.1f}x slower "
            f"than float32 ({probe.bfloat16_gflops:.1f} vs {probe.float32_gflops:.1f} GFLOP/s; {decision.how}); "
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


def main(argv: list[str] | None = None) -> int:
    """``python -m s1lib.precision [--refresh]``: print what ``auto`` chooses on this CPU and how (``--refresh``:
    measure again first, e.g. after a first probe that ran while the machine was busy)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m s1lib.precision", description=main.__doc__)
    parser.add_argument("--refresh", action="store_true", help="measure the probe again now (the machine idle)")
    args = parser.parse_args(argv)
    probe = cached_probe(refresh=args.refresh)
    resolution = _resolve("auto", "cpu", probe)
    print(f"auto precision on {cpu_info().model}: {resolution.dtype} ({resolution.reason})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
