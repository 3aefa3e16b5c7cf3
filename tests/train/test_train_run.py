"""Training runs on the tiny model: loss goes down, LoRA saves and reloads, resume continues, the model generates,
bad data fails before training, and the CLI drives the same path."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

from s1lib.toy import toy_records
from s1lib.train import TrainConfig
from s1lib.train.data import DataError
from s1lib.train.runlog import read_log


def _config(tiny_model_dir, tmp_path, **overrides):
    base = {
        "model": str(tiny_model_dir),
        "data": "toy",
        "toy_examples": 4,
        "output_dir": str(tmp_path / "run"),
        "max_steps": 3,
        "learning_rate": 1e-3,
        "warmup_ratio": 0.0,
        "bf16": False,
        "save_steps": 100,
    }
    return TrainConfig.from_preset("cpu-demo", **{**base, **overrides})


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    """One 3-step full fine-tune (batch = the same 4 examples each step), shared by several tests."""
    from s1lib.train.trainer import run_training

    config = _config(tiny_model_dir, tmp_path_factory.mktemp("full"))
    return config, run_training(config)


def test_three_steps_loss_goes_down(trained):
    config, result = trained
    rows = read_log(config.output_dir)
    assert [r["step"] for r in rows] == [1, 2, 3] and result.global_step == 3
    assert rows[-1]["loss"] < rows[0]["loss"] - 0.05
    assert all(r["tokens"] > 0 and r["tokens_per_s"] > 0 and r["loss_tokens"] < r["tokens"] for r in rows)
    assert rows[0]["lr"] == pytest.approx(1e-3)  # no warm-up asked: full lr at step 1, cosine after
    assert rows[1]["lr"] < rows[0]["lr"]
    out = Path(config.output_dir)
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["lengths"]["examples"] == 4 and (out / "loss_curve.html").exists()


def test_saved_model_loads_and_generates(trained):
    """The saved folder loads directly into the forcing engine and generates under a budget policy."""
    from s1lib.backends.hf import HFEngine
    from s1lib.forcing import BudgetPolicy
    from s1lib.models import load_model

    config, _ = trained
    model, tokenizer = load_model(config.output_dir)
    assert tokenizer.pad_token == "<|endoftext|>" and tokenizer.pad_token != tokenizer.eos_token
    assert model.config.use_cache
    engine = HFEngine(model, tokenizer)
    policy = BudgetPolicy(max_thinking_tokens=6, max_answer_tokens=4)
    traces = engine.generate([engine.prompt_for("What is 12 + 30?"), engine.prompt_for("What is 7 + 5?")], policy)
    for trace in traces:
        assert len(trace.generated_ids) > 0 and trace.thinking_tokens <= 6
        assert trace.thinking_end_reason in ("cap", "natural")
        assert trace.finish_reason in ("stop", "length")


@pytest.mark.slow
def test_resume_continues_from_checkpoint(tiny_model_dir, tmp_path):
    from s1lib.train.trainer import run_training

    # Also the padding-free path (per-example attention) and length-grouped batches through the Trainer.
    # keep_checkpoints: a finished run can be trained further (cpu-demo's default deletes them at the end)
    first = run_training(
        _config(tiny_model_dir, tmp_path, max_steps=2, save_steps=2, padding_free=True, keep_checkpoints=True)
    )
    assert all(r["padded_tokens"] == r["tokens"] for r in first.rows)  # no pad at all
    assert first.global_step == 2 and (tmp_path / "run" / "checkpoint-2").is_dir()
    second = run_training(
        _config(
            tiny_model_dir, tmp_path, max_steps=4, save_steps=2, resume_from_checkpoint="last", group_by_length=True
        )
    )
    assert second.resumed_from.endswith("checkpoint-2")
    assert [r["step"] for r in second.rows] == [3, 4]  # continued, not restarted
    assert [r["step"] for r in read_log(tmp_path / "run")] == [1, 2, 3, 4]
    # cpu-demo's keep_checkpoints=False: the checkpoint it resumed from and the one it saved are gone, the model stays
    assert not list((tmp_path / "run").glob("checkpoint-*")) and (tmp_path / "run" / "model.safetensors").exists()
    with pytest.raises(FileNotFoundError, match="resume_from_checkpoint"):
        run_training(_config(tiny_model_dir, tmp_path, resume_from_checkpoint=str(tmp_path / "nope")))


def test_lora_adapter_saves_and_reloads(tiny_model_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from s1lib.models import load_model
    from s1lib.train.trainer import run_training

    result = run_training(_config(tiny_model_dir, tmp_path, lora=True, lora_r=4, max_steps=2, learning_rate=1e-2))
    adapter = tmp_path / "run" / "adapter"
    assert result.adapter_dir == str(adapter) and (adapter / "adapter_config.json").exists()
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    reloaded = PeftModel.from_pretrained(base, adapter).eval()
    merged, tokenizer = load_model(str(tmp_path / "run"), dtype="float32")  # compared with float32 peft numerics
    plain, _ = load_model(str(tiny_model_dir), dtype="float32")
    ids = torch.tensor([tokenizer("What is 2 + 2?")["input_ids"]])
    with torch.no_grad():
        a, b, c = (m(input_ids=ids).logits for m in (reloaded, merged, plain))
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)  # merged copy == base + adapter
    assert (b - c).abs().max() > 1e-4  # and the adapter really changed the model


def test_bad_data_fails_before_the_model_loads(tiny_model_dir, tmp_path, monkeypatch):
    from s1lib.train import trainer

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded although the data is bad")

    monkeypatch.setattr(trainer, "_load_model", no_model)
    records = toy_records(3)
    records[2]["thinking_trajectories"] = []
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records))
    with pytest.raises(DataError, match=r"bad\.jsonl: 1 unusable record\(s\): row 2: field 'thinking_trajectories'"):
        trainer.run_training(_config(tiny_model_dir, tmp_path, data=str(path)))
    path.write_text("")
    with pytest.raises(DataError, match="empty training set"):
        trainer.run_training(_config(tiny_model_dir, tmp_path, data=str(path)))


def test_cli_trains_and_reports_json(tiny_model_dir, tmp_path, capsys):
    from s1lib.cli.train import register_cli

    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers())
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in toy_records(2)))
    args = parser.parse_args(
        [
            "train",
            "cpu-demo",
            "--model",
            str(tiny_model_dir),
            "--data",
            str(data),
            "--output",
            str(tmp_path / "o"),
            "--max-steps",
            "1",
            "--set",
            "bf16=false",
            "--set",
            "per_device_batch_size=2",
            "--set",
            "global_batch_size=2",
            "--json",
        ]
    )
    assert args.func(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["global_step"] == 1 and summary["lengths"]["records"] == 2
    bad = parser.parse_args(["train", "cpu-demo", "--set", "blocksize=3"])
    with pytest.raises(SystemExit, match="unknown TrainConfig field 'blocksize'"):
        bad.func(bad)
