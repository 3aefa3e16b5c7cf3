"""``run_training``: the s1 SFT recipe through TRL's SFTTrainer, from one CPU to FSDP on many GPUs.

The same function runs under ``python -m s1lib.train`` and ``accelerate launch -m s1lib.train``; accelerate's
environment decides DDP/FSDP, this module only describes the run.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s1lib.attention import S1_SDPA
from s1lib.results import StageResult
from s1lib.text_format import save_prompt_format
from s1lib.train.config import TrainConfig
from s1lib.train.data import Fields, LengthReport, build_examples, choose_pad_token, load_records, to_dataset
from s1lib.train.fsdp import distributed_record, full_state_dict, promote_cpu_fsdp
from s1lib.train.runlog import LOG_NAME, JsonLogCallback, TokenCounter, loss_figure

logger = logging.getLogger(__name__)

SUMMARY_NAME = "train_summary.json"
CONFIG_NAME = "train_config.json"
ADAPTER_DIR = "adapter"


@dataclass
class TrainResult(StageResult):
    """Where a run left its model and logs, and what it measured (``trainer_metrics``: the Trainer's own)."""

    output_dir: str
    model_dir: str
    adapter_dir: str | None
    global_step: int
    final_loss: float | None
    rows: list[dict[str, Any]] = field(default_factory=list)
    lengths: dict[str, Any] = field(default_factory=dict)
    trainer_metrics: dict[str, Any] = field(default_factory=dict)
    resumed_from: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Every field but the log rows; the Trainer's metrics under ``metrics``, as earlier runs stored them."""
        values = {k: v for k, v in self.__dict__.items() if k != "rows"}
        values["metrics"] = values.pop("trainer_metrics")
        return values

    def metrics(self) -> dict[str, Any]:
        return self.to_dict()

    def figures(self) -> dict[str, Any]:
        """``loss_curve``: the training loss per logged step."""
        from s1lib import viz

        return {"loss_curve": viz.loss_curve(self.rows)}

    def table(self) -> str:
        seconds, tokens = self.trainer_metrics.get("wall_seconds"), self.trainer_metrics.get("real_tokens")
        rate = f", {tokens / seconds:.0f} tokens/s" if seconds and tokens else ""
        return f"{self.global_step} steps, final loss {self.final_loss}{rate}; model in {self.model_dir}"


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def prepare_data(config: TrainConfig, tokenizer: Any) -> tuple[Any, LengthReport]:
    """Load, validate and encode the data (every error is raised here, before a model is loaded)."""
    records = load_records(config.data, split=config.data_split, toy_examples=config.toy_examples, seed=config.seed)
    if config.max_examples is not None:
        records = records[: config.max_examples]
    fields = Fields(config.question_field, config.thinking_field, config.attempt_field)
    examples, report = build_examples(
        records,
        tokenizer,
        fields,
        block_size=config.block_size,
        overlong=config.overlong,
        delimiters=config.delimiters,
        system=config.system_prompt,
        origin=config.data,
    )
    return to_dataset(examples), report


def _model_path(name: str) -> str:
    from s1lib.models import resolve_model

    source = resolve_model(name)
    if source.gguf_file:
        raise ValueError(
            f"TrainConfig.model: {name!r} is a GGUF file, which transformers cannot train; convert it to a "
            "safetensors folder first (s1lib.models.prepare_default_model() does this for 'default')"
        )
    return source.path


def load_for_training(config: TrainConfig) -> tuple[Any, Any, str]:
    """Tokenizer with a safe pad token, then the model (only after the data has been checked)."""
    from transformers import AutoTokenizer

    path = _model_path(config.model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    pad, added = choose_pad_token(tokenizer, config.pad_token)
    tokenizer.pad_token = pad
    return tokenizer, added, path


@dataclass(frozen=True)
class TrainPrecision:
    """What ``TrainConfig.bf16`` and ``model_dtype`` became on this device (``"auto"`` resolved by measurement)."""

    bf16: bool
    model_dtype: str  # "auto" (the checkpoint's own), "float32", "bfloat16", "float16"
    record: dict[str, Any]

    @property
    def label(self) -> str:
        weights = "the checkpoint's dtype" if self.model_dtype == "auto" else self.model_dtype
        return ("bf16 autocast, weights in " if self.bf16 else "weights in ") + weights


def train_device(config: TrainConfig) -> str:
    """Where this process trains: the CPU when ``use_cpu`` says so, else CUDA where torch sees a GPU (``auto``);
    :func:`sft_args` sets ``use_cpu`` from it, so training, its precision and its record agree."""
    from s1lib.device import resolve_device

    return "cpu" if config.use_cpu else resolve_device("auto")


def resolve_train_precision(config: TrainConfig) -> TrainPrecision:
    """Resolve ``bf16`` and ``model_dtype``: ``auto`` turns bf16 on only where it runs fast on this device (a CUDA
    GPU with bf16, or a CPU whose probe measured bf16 at least as fast as float32), else trains in float32. An
    explicit bf16 on a CPU where it is slow still trains in bf16, with one warning naming the slowdown."""
    from s1lib.machine import describe
    from s1lib.precision import resolve_precision

    device = train_device(config)
    requested = {"auto": "auto", True: "bfloat16", False: "float32"}[config.bf16]
    resolution = resolve_precision(requested, device)
    bf16 = resolution.bf16
    if config.model_dtype == "auto":
        model_dtype = "auto" if bf16 else "float32"  # a bf16 checkpoint (Qwen) is upcast where bf16 is slow
    else:
        model_dtype = config.model_dtype
        if model_dtype == "bfloat16" and not bf16:
            resolve_precision("bfloat16", device)  # the one warning, if bf16 is slow here
    record = {
        "device": device,
        "bf16": bf16,
        "model_dtype": model_dtype,
        "requested": {"bf16": config.bf16, "model_dtype": config.model_dtype},
        "resolution": resolution.to_dict(),
        "machine": describe(),
    }
    return TrainPrecision(bf16, model_dtype, record)


def _load_model(config: TrainConfig, path: str, tokenizer: Any, resize: bool, model_dtype: str) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": "auto" if model_dtype == "auto" else getattr(torch, model_dtype)}
    attn = training_attention(config)
    if attn:
        kwargs["attn_implementation"] = attn
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if resize:
        model.resize_token_embeddings(len(tokenizer))
    model.config.use_cache = False
    return model


def training_attention(config: TrainConfig) -> str | None:
    """sdpa runs as ``s1_sdpa`` (s1lib/attention.py: grouped KV heads without copies, and per-example attention in
    padding-free batches); flash attention has its own varlen kernel."""
    if config.attn_implementation in (None, "sdpa"):
        from s1lib.attention import register_s1_sdpa

        return register_s1_sdpa()
    return config.attn_implementation


def peft_config(config: TrainConfig) -> Any:
    from peft import LoraConfig

    targets: Any = config.lora_target_modules
    if targets != "all-linear":
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )


def sft_args(config: TrainConfig, bf16: bool | None = None) -> Any:
    """TRL's SFTConfig from ours: every default is set deliberately (TRL's bf16/checkpointing defaults are not ours).

    ``bf16`` is the resolved autocast choice (:func:`resolve_train_precision`), computed when not given."""
    from trl import SFTConfig

    if bf16 is None:
        bf16 = resolve_train_precision(config).bf16
    return SFTConfig(
        output_dir=config.output_dir,
        num_train_epochs=config.num_train_epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.per_device_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps(world_size()),
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler_type,
        warmup_steps=config.warmup_ratio,  # a float in [0, 1) is a ratio of all steps in transformers 5
        adam_beta1=config.adam_beta1,
        adam_beta2=config.adam_beta2,
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        bf16=bf16,
        gradient_checkpointing=config.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if config.gradient_checkpointing else None,
        max_length=None,  # over-long examples were already handled (and reported) by our data step
        padding_free=config.padding_free,
        train_sampling_strategy="group_by_length" if config.group_by_length else "random",
        completion_only_loss=False,  # our labels already mask the prompt
        logging_steps=config.logging_steps,
        save_strategy=config.save_strategy,
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=train_device(config) == "cpu",  # no CUDA: the CPU (not mps, which precision does not resolve)
        report_to="none",
        dataloader_num_workers=config.dataloader_num_workers,
        ddp_find_unused_parameters=False if world_size() > 1 else None,
    )


def _trainer_class() -> type:
    from trl import SFTTrainer

    class S1SFTTrainer(SFTTrainer):
        """SFTTrainer that counts real tokens per micro-batch for the throughput log."""

        token_counter: TokenCounter | None = None

        def create_accelerator_and_postprocess(self) -> None:
            """On CPU processes launched for FSDP, run FSDP rather than accelerate's silent DDP (train/fsdp.py)."""
            super().create_accelerator_and_postprocess()
            if promote_cpu_fsdp(self.accelerator):
                self.is_fsdp_enabled = True

        def training_step(self, model, inputs, num_items_in_batch=None):
            if self.token_counter is not None:
                self.token_counter.add(inputs)
            return super().training_step(model, inputs, num_items_in_batch)

    return S1SFTTrainer


def resolve_resume(config: TrainConfig) -> str | None:
    """'last' -> newest checkpoint in output_dir (None if there is none yet); a path must exist."""
    value = config.resume_from_checkpoint
    if not value:
        return None
    if value == "last":
        from transformers.trainer_utils import get_last_checkpoint

        if not Path(config.output_dir).is_dir():
            return None
        return get_last_checkpoint(config.output_dir)
    if not Path(value).is_dir():
        raise FileNotFoundError(f"TrainConfig.resume_from_checkpoint: checkpoint folder {value!r} does not exist")
    return value


def run_training(
    config: TrainConfig, on_row: Callable[[dict[str, Any]], None] | None = None, progress: bool = True
) -> TrainResult:
    """Train, save the model and tokenizer into ``config.output_dir`` (loadable by ``s1lib.models.load_model``),
    and write ``train_log.jsonl``, ``train_summary.json``, ``train_config.json`` and ``loss_curve.html`` there.

    ``progress`` prints one line per logged step (``SFT step k/n · loss · tokens/s · ETA``) instead of
    transformers' bar, so a notebook, papermill's log and the batch console all show it."""
    import torch

    from s1lib.machine import configure_threads
    from s1lib.progress import sft_step_line

    configure_threads()
    torch.manual_seed(config.seed)
    out = Path(config.output_dir)
    tokenizer, added_pad, path = load_for_training(config)
    dataset, report = prepare_data(config, tokenizer)
    logger.info("data: %s", report.summary())
    resume = resolve_resume(config)

    precision = resolve_train_precision(config)
    logger.info("precision: %s (%s)", precision.label, precision.record["resolution"]["reason"])
    # The arguments first: they start the process group, so that under FSDP's cpu_ram_efficient_loading only local
    # rank 0 reads the weights (transformers checks for the group at load time) and the others get them from it.
    args = sft_args(config, bf16=precision.bf16)
    model = _load_model(config, path, tokenizer, resize=added_pad, model_dtype=precision.model_dtype)
    if progress:
        args.disable_tqdm = True  # our lines replace the bar (a bar is unreadable in papermill and batch logs)
    counter = TokenCounter()
    out.mkdir(parents=True, exist_ok=True)
    if resume is None and (out / LOG_NAME).exists() and args.process_index == 0:
        (out / LOG_NAME).unlink()  # a fresh run starts a fresh log; a resumed one appends

    def each_row(row: dict[str, Any]) -> None:
        if progress:
            print(sft_step_line(row), flush=True)
        if on_row is not None:
            on_row(row)

    callback = JsonLogCallback(out / LOG_NAME, counter, on_row=each_row, extra={"precision": precision.label})
    trainer = _trainer_class()(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config(config) if config.lora else None,
        callbacks=[callback],
    )
    trainer.token_counter = counter
    if progress:
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # it would print every log dict beside our lines
        if trainer.is_world_process_zero():
            print(
                f"SFT: {report.examples} examples, {report.tokens} tokens; "
                f"{args.max_steps if args.max_steps > 0 else '?'} steps; precision {precision.label} "
                f"on {train_device(config)}",
                flush=True,
            )
    start = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - start

    adapter_dir = save_trained(trainer, tokenizer, config)
    if not config.keep_checkpoints and trainer.is_world_process_zero():
        remove_checkpoints(out)
    result = TrainResult(
        output_dir=str(out),
        model_dir=str(out),
        adapter_dir=adapter_dir,
        global_step=trainer.state.global_step,
        final_loss=callback.rows[-1]["loss"] if callback.rows else None,
        rows=callback.rows,
        lengths=report.to_dict(),
        trainer_metrics={
            **output.metrics,
            "wall_seconds": round(seconds, 2),
            "real_tokens": counter.total_tokens,
            "precision": precision.record,
            "distributed": distributed_record(trainer.accelerator),
        },
        resumed_from=resume,
    )
    if trainer.is_world_process_zero():
        config.save(out / CONFIG_NAME)
        (out / SUMMARY_NAME).write_text(json.dumps(result.to_dict(), indent=2, default=str) + "\n")
        from s1lib.train.runlog import read_log

        rows = read_log(out / LOG_NAME) if (out / LOG_NAME).exists() else []
        if rows:
            loss_figure(rows).write_html(out / "loss_curve.html", include_plotlyjs="cdn")
    return result


def remove_checkpoints(out: Path) -> list[str]:
    """Delete the Trainer's ``checkpoint-N`` folders in ``out`` (the final model beside them stays); their names."""
    import shutil

    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    removed = []
    for folder in sorted(out.glob(f"{PREFIX_CHECKPOINT_DIR}-*")):
        if folder.is_dir() and folder.name.removeprefix(f"{PREFIX_CHECKPOINT_DIR}-").isdigit():
            shutil.rmtree(folder)
            removed.append(folder.name)
    return removed


def save_trained(trainer: Any, tokenizer: Any, config: TrainConfig) -> str | None:
    """Save so that ``load_model(output_dir)`` works: full weights, or for LoRA the adapter plus a merged copy."""
    out = Path(config.output_dir)
    model = trainer.model
    model.config.use_cache = True
    if model.config._attn_implementation == S1_SDPA:
        model.set_attn_implementation("sdpa")  # the saved model must load without s1lib's registration
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    if trainer.is_world_process_zero():
        out.mkdir(parents=True, exist_ok=True)
        save_prompt_format(out, config.system_prompt, config.delimiters)  # engines prompt it as it was trained
    if not config.lora:
        with full_state_dict(trainer.accelerator):  # FSDP: sharded checkpoints, but a plain model folder at the end
            trainer.save_model(str(out))
        if trainer.is_world_process_zero():
            tokenizer.save_pretrained(out)
        return None
    adapter_dir = out / ADAPTER_DIR
    trainer.save_model(str(adapter_dir))
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(adapter_dir)
        if config.lora_merge:
            merged = trainer.accelerator.unwrap_model(model).merge_and_unload()
            merged.config.use_cache = True
            merged.save_pretrained(out)
            tokenizer.save_pretrained(out)
    return str(adapter_dir)
