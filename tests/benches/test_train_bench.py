"""The batching benchmark's mechanics on the tiny model, and the cpu-demo preset on the embedded model."""

from __future__ import annotations

import pytest

from s1lib.benches.train import run_bench


def test_bench_compares_the_same_tokens_both_ways(tiny_model_dir, capsys):
    result = run_bench(json_output=False, model_name=str(tiny_model_dir), batch_size=4, batches=2, precision="float32")
    padded, free = result["padded"], result["padding_free"]
    assert padded["real_tokens"] == free["real_tokens"] == free["tokens_with_pad"]
    assert padded["tokens_with_pad"] > padded["real_tokens"]  # the long tail really makes padding
    assert result["max_loss_difference"] < 1e-3  # same examples, same weights, same loss
    assert result["speedup"] > 0 and result["peak_rss_mb"] > 0 and result["lengths"]["max"] <= 512
    assert "padding-free" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.model
def test_cpu_demo_preset_trains_the_embedded_model(tmp_path):
    from s1lib.models import load_model
    from s1lib.train import TrainConfig, run_training

    config = TrainConfig.from_preset(
        "cpu-demo", output_dir=str(tmp_path / "demo"), max_steps=2, toy_examples=4, per_device_batch_size=2,
        global_batch_size=2, warmup_ratio=0.0,
    )  # fmt: skip
    result = run_training(config)
    assert result.global_step == 2 and result.final_loss is not None
    model, tokenizer = load_model(config.output_dir)
    assert tokenizer.pad_token != "<|im_end|>" and model.num_parameters() > 100_000_000
