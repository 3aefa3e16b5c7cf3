"""Settings of one SFT run as data: the paper's values as defaults, named presets, and loading from YAML/JSON.

The CLI, papermill parameters and the marimo UI all fill this one dataclass, so a run is described the same way
everywhere and can be saved next to its results.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s1lib.configfile import check_fields, read_config
from s1lib.text_format import DELIMITER_PRESETS, LIMO_SYSTEM_PROMPT, PLAIN

PAPER_MODEL = "Qwen/Qwen2.5-32B-Instruct"


@dataclass
class TrainConfig:
    """One SFT run. Defaults reproduce the paper's s1-32B recipe (simplescaling/s1, train/sft.py)."""

    # --- model and data ---
    model: str = field(
        default=PAPER_MODEL,
        metadata={"help": "Model to fine-tune: 'default' (embedded SmolLM2-135M), a local folder, or a hub id."},
    )
    data: str = field(
        default="simplescaling/s1K",
        metadata={
            "help": "Training data in the s1K schema: a .parquet/.jsonl/.json/.csv file, a `datasets` folder, 'toy' "
            "(built-in synthetic s1-format records) or a hub data set id."
        },
    )
    data_split: str = field(
        default="train", metadata={"help": "Split to use when `data` is a hub id or a DatasetDict."}
    )
    question_field: str = field(default="question", metadata={"help": "Column holding the question."})
    thinking_field: str = field(
        default="thinking_trajectories",
        metadata={"help": "Column holding the thinking trace: a string or a list with one string (s1K)."},
    )
    attempt_field: str = field(default="attempt", metadata={"help": "Column holding the answer text after thinking."})
    max_examples: int | None = field(
        default=None, metadata={"help": "Use only the first N records (None = all); for demos and smoke runs."}
    )
    toy_examples: int = field(default=64, metadata={"help": "Number of records when `data` is 'toy'."})
    delimiters: str = field(
        default="s1",
        metadata={
            "help": "Thinking delimiters preset: 's1' (<|im_start|>think/answer), 'think-tags', or 'plain' (LIMO's "
            "format: the chain is the assistant answer, no delimiters, so no end of thinking to force)."
        },
    )
    system_prompt: str | None = field(
        default=None,
        metadata={
            "help": "System message; None keeps the chat template's default (Qwen's 'You are Qwen...'), '' an empty "
            "one. Recorded beside the trained model (s1_prompt.json), so engines prompt it the same way."
        },
    )
    block_size: int = field(
        default=32768, metadata={"help": "Maximum tokens per example (the reference's block_size; s1.1 uses 20,000)."}
    )
    overlong: str = field(
        default="truncate",
        metadata={
            "help": "Examples longer than block_size: 'truncate' (keep the start), 'drop', or 'error'. "
            "Either way they are counted and reported."
        },
    )
    pad_token: str | None = field(
        default=None,
        metadata={
            "help": "Pad token; None picks a never-used one (<|fim_pad|>, then <|endoftext|>, else adds <|pad|>). "
            "It may never be the end-of-turn token, or <|im_end|> would be masked as padding."
        },
    )

    # --- optimisation (paper values) ---
    num_train_epochs: float = field(default=5.0, metadata={"help": "Epochs over the data (paper: 5)."})
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many optimizer steps (-1 = use epochs)."})
    learning_rate: float = field(default=1e-5, metadata={"help": "Peak learning rate (paper: 1e-5)."})
    warmup_ratio: float = field(default=0.05, metadata={"help": "Linear warm-up as a fraction of all steps (5%)."})
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "Schedule after warm-up: cosine decay to 0."})
    adam_beta1: float = field(default=0.9, metadata={"help": "AdamW beta1 (paper: 0.9)."})
    adam_beta2: float = field(default=0.95, metadata={"help": "AdamW beta2 (paper: 0.95)."})
    weight_decay: float = field(default=1e-4, metadata={"help": "AdamW weight decay (paper: 1e-4)."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm."})
    global_batch_size: int = field(
        default=16,
        metadata={"help": "Examples per optimizer step over all processes (paper: 16); sets gradient accumulation."},
    )
    per_device_batch_size: int = field(
        default=1, metadata={"help": "Examples per forward pass per process (paper: 1)."}
    )
    seed: int = field(default=42, metadata={"help": "Random seed for data order and initialisation."})

    # --- precision and memory ---
    model_dtype: str = field(
        default="auto",
        metadata={
            "help": "dtype the weights are loaded in: 'auto' (the checkpoint's own, e.g. bf16 for Qwen, where bf16 "
            "runs fast on this device; float32 where it does not), 'float32', 'bfloat16'."
        },
    )
    bf16: bool | str = field(
        default="auto",
        metadata={
            "help": "bf16 mixed precision (autocast), as the paper trains: 'auto' (on where this device runs bf16 "
            "fast: a CUDA GPU with bf16, or a CPU whose matmul probe shows bf16 at least as fast as float32; "
            "see s1lib.precision), true, or false."
        },
    )
    gradient_checkpointing: bool = field(
        default=True, metadata={"help": "Recompute activations in the backward pass: needed at 32K tokens."}
    )
    attn_implementation: str | None = field(
        default="sdpa", metadata={"help": "Attention kernel: 'sdpa', 'eager', 'flash_attention_2' (GPU), or None."}
    )

    # --- batching ---
    padding_free: bool = field(
        default=False,
        metadata={
            "help": "Concatenate each batch into one row with per-example position_ids (block-diagonal attention): "
            "no pad tokens. The paper pads (batch 1 per device, so it pads nothing)."
        },
    )
    group_by_length: bool = field(
        default=False, metadata={"help": "Batch examples of similar length together to cut padding."}
    )

    # --- LoRA ---
    lora: bool = field(default=False, metadata={"help": "Train a LoRA adapter instead of all weights (peft)."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling alpha."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA input."})
    lora_target_modules: str = field(
        default="all-linear", metadata={"help": "Modules to adapt: 'all-linear' or a comma-separated list of names."}
    )
    lora_merge: bool = field(
        default=True,
        metadata={"help": "Also save the adapter merged into the base model, so load_model(output_dir) works."},
    )

    # --- output, logging, resume ---
    output_dir: str = field(default="runs/sft", metadata={"help": "Folder for checkpoints, the final model and logs."})
    save_strategy: str = field(
        default="steps", metadata={"help": "'steps' (every save_steps) or 'epoch' (a checkpoint per epoch, LIMO)."}
    )
    save_steps: int = field(default=100, metadata={"help": "Save a checkpoint every N optimizer steps."})
    save_total_limit: int | None = field(default=2, metadata={"help": "Keep at most this many checkpoints."})
    keep_checkpoints: bool = field(
        default=True,
        metadata={
            "help": "False deletes output_dir's checkpoints once training has finished and the final model is saved: "
            "they exist to resume a crashed run (and to train a finished one further), and on the CPU demo they "
            "are 3 GB of weights and optimizer state beside a 0.5 GB model."
        },
    )
    logging_steps: int = field(default=1, metadata={"help": "Log loss, lr and throughput every N steps."})
    resume_from_checkpoint: str | None = field(
        default=None,
        metadata={"help": "'last' resumes from the newest checkpoint in output_dir, a path resumes from that one."},
    )
    use_cpu: bool = field(
        default=False,
        metadata={"help": "Train on CPU even if a GPU is present (false: CUDA where torch sees a GPU, else the CPU)."},
    )
    dataloader_num_workers: int = field(default=0, metadata={"help": "Data loader worker processes."})

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Reject impossible settings by field name, before any model is loaded."""
        checks = [
            (self.overlong in {"truncate", "drop", "error"}, "overlong", "one of 'truncate', 'drop', 'error'"),
            (self.block_size > 0, "block_size", "a positive integer"),
            (self.global_batch_size > 0, "global_batch_size", "a positive integer"),
            (self.per_device_batch_size > 0, "per_device_batch_size", "a positive integer"),
            (0 <= self.warmup_ratio < 1, "warmup_ratio", "a fraction in [0, 1)"),
            (self.learning_rate > 0, "learning_rate", "positive"),
            (self.model_dtype in {"auto", "float32", "bfloat16", "float16"}, "model_dtype", "auto/float32/bfloat16"),
            (self.bf16 in (True, False, "auto"), "bf16", "true, false or 'auto'"),
            (self.max_examples is None or self.max_examples > 0, "max_examples", "None or a positive integer"),
            (self.lora_r > 0, "lora_r", "a positive integer"),
            (self.save_strategy in {"steps", "epoch"}, "save_strategy", "'steps' or 'epoch'"),
            (isinstance(self.keep_checkpoints, bool), "keep_checkpoints", "true or false"),
            (self.delimiters in {*DELIMITER_PRESETS, PLAIN}, "delimiters", f"one of {[*DELIMITER_PRESETS, PLAIN]}"),
        ]
        for ok, name, expected in checks:
            if not ok:
                raise ValueError(f"TrainConfig.{name}: expected {expected}, got {getattr(self, name)!r}")

    def gradient_accumulation_steps(self, world_size: int = 1) -> int:
        """Accumulation that makes ``per_device * world * accumulation`` equal the global batch."""
        per_step = self.per_device_batch_size * max(world_size, 1)
        if self.global_batch_size % per_step:
            raise ValueError(
                f"TrainConfig.global_batch_size={self.global_batch_size} is not a multiple of "
                f"per_device_batch_size × processes = {per_step}"
            )
        return self.global_batch_size // per_step

    # --- construction ---
    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def _check_keys(cls, values: dict[str, Any], origin: str) -> None:
        check_fields(cls, values, origin, noun="TrainConfig field")

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> TrainConfig:
        """A named preset (``paper``, ``s1.1``, ``cpu-demo``) with field overrides."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}")
        values = {**PRESETS[name], **overrides}
        cls._check_keys(values, f"preset {name!r}")
        return cls(**values)

    @classmethod
    def from_dict(cls, values: dict[str, Any], origin: str = "config", **overrides: Any) -> TrainConfig:
        """From a mapping; a ``preset`` key starts from that preset. Unknown keys are rejected by name."""
        values = dict(values)
        preset = values.pop("preset", None)
        cls._check_keys(values, origin)
        cls._check_keys(overrides, "overrides")
        merged = {**values, **overrides}
        if preset is not None:
            return cls.from_preset(preset, **merged)
        return cls(**merged)

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> TrainConfig:
        """From a YAML or JSON file (a mapping of field names; optional ``preset`` key)."""
        values = read_config(path, "training config", "a mapping of TrainConfig fields")
        return cls.from_dict(values, origin=str(path), **overrides)

    @classmethod
    def load(cls, preset_or_path: str, **overrides: Any) -> TrainConfig:
        """A preset name or a config file path, whichever ``preset_or_path`` is."""
        if preset_or_path in PRESETS:
            return cls.from_preset(preset_or_path, **overrides)
        if Path(preset_or_path).is_file():
            return cls.from_file(preset_or_path, **overrides)
        raise ValueError(f"{preset_or_path!r} is neither a preset ({', '.join(sorted(PRESETS))}) nor a config file")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def help(cls) -> dict[str, str]:
        """Field name -> help string (``s1 train -h`` lists them for ``--set``)."""
        return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}


PRESETS: dict[str, dict[str, Any]] = {
    # The paper: Qwen2.5-32B-Instruct on s1K, FSDP over 16 GPUs (launch with env/accelerate/fsdp.yaml).
    "paper": {},
    # s1.1: the same questions with DeepSeek-R1 traces, shorter blocks.
    "s1.1": {
        "data": "simplescaling/s1K-1.1",
        "thinking_field": "deepseek_thinking_trajectory",
        "attempt_field": "deepseek_attempt",
        "block_size": 20000,
        "output_dir": "runs/sft-s1.1",
    },
    # LIMO (GAIR-NLP/LIMO train/examples/train_limo.yaml, LLaMA-Factory): Qwen2.5-32B-Instruct on GAIR/LIMO, full
    # SFT, cutoff 16,384 (32,768 was a typo, issue #4), lr 5e-6 cosine without warm-up, 15 epochs with a checkpoint
    # each (the released model is epoch 9: keep them all), batch 1 on 32 GPUs = global 32 (issues #3, #9, #19),
    # bf16, ZeRO-3 (FSDP full shard here: env/accelerate/fsdp-limo.yaml), no packing; flash attention 2 where
    # installed (--set attn_implementation=flash_attention_2; sdpa computes the same). LIMO's text:
    # its system prompt, the chain as a plain answer. Not in the spec, so transformers' defaults (what LLaMA-Factory
    # uses when its yaml sets none; unverified): AdamW betas 0.9/0.999, no weight decay.
    "limo": {
        "data": "GAIR/LIMO",
        "question_field": "question",
        "thinking_field": "solution",
        "attempt_field": "answer",
        "delimiters": PLAIN,
        "system_prompt": LIMO_SYSTEM_PROMPT,
        "block_size": 16384,
        "learning_rate": 5e-6,
        "lr_scheduler_type": "cosine",
        "warmup_ratio": 0.0,
        "num_train_epochs": 15.0,
        "global_batch_size": 32,
        "per_device_batch_size": 1,
        "adam_beta2": 0.999,
        "weight_decay": 0.0,
        "save_strategy": "epoch",
        "save_total_limit": None,
        "output_dir": "runs/sft-limo",
    },
    # A few minutes on 2 CPU cores: the embedded SmolLM2-135M learns the s1 format (and, on the curated toy set,
    # the toy procedures). Padding-free batches: 3.3x the useful tokens/s of padded ones on an AVX2-only CPU. An
    # empty system line instead of SmolLM2's default (~15 tokens of every example), recorded with the model.
    "cpu-demo": {
        "model": "default",
        "data": "toy",
        "toy_examples": 32,
        "system_prompt": "",
        "block_size": 512,
        "num_train_epochs": 1.0,
        "max_steps": 20,
        "learning_rate": 3e-4,
        "global_batch_size": 8,
        "per_device_batch_size": 8,
        "padding_free": True,
        "gradient_checkpointing": False,  # no use_cpu: on a GPU machine the demo trains there (`s1 demo --full`)
        "save_steps": 10,
        "keep_checkpoints": False,  # a crash mid-run still resumes; a finished run keeps only its model
        "output_dir": "runs/sft-cpu-demo",
    },
}
"""Named presets as overrides of the paper defaults."""

PRESETS["limo-s1format"] = {**PRESETS["limo"], "delimiters": "s1", "output_dir": "runs/sft-limo-s1format"}
"""LIMO's data and recipe in the s1 text format (think/answer delimiters): a LIMO-data model that can be forced."""
