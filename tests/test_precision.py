"""Precision ``auto`` and thread counts: chosen for the machine by measurement, never assumed.

The probe is injected (or its cache written by hand), so these tests decide nothing by this machine's own speed.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest

from s1lib import machine, precision
from s1lib.precision import Probe, resolve_precision

REPO = Path(__file__).resolve().parents[1]
SLOW_BF16 = Probe(float32_gflops=77.0, bfloat16_gflops=1.2, key="epyc-avx2", seconds=0.2)  # the measured EPYC
FAST_BF16 = Probe(float32_gflops=214.0, bfloat16_gflops=981.0, key="xeon-amx", seconds=0.05)


@pytest.fixture(autouse=True)
def fresh_resolutions():
    precision.clear_cache()
    yield
    precision.clear_cache()


@pytest.mark.parametrize(
    ("probe", "expected"), [(SLOW_BF16, "float32"), (FAST_BF16, "bfloat16")], ids=["avx2-only", "amx"]
)
def test_auto_follows_the_probe_on_cpu(probe, expected):
    resolution = resolve_precision("auto", "cpu", probe=probe)
    assert resolution.dtype == expected
    assert resolution.probe == probe and "GFLOP/s" in resolution.reason
    assert resolution.to_dict()["probe"]["bf16_speedup"] == round(probe.bfloat16_gflops / probe.float32_gflops, 3)


def cpu_flags(monkeypatch, *bf16_flags: str) -> None:
    """This test's CPU: native bf16 units or none, whatever the machine running the test has."""
    monkeypatch.setattr(precision, "cpu_info", lambda: machine.CPUInfo("test cpu", 2, 2, bf16_flags, "avx512"))


@pytest.mark.parametrize(("flags", "expected"), [(("avx512_bf16",), "bfloat16"), ((), "float32")])
def test_equal_speed_leaves_the_choice_to_the_flags(monkeypatch, flags, expected):
    cpu_flags(monkeypatch, *flags)
    tie = Probe(100.0, 100.0, "tie", 0.1)
    assert resolve_precision("auto", "cpu", probe=tie).dtype == expected


def probe(f32: tuple[float, ...], bf16: tuple[float, ...]) -> Probe:
    return Probe(max(f32), max(bf16), "scripted", 0.1, f32, bf16)


LOADED = probe((30.0, 38.9, 36.0), (30.5, 12.0, 25.0))  # the EPYC's first probe beside other work: bf16 looks slow
LOADED_EVENLY = probe((38.0, 38.9, 37.0), (30.5, 30.0, 29.0))  # slowed alike in every round: steady but wrong
IDLE_NATIVE = probe((175.0, 178.0, 176.0), (389.0, 409.0, 400.0))
NO_UNITS = probe((77.0, 76.0, 75.0), (1.2, 1.2, 1.1))  # the scalar bf16 path: 64x slower
NO_UNITS_STALLED = probe((0.9, 1.0, 0.5), (1.2, 1.1, 1.2))  # float32's rounds stalled: bf16 looks faster
NO_UNITS_STALLED_EVENLY = probe((1.0, 0.9, 1.0), (1.2, 1.1, 1.2))
CLEARLY_FAST_BF16 = probe((100.0, 101.0, 99.0), (400.0, 390.0, 395.0))  # no flag read, bf16 units all the same


@pytest.mark.parametrize(
    ("flags", "measured", "dtype", "confirmed", "how"),
    [
        (("avx512_bf16",), LOADED, "bfloat16", False, "unsteady"),
        (("avx512_bf16",), LOADED_EVENLY, "bfloat16", False, "not clearly"),
        (("avx512_bf16",), IDLE_NATIVE, "bfloat16", True, "the probe agrees"),
        (("amx_bf16",), NO_UNITS, "float32", True, "overrules"),
        ((), NO_UNITS, "float32", True, "the probe agrees"),
        ((), NO_UNITS_STALLED, "float32", False, "unsteady"),
        ((), NO_UNITS_STALLED_EVENLY, "float32", False, "not clearly"),
        ((), CLEARLY_FAST_BF16, "bfloat16", True, "overrules"),
    ],
    ids=[
        "native-loaded", "native-loaded-evenly", "native-idle", "flag-without-speed", "no-units", "no-units-stalled",
        "no-units-stalled-evenly", "no-flag-but-fast",
    ],
)  # fmt: skip
def test_the_cpu_decides_and_a_steady_probe_confirms(flags, measured, dtype, confirmed, how):
    decision = precision.decide_cpu_precision(measured, flags)
    assert (decision.dtype, decision.confirmed) == (dtype, confirmed)
    assert how in decision.how and "GFLOP/s" in decision.how


def test_a_probe_under_load_on_a_bf16_native_cpu_keeps_bf16(monkeypatch):
    cpu_flags(monkeypatch, "avx512_bf16")
    monkeypatch.setattr(precision, "cached_probe", lambda: LOADED)
    resolution = resolve_precision("auto", "cpu")
    assert resolution.dtype == "bfloat16" and "avx512_bf16" in resolution.reason


def test_a_cpu_without_bf16_units_keeps_float32_when_the_probe_stalls(monkeypatch):
    cpu_flags(monkeypatch)
    monkeypatch.setattr(precision, "cached_probe", lambda: NO_UNITS_STALLED)
    assert resolve_precision("auto", "cpu").dtype == "float32"


def test_an_unconfirmed_decision_is_measured_again_until_an_idle_probe_confirms_it(monkeypatch, tmp_path):
    monkeypatch.setenv("S1_CACHE_DIR", str(tmp_path))
    cpu_flags(monkeypatch, "avx512_bf16")
    runs = iter([LOADED, IDLE_NATIVE])
    calls = []

    def scripted_probe() -> Probe:
        calls.append(1)
        measured = next(runs)
        return Probe(*(getattr(measured, f) for f in ("float32_gflops", "bfloat16_gflops")), precision.machine_key(),
                     0.1, measured.float32_rounds, measured.bfloat16_rounds)  # fmt: skip

    monkeypatch.setattr(precision, "run_probe", scripted_probe)
    first = precision.cached_probe()  # under load: bf16 from the flags, not confirmed
    entry = json.loads((tmp_path / precision.CACHE_FILE).read_text())[precision.machine_key()]
    assert (entry["decision"], entry["confirmed"]) == ("bfloat16", False) and "unsteady" in entry["how"]
    assert first.bfloat16_gflops == 30.5
    second = precision.cached_probe()  # the next process measures again; figures are the best seen
    assert len(calls) == 2 and (second.float32_gflops, second.bfloat16_gflops) == (178.0, 409.0)
    entry = json.loads((tmp_path / precision.CACHE_FILE).read_text())[precision.machine_key()]
    assert (entry["decision"], entry["confirmed"]) == ("bfloat16", True)
    assert precision.cached_probe() == second and len(calls) == 2  # confirmed: never measured again


def test_the_refresh_command_measures_again_and_says_how(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("S1_CACHE_DIR", str(tmp_path))
    cpu_flags(monkeypatch, "avx512_bf16")
    calls = []
    monkeypatch.setattr(precision, "run_probe", lambda: calls.append(1) or IDLE_NATIVE)
    precision.main([])
    precision.main(["--refresh"])
    assert len(calls) == 2
    assert "auto precision on test cpu: bfloat16 (CPU flags avx512_bf16" in capsys.readouterr().out
    assert precision.REFRESH_COMMAND == "python -m s1lib.precision --refresh"


@pytest.mark.parametrize(("supported", "expected"), [(True, "bfloat16"), (False, "float32")])
def test_auto_on_cuda_asks_the_device(monkeypatch, supported, expected):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: supported)
    monkeypatch.setattr(precision, "cached_probe", lambda: pytest.fail("CUDA never runs the CPU probe"))
    assert resolve_precision("auto", "cuda").dtype == expected
    assert resolve_precision("auto", "cuda:1").dtype == expected
    assert resolve_precision("auto", "auto").device == "cuda"


def test_explicit_bf16_on_a_slow_cpu_runs_and_warns_once(monkeypatch):
    monkeypatch.setattr(precision, "cached_probe", lambda: SLOW_BF16)
    with pytest.warns(RuntimeWarning, match=r"64\.2x slower than float32"):
        assert resolve_precision("bfloat16", "cpu").dtype == "bfloat16"
    precision._resolve_cached.cache_clear()  # even resolved again, the warning is not repeated
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_precision("bf16", "cpu").dtype == "bfloat16"
        assert resolve_precision("bfloat16", "cpu", probe=FAST_BF16).dtype == "bfloat16"  # fast: no warning


def test_explicit_float32_never_probes(monkeypatch):
    monkeypatch.setattr(precision, "cached_probe", lambda: pytest.fail("float32 needs no probe"))
    assert resolve_precision("float32", "cpu").dtype == "float32"
    assert resolve_precision("fp32").dtype == "float32"


@pytest.mark.parametrize("bad", ["bf17", "int8", 32, None, ""])
def test_unknown_precisions_are_named(bad):
    with pytest.raises(ValueError, match="expected one of"):
        resolve_precision(bad)


def test_probe_is_cached_per_machine(monkeypatch, tmp_path):
    monkeypatch.setenv("S1_CACHE_DIR", str(tmp_path))
    cpu_flags(monkeypatch)
    calls = []

    def fake_probe() -> Probe:
        calls.append(1)
        return Probe(50.0, 25.0, precision.machine_key(), 0.1)

    monkeypatch.setattr(precision, "run_probe", fake_probe)
    first = precision.cached_probe()
    second = precision.cached_probe()
    assert calls == [1] and first == second
    entries = json.loads((tmp_path / precision.CACHE_FILE).read_text())
    assert entries[precision.machine_key()]["bfloat16_gflops"] == 25.0
    assert resolve_precision("auto", "cpu").dtype == "float32"  # resolved from the cached probe, no new run
    assert calls == [1]
    # Another machine's entry (another key) is never used, and a torn cache file is measured again.
    (tmp_path / precision.CACHE_FILE).write_text("{not json")
    precision.cached_probe()
    assert calls == [1, 1]


@pytest.mark.parametrize(
    ("rounds", "expected"),
    [
        ([(100.0, 0.86), (98.0, 400.0), (99.0, 395.0)], (100.0, 400.0)),  # one stalled bf16 sample (the EPYC's)
        ([(20.0, 1.2), (118.0, 1.4), (117.0, 1.3)], (118.0, 1.4)),  # a stalled float32 sample; bf16 slow throughout
    ],
    ids=["stalled-bf16", "stalled-float32"],
)
def test_the_probe_keeps_each_precisions_fastest_round(monkeypatch, rounds, expected):
    import torch

    samples = iter(value for pair in rounds for value in pair)  # float32 then bf16, round after round
    seen = []

    def fake_gflops(dtype, min_seconds, shape=precision.PROBE_SHAPE):
        seen.append(dtype)
        return next(samples)

    monkeypatch.setattr(precision, "matmul_gflops", fake_gflops)
    probe = precision.run_probe(rounds=len(rounds))
    assert (probe.float32_gflops, probe.bfloat16_gflops) == expected
    assert seen == [torch.float32, torch.bfloat16] * len(rounds)  # interleaved, so a stall hits one round


def test_entries_of_the_single_sample_probe_are_measured_again(monkeypatch):
    current = precision.machine_key()
    monkeypatch.setattr(precision, "PROBE_VERSION", 1)
    assert precision.machine_key() != current


def test_real_probe_measures_both_precisions():
    probe = precision.run_probe(min_seconds=0.01)
    assert probe.float32_gflops > 0 and probe.bfloat16_gflops > 0 and probe.key == precision.machine_key()


def test_train_config_resolves_auto(monkeypatch):
    from s1lib.train import TrainConfig
    from s1lib.train.trainer import resolve_train_precision

    config = TrainConfig.from_preset("cpu-demo")
    assert (config.bf16, config.model_dtype) == ("auto", "auto")
    monkeypatch.setattr(precision, "cached_probe", lambda: SLOW_BF16)
    slow = resolve_train_precision(config)
    assert (slow.bf16, slow.model_dtype) == (False, "float32")
    assert slow.record["resolution"]["dtype"] == "float32" and slow.record["machine"]["cpu"]["model"]
    precision.clear_cache()
    monkeypatch.setattr(precision, "cached_probe", lambda: FAST_BF16)
    fast = resolve_train_precision(config)
    assert (fast.bf16, fast.model_dtype) == (True, "auto")
    with pytest.raises(ValueError, match="TrainConfig.bf16"):
        TrainConfig.from_preset("cpu-demo", bf16="sometimes")


# ------------------------------------------------------------------------------------------------- threads
def test_thread_split_never_oversubscribes():
    for cores in range(1, 9):
        for workers in range(1, cores + 1):
            split = machine.split_threads(workers, cores)
            assert len(split) == workers and sum(split) <= cores and min(split) >= 1
            assert max(split) - min(split) <= 1
    assert machine.split_threads(2, 2) == [1, 1] and machine.split_threads(1, 2) == [2]


def test_threads_from_the_environment(monkeypatch):
    monkeypatch.setenv(machine.THREADS_ENV, "3")
    assert machine.default_threads() == 3
    monkeypatch.setenv(machine.THREADS_ENV, "many")
    with pytest.raises(ValueError, match="S1_NUM_THREADS"):
        machine.default_threads()
    monkeypatch.delenv(machine.THREADS_ENV)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert machine.default_threads() == machine.cpu_info().physical_cores >= 1


def test_local_workers_get_their_share_of_the_cores(monkeypatch, tmp_path):
    from s1lib.batch.executors import LocalExecutor

    monkeypatch.setattr(machine, "cpu_info", lambda: machine.CPUInfo("test cpu", 4, 4, (), "avx2"))
    executor = LocalExecutor(workers=2, devices=[])
    envs = [executor.worker_env(slot) for slot in range(2)]
    assert [int(e[machine.THREADS_ENV]) for e in envs] == [2, 2]
    assert all(e["OMP_NUM_THREADS"] == e[machine.THREADS_ENV] for e in envs)
    executor.shutdown()
    with pytest.raises(ValueError, match="4 cores"):
        LocalExecutor(workers=5, devices=[])


# ------------------------------------------------------------------------------ every shipped default is auto
PRECISION_KEYS = {"dtype", "bf16", "model_dtype", "precision"}


def _precision_values(data, where: str):
    if isinstance(data, dict):
        for key, value in data.items():
            if key in PRECISION_KEYS and not isinstance(value, (dict, list)):
                yield f"{where}.{key}", value
            yield from _precision_values(value, f"{where}.{key}")
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _precision_values(value, f"{where}[{index}]")


def test_every_shipped_default_is_auto():
    import ast

    import yaml

    from s1lib.train.config import PRESETS, TrainConfig

    found: dict[str, object] = {}
    for path in sorted((REPO / "env").rglob("*.yaml")) + sorted((REPO / "env").rglob("*.json")):
        if "accelerate" in path.parts:  # accelerate's mixed_precision is a launcher setting, not a default of ours
            continue
        data = yaml.safe_load(path.read_text()) if path.suffix == ".yaml" else json.loads(path.read_text())
        found.update(_precision_values(data, str(path.relative_to(REPO))))
    for name in PRESETS:
        config = TrainConfig.from_preset(name)
        found[f"preset {name}.bf16"], found[f"preset {name}.model_dtype"] = config.bf16, config.model_dtype
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        parameters = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(parameters) == 1, path
        for node in ast.parse("".join(parameters[0]["source"])).body:
            if isinstance(node, ast.Assign) and node.targets[0].id in PRECISION_KEYS:
                found[f"{path.name}.{node.targets[0].id}"] = ast.literal_eval(node.value)
    for path in sorted((REPO / "notebooks" / "marimo").glob("*.py")):
        # marimo notebooks read `--key` from the command line, with the default after `or`
        for key, default in re.findall(r'args\.get\("(\w+)"\)\s+or\s+"([^"]*)"', path.read_text()):
            if key in PRECISION_KEYS:
                found[f"{path.name}.{key}"] = default
    notebook_defaults = [k for k in found if ".ipynb." in k or k.endswith((".py.dtype", ".py.bf16", ".py.precision"))]
    assert len(notebook_defaults) >= 3, f"the notebooks 02-04 expose their precision: {sorted(found)}"
    not_auto = {k: v for k, v in found.items() if v != "auto"}
    assert not not_auto, f"shipped precision defaults must be 'auto': {not_auto}"
    from s1lib.benches.vllm import VLLMBenchConfig
    from s1lib.eval.sweep import SweepConfig

    assert "dtype" not in SweepConfig().engine_options
    assert VLLMBenchConfig().dtype == "auto"


# ------------------------------------------------------------------------------------------------ the bench
@pytest.mark.model
def test_precision_bench_reports_both_precisions_and_auto(tiny_model_dir, capsys):
    from s1lib.benches.precision import run_bench

    result = run_bench(
        json_output=True, model_name=str(tiny_model_dir), new_tokens=4, sft_examples=2, matmul_seconds=0.05
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(result))
    for precision_name in ("float32", "bfloat16"):
        entry = printed[precision_name]
        assert set(entry) == {
            "matmul_gflops",
            "decode_batch1_tokens_per_s",
            "decode_batch8_tokens_per_s",
            "sft_tokens_per_s",
        }
        assert all(value > 0 for value in entry.values())
    assert (
        printed["auto"] in ("float32", "bfloat16")
        and 0 < printed["auto_over_best_worst"] <= printed["auto_over_best"] <= 1
    )
    assert set(printed["auto_over_best_per_workload"]) == {"decode_batch1", "decode_batch8", "sft"}
    assert printed["cpu"] and printed["probe"]["float32_gflops"] > 0


def test_the_demo_says_its_precision_and_how_to_measure_again_first(monkeypatch):
    from s1lib.cli.demo import precision_line

    cpu_flags(monkeypatch, "avx512_bf16")
    monkeypatch.setattr(precision, "cached_probe", lambda: LOADED)
    monkeypatch.setattr(precision, "default_device", lambda: "cpu")
    line = precision_line()
    assert line.startswith("precision: bfloat16 on cpu (CPU flags avx512_bf16")
    assert line.endswith("to measure again: python -m s1lib.precision --refresh")
