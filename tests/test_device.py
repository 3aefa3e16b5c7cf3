"""Runs go where the GPU is: ``device: auto`` is CUDA where torch sees one, else the CPU, for every engine, ``s1 eval``
and ``s1 sweep``, the notebooks and training, and results record what it resolved to.

CUDA is reported available by monkeypatching torch's answers; no tensor is moved, so this runs on any CPU.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from s1lib.device import Device, check_device, resolve_device


@pytest.fixture
def with_cuda(monkeypatch):
    """torch reports two CUDA devices with bf16 (nothing is placed on them)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    yield
    from s1lib.precision import clear_cache

    clear_cache()  # resolutions for "cuda" made under the patch must not outlive it


@pytest.fixture
def without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


def test_device_names_are_checked_without_a_gpu():
    assert [check_device(d) for d in ("auto", "CPU", " cuda ", "cuda:01", Device.CUDA)] == [
        "auto", "cpu", "cuda", "cuda:1", "cuda"
    ]  # fmt: skip
    assert check_device(torch.device("cuda", 0)) == "cuda:0"
    allowed = r"SweepConfig.device must be auto \(CUDA when torch sees a GPU, else the CPU\), cpu, cuda or cuda:N"
    for bad in ("gpu", "cuda:x", "cuda:", "mps", ""):
        with pytest.raises(ValueError, match=allowed):
            check_device(bad, "SweepConfig.device")


def test_auto_is_cuda_where_torch_sees_a_gpu(with_cuda):
    assert resolve_device() == resolve_device("auto") == "cuda"
    assert resolve_device("cpu") == "cpu" and resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(ValueError, match=r"'cuda:2', but torch .* sees 2 GPU"):
        resolve_device("cuda:2")


def test_auto_is_the_cpu_without_one_and_cuda_is_refused_there(without_cuda):
    assert resolve_device("auto") == "cpu"
    with pytest.raises(ValueError, match=r"device='cuda', but torch .* sees no GPU; use 'auto' or 'cpu'"):
        resolve_device("cuda")


def _fake_load(loaded: list):
    def load_model(name, dtype="auto", device="auto", **kwargs):
        loaded.append(device)
        config = SimpleNamespace(max_position_embeddings=64, eos_token_id=2)
        model = SimpleNamespace(dtype=torch.float32, device=torch.device("cpu"), config=config, generation_config=None)
        return model, SimpleNamespace(eos_token_id=2, pad_token_id=0)

    return load_model


@pytest.mark.parametrize("cuda, expected", [(True, "cuda"), (False, "cpu")])
def test_an_engine_by_name_loads_on_the_resolved_device_and_records_it(monkeypatch, request, cuda, expected):
    request.getfixturevalue("with_cuda" if cuda else "without_cuda")
    import s1lib.models
    from s1lib.backends import load_engine
    from s1lib.backends.hf import HFEngine

    loaded: list = []
    monkeypatch.setattr(s1lib.models, "load_model", _fake_load(loaded))
    monkeypatch.setattr(s1lib.models, "resolve_model", lambda name: SimpleNamespace(path=None))
    engine = HFEngine.from_name("any", dtype="float32")  # no device given: auto
    assert loaded == [expected] and engine.precision["device"] == expected
    assert engine.precision["dtype"] == "float32" and engine.precision["requested"] == "float32"
    load_engine("any", "transformers", device="cpu", dtype="float32")
    assert loaded[-1] == "cpu"


def test_vllm_refuses_a_device_its_build_does_not_run_on(with_cuda):
    from s1lib.backends import load_engine

    with pytest.raises(ValueError, match="vLLM runs on cuda here"):
        load_engine("default", "vllm", device="cpu")


def test_a_sweep_runs_on_auto_unless_told_and_passes_its_device_to_the_engine(monkeypatch, tmp_path):
    import s1lib.backends
    from s1lib.eval.pareto import engine_for
    from s1lib.eval.sweep_config import SweepConfig

    assert SweepConfig(benchmark="toy").device == "auto"
    assert SweepConfig(benchmark="toy", device="CUDA:1").device == "cuda:1"
    with pytest.raises(ValueError, match="SweepConfig.device must be"):
        SweepConfig(benchmark="toy", device="gpu")
    with pytest.raises(ValueError, match="set SweepConfig.device"):
        SweepConfig(benchmark="toy", engine_options={"device": "cuda"})
    seen = {}
    monkeypatch.setattr(s1lib.backends, "load_engine", lambda model, backend, **kw: seen.update(kw) or "engine")
    engine_for(SweepConfig(benchmark="toy", device="cpu", engine_options={"dtype": "float32"}))
    assert seen == {"device": "cpu", "trust_remote_code": False, "dtype": "float32"}


def test_s1_eval_sweep_and_generate_have_a_device_flag():
    from s1lib.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    shown = " ".join(sub["eval"].format_help().split())  # what `s1 eval --help` prints, unwrapped
    assert "--device DEVICE Where transformers runs: auto (CUDA when torch sees a GPU, else the CPU)" in shown
    assert parser.parse_args(["eval", "toy"]).device == "auto"
    assert parser.parse_args(["eval", "toy", "--device", "cuda:1"]).device == "cuda:1"
    assert parser.parse_args(["sweep", "grid.yaml"]).device is None  # the grid's
    assert parser.parse_args(["generate", "q", "--device", "cpu"]).device == "cpu"


def test_the_notebooks_take_a_device_that_reaches_their_engine():
    from s1lib.eval.sweep_config import SweepConfig
    from s1lib.notebook_params import AdaptiveParams, BudgetForcingParams, ScalingParams

    for params in (BudgetForcingParams, ScalingParams, AdaptiveParams):
        assert params().device == "auto" and params.config_field("device") == (SweepConfig, "device")
    assert ScalingParams(benchmark="toy", device="cpu").sweep_config().device == "cpu"


def test_training_goes_to_the_gpu_unless_use_cpu_says_otherwise(request):
    from s1lib.train.config import TrainConfig
    from s1lib.train.trainer import train_device

    demo = TrainConfig.from_preset("cpu-demo")  # notebook 02's preset: `s1 demo --full` trains with it
    request.getfixturevalue("with_cuda")
    assert train_device(demo) == "cuda"
    assert train_device(TrainConfig.from_preset("cpu-demo", use_cpu=True)) == "cpu"


def test_training_without_a_gpu_is_on_the_cpu(without_cuda):
    from s1lib.train.config import TrainConfig
    from s1lib.train.trainer import train_device

    assert train_device(TrainConfig.from_preset("cpu-demo")) == "cpu"


def test_the_batch_report_records_where_each_run_computed(tmp_path):
    from s1lib.batch.report import run_device, run_precision

    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "results.json").write_text(json.dumps({"run": {"precision": {"dtype": "bfloat16", "device": "cuda"}}}))
    assert run_device(sweep, None) == "cuda" and run_precision(sweep, None) == "bfloat16"
    trained = {"precision": {"device": "cpu", "bf16": False, "model_dtype": "float32", "resolution": {}}}
    assert run_device(tmp_path, trained) == "cpu" and run_precision(tmp_path, trained) == "weights in float32"
    assert run_device(tmp_path / "none", None) is None


def test_the_scaling_summary_says_where_the_sweep_ran():
    from s1lib.eval.summary import scaling_summary

    results = {"settings": [], "run": {"problems": 1, "precision": {"dtype": "float32", "device": "cuda:1"}}}
    assert scaling_summary(results)["device"] == "cuda:1"
