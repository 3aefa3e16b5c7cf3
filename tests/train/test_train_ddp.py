"""The multi-process path: 2 CPU processes (gloo, via torchrun) train through the same entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from s1lib.train.runlog import read_log

ACCELERATE_DIR = Path(__file__).resolve().parents[2] / "env" / "accelerate"


@pytest.mark.slow
def test_two_cpu_processes_train_two_steps(tiny_model_dir, tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
        "-m", "s1lib.train", "cpu-demo", "--model", str(tiny_model_dir), "--output", str(out), "--max-steps", "2",
        "--set", "per_device_batch_size=2", "--set", "global_batch_size=4", "--set", "bf16=false",
        "--set", "toy_examples=8", "--json",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reports = [line for line in proc.stdout.splitlines() if line.startswith('{"output_dir"')]
    assert len(reports) == 1  # only the main process reports
    summary = json.loads(reports[0])
    assert summary["global_step"] == 2
    rows = read_log(out)
    assert [r["step"] for r in rows] == [1, 2] and all(r["processes"] == 2 for r in rows)
    # 4 examples per step over 2 processes: each process saw 2 of the 8 examples per step, so one epoch in 2 steps.
    assert rows[-1]["epoch"] == pytest.approx(1.0)
    assert (out / "model.safetensors").exists()


def test_accelerate_configs_parse():
    from accelerate.commands.config.config_args import ClusterConfig

    for name in ("fsdp.yaml", "fsdp_offload.yaml", "fsdp-limo.yaml", "fsdp-cpu.yaml", "ddp.yaml"):
        config = ClusterConfig.from_yaml_file(ACCELERATE_DIR / name)
        assert config.num_processes >= 2, name
    fsdp = ClusterConfig.from_yaml_file(ACCELERATE_DIR / "fsdp.yaml")
    assert fsdp.distributed_type == "FSDP"
    assert fsdp.fsdp_config["fsdp_version"] == 2 and fsdp.fsdp_config["fsdp_reshard_after_forward"]  # FULL_SHARD
    assert fsdp.fsdp_config["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert fsdp.fsdp_config["fsdp_transformer_layer_cls_to_wrap"] == "Qwen2DecoderLayer"
    assert ClusterConfig.from_yaml_file(ACCELERATE_DIR / "fsdp_offload.yaml").fsdp_config["fsdp_offload_params"]
