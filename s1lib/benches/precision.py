"""``s1 bench precision``: float32 against bf16 on this machine, side by side, and what ``auto`` chose.

Measured in one process, one precision after the other on the same work: matmul GFLOP/s (the 2048×576 · 576×1536
product of the machine notes), greedy decoding tokens/s at batch 1 and 8, and SFT tokens/s (one packed batch,
forward and backward), each in float32 and in bf16 (bf16 weights for decoding, bf16 autocast for SFT, as the
trainer does); decoding is measured twice, interleaved, and the faster run kept, since a shared machine's noise
is of the order of the differences. Per workload, auto's speed ÷ the faster precision's. ``auto_over_best`` is the
same ratio for the main job's work (``make demo``: ~19K SFT tokens, ~30K tokens decoded in batches, a few hundred
decoded one at a time): its time at each workload's best precision ÷ its time at auto's (target ≥ 0.95 on every
machine). ``auto_over_best_worst`` is the lowest per-workload ratio, so a workload where the one per-process
choice is not the best stays visible: with AMX, batch-1 decoding runs faster in float32 while training and batched
decoding run ~1.4× faster in bf16. On a CPU without native bf16 the bf16 half is slow by design: that is what it
measures.
"""

from __future__ import annotations

import json
import time
from typing import Any

WORKLOADS = ("decode_batch1", "decode_batch8", "sft")
MAIN_JOB_TOKENS = {"sft": 19_000, "decode_batch8": 30_000, "decode_batch1": 400}
"""Tokens of each kind of work in ``make demo`` (SFT; the sweep's batched decoding; notebook 03's single prompts)."""


MATMUL_SHAPE = (2048, 576, 1536)
"""The product of the machine notes (the probe's, at 2048 rows)."""


def _decode_tokens_per_s(model: Any, tokenizer: Any, batch: int, new_tokens: int) -> float:
    import torch

    from s1lib.text_format import build_prompt

    prompt = tokenizer.encode(build_prompt(tokenizer, "Add: 3 8 5 9 2 6 4"), add_special_tokens=False)
    ids = torch.tensor([prompt] * batch)
    kwargs = {"attention_mask": torch.ones_like(ids), "do_sample": False, "pad_token_id": tokenizer.eos_token_id}
    with torch.inference_mode():
        model.generate(ids, max_new_tokens=2, min_new_tokens=2, **kwargs)  # warm-up
        start = time.perf_counter()
        model.generate(ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens, **kwargs)
        seconds = time.perf_counter() - start
    return batch * new_tokens / seconds


def _sft_tokens_per_s(path: str, bf16: bool, examples: int) -> float:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from s1lib.attention import register_s1_sdpa
    from s1lib.toy import toy_records
    from s1lib.train.batching import collate, model_inputs
    from s1lib.train.data import Fields, build_examples, choose_pad_token

    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.pad_token = choose_pad_token(tokenizer)[0]
    encoded, _ = build_examples(toy_records(examples + 1, seed=0), tokenizer, Fields(), block_size=512, origin="bench")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation=register_s1_sdpa())
    model.train()
    model.config.use_cache = False

    def step(batch: dict[str, Any]) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(**model_inputs(batch, varlen=True)).loss
        loss.backward()
        model.zero_grad(set_to_none=True)

    step(collate(encoded[:1], tokenizer.pad_token_id, padding_free=True))  # warm-up
    batch = collate(encoded[1:], tokenizer.pad_token_id, padding_free=True)
    start = time.perf_counter()
    step(batch)
    return int(batch["input_ids"].numel()) / (time.perf_counter() - start)


def run_bench(
    json_output: bool = False,
    model_name: str = "default",
    new_tokens: int = 48,
    sft_examples: int = 4,
    matmul_seconds: float = 0.3,
) -> dict[str, Any]:
    """Measure both precisions, print a table (or one JSON object), return the numbers."""
    import torch

    from s1lib.machine import configure_threads, cpu_info
    from s1lib.models import load_model, resolve_model
    from s1lib.precision import cached_probe, matmul_gflops, resolve_precision

    threads = configure_threads()
    auto = resolve_precision("auto", "cpu")
    probe = cached_probe()
    names = {"float32": torch.float32, "bfloat16": torch.bfloat16}
    speeds: dict[str, dict[str, float]] = {name: {} for name in names}
    models = {name: load_model(model_name, dtype=name) for name in names}
    for name, dtype in names.items():
        speeds[name]["matmul_gflops"] = round(matmul_gflops(dtype, matmul_seconds, MATMUL_SHAPE), 2)
    for batch in (1, 8):
        key = f"decode_batch{batch}_tokens_per_s"
        for _ in range(2):  # interleaved, the faster of two runs each
            for name, (model, tokenizer) in models.items():
                measured = _decode_tokens_per_s(model, tokenizer, batch, new_tokens)
                speeds[name][key] = round(max(speeds[name].get(key, 0.0), measured), 2)
    del models
    for name in names:
        speeds[name]["sft_tokens_per_s"] = round(
            _sft_tokens_per_s(resolve_model(model_name).path, name == "bfloat16", sft_examples), 2
        )

    def rate(precision: str, workload: str) -> float:
        return speeds[precision][f"{workload}_tokens_per_s"]

    def best(workload: str) -> float:
        return max(rate("float32", workload), rate("bfloat16", workload))

    ratios = {w: rate(auto.dtype, w) / best(w) for w in WORKLOADS}
    best_time = sum(tokens / best(w) for w, tokens in MAIN_JOB_TOKENS.items())
    auto_time = sum(tokens / rate(auto.dtype, w) for w, tokens in MAIN_JOB_TOKENS.items())
    result: dict[str, Any] = {
        "cpu": cpu_info().model,
        "isa": cpu_info().isa,
        "bf16_flags": list(cpu_info().bf16_flags),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": threads,
        "model": model_name,
        "float32": speeds["float32"],
        "bfloat16": speeds["bfloat16"],
        "bf16_over_float32_matmul": round(speeds["bfloat16"]["matmul_gflops"] / speeds["float32"]["matmul_gflops"], 3),
        "probe": probe.to_dict(),
        "auto": auto.dtype,
        "auto_reason": auto.reason,
        "auto_over_best_per_workload": {w: round(r, 3) for w, r in ratios.items()},
        "auto_over_best": round(best_time / auto_time, 3),
        "auto_over_best_worst": round(min(ratios.values()), 3),
        "target_auto_over_best": 0.95,
    }
    if json_output:
        print(json.dumps(result))
        return result
    print(
        f"precision on {result['cpu']} ({result['isa']}, bf16 flags {result['bf16_flags'] or 'none'}), "
        f"{threads} threads"
    )
    print(f"  {'':24}{'float32':>12}{'bfloat16':>12}")
    for key in ("matmul_gflops", *(f"{w}_tokens_per_s" for w in WORKLOADS)):
        print(f"  {key:24}{speeds['float32'][key]:>12.1f}{speeds['bfloat16'][key]:>12.1f}")
    print(f"  auto chose {auto.dtype} ({auto.reason})")
    print(
        f"  auto_over_best {result['auto_over_best']:.3f} (the main job's mix of work; target >= 0.95); per workload "
        + ", ".join(f"{w} {r:.2f}" for w, r in ratios.items())
    )
    return result
