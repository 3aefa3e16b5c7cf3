"""TrainConfig: the paper's defaults, presets, files and overrides."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from s1lib.train.config import PRESETS, TrainConfig


def test_defaults_are_the_papers_recipe():
    c = TrainConfig()
    assert c.model == "Qwen/Qwen2.5-32B-Instruct"
    assert (c.num_train_epochs, c.learning_rate, c.warmup_ratio, c.lr_scheduler_type) == (5, 1e-5, 0.05, "cosine")
    assert (c.adam_beta1, c.adam_beta2, c.weight_decay) == (0.9, 0.95, 1e-4)
    assert (c.global_batch_size, c.per_device_batch_size, c.block_size) == (16, 1, 32768)
    assert c.bf16 and c.gradient_checkpointing and not c.lora and not c.padding_free
    assert c.gradient_accumulation_steps(world_size=1) == 16
    assert c.gradient_accumulation_steps(world_size=16) == 1


def test_every_field_has_help():
    missing = [f.name for f in dataclasses.fields(TrainConfig) if not f.metadata.get("help")]
    assert missing == []


def test_presets():
    assert set(PRESETS) >= {"paper", "s1.1", "cpu-demo"}
    s11 = TrainConfig.from_preset("s1.1")
    assert (s11.block_size, s11.thinking_field, s11.attempt_field) == (
        20000,
        "deepseek_thinking_trajectory",
        "deepseek_attempt",
    )
    demo = TrainConfig.from_preset("cpu-demo", max_steps=3)
    assert demo.model == "default" and demo.block_size <= 1024 and demo.max_steps == 3
    assert [name for name, preset in PRESETS.items() if preset.get("use_cpu")] == []  # a GPU trains where one is
    with pytest.raises(ValueError, match="unknown preset"):
        TrainConfig.from_preset("nope")


def test_from_file_yaml_and_json_reject_unknown_keys(tmp_path):
    good = tmp_path / "run.yaml"
    good.write_text("preset: cpu-demo\nblock_size: 256\nlora: true\n")
    c = TrainConfig.from_file(good, output_dir="x")
    assert (c.block_size, c.lora, c.output_dir, c.model) == (256, True, "x", "default")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"block_size": 256, "learning_rat": 1e-5}))
    with pytest.raises(ValueError, match=r"bad\.json.*learning_rat"):
        TrainConfig.from_file(bad)
    assert TrainConfig.load(str(good)).block_size == 256
    assert TrainConfig.load("paper").model == TrainConfig().model


def test_invalid_values_named():
    with pytest.raises(ValueError, match="overlong"):
        TrainConfig(overlong="clip")
    with pytest.raises(ValueError, match="global_batch_size"):
        TrainConfig(global_batch_size=6, per_device_batch_size=4).gradient_accumulation_steps()


def test_round_trip(tmp_path):
    c = TrainConfig.from_preset("cpu-demo", seed=7)
    c.save(tmp_path / "c.json")
    assert TrainConfig.from_file(tmp_path / "c.json") == c


def test_limo_preset_has_the_specs_hyperparameters():
    from s1lib.text_format import LIMO_SYSTEM_PROMPT

    c = TrainConfig.from_preset("limo")
    assert (c.model, c.data) == ("Qwen/Qwen2.5-32B-Instruct", "GAIR/LIMO")
    assert (c.learning_rate, c.lr_scheduler_type, c.warmup_ratio) == (5e-6, "cosine", 0.0)
    assert (c.num_train_epochs, c.global_batch_size, c.per_device_batch_size, c.block_size) == (15.0, 32, 1, 16384)
    assert (c.save_strategy, c.save_total_limit) == ("epoch", None)  # every epoch kept: LIMO released epoch 9
    assert c.keep_checkpoints and not TrainConfig.from_preset("cpu-demo").keep_checkpoints
    assert c.gradient_accumulation_steps(32) == 1 and c.gradient_accumulation_steps(8) == 4
    assert (c.question_field, c.thinking_field, c.attempt_field) == ("question", "solution", "answer")
    assert (c.delimiters, c.system_prompt, c.lora) == ("plain", LIMO_SYSTEM_PROMPT, False)
    forced = TrainConfig.from_preset("limo-s1format")
    assert forced.delimiters == "s1" and forced.learning_rate == c.learning_rate and forced.output_dir != c.output_dir


@pytest.mark.parametrize(
    ("name", "value"), [("save_strategy", "daily"), ("delimiters", "none"), ("keep_checkpoints", "no")]
)
def test_unknown_save_strategy_or_delimiters_are_refused(name, value):
    with pytest.raises(ValueError, match=f"TrainConfig.{name}"):
        TrainConfig(**{name: value})


def test_limo_fsdp_config_is_32_processes_over_4_nodes():
    import yaml

    cfg = yaml.safe_load(Path("env/accelerate/fsdp-limo.yaml").read_text())
    assert (cfg["num_processes"], cfg["num_machines"], cfg["mixed_precision"]) == (32, 4, "bf16")
    fsdp = cfg["fsdp_config"]  # FSDP2 (torch's fully_shard): FULL_SHARD is resharding after forward
    assert (fsdp["fsdp_version"], fsdp["fsdp_reshard_after_forward"]) == (2, True)


def test_the_cli_lists_every_field_with_its_help_and_coerces_like_the_notebooks(capsys):
    """``s1 train -h`` shows every TrainConfig field with its help (declared once, in the config), and ``--set``
    converts strings by the one coercion the notebooks use (``configfile.coerce``: ``on``, ``none``)."""
    from s1lib.cli.train import _coerce, main
    from s1lib.configfile import coerce

    with pytest.raises(SystemExit):
        main(["-h"])
    shown = capsys.readouterr().out
    for name, text in TrainConfig.help().items():
        assert f"  {name} (default " in shown and text.split()[0] in shown, name
    assert _coerce("use_cpu", "on") is True is coerce("on", bool)
    assert _coerce("resume_from_checkpoint", "none") is None and _coerce("block_size", "1024") == 1024
    with pytest.raises(SystemExit, match="--set block_size: expected an integer, got 'big'"):
        _coerce("block_size", "big")
