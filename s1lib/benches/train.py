"""``s1 bench train``: useful (non-pad) tokens per second, padding-free vs padded batches, side by side.

Both batchings see the same examples with the same weights in one process (interleaved per batch, then one
optimizer step on the summed gradients), so machine load affects both alike. Lengths follow a long-tailed law like
s1K's traces (most short, a few near the block size): the case where padding to the longest wastes the most.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import time
from typing import Any

from s1lib.attention import register_s1_sdpa
from s1lib.toy import toy_records
from s1lib.train.batching import collate, model_inputs, real_tokens
from s1lib.train.data import Fields, build_examples, choose_pad_token


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_bench(
    json_output: bool = False,
    model_name: str = "default",
    batch_size: int = 8,
    batches: int = 2,
    block_size: int = 512,
    precision: str = "auto",
    seed: int = 0,
) -> dict[str, Any]:
    """Measure and print tokens/s of both batchings; return the numbers (target: ratio ≥ 1.5).

    ``precision`` ``auto`` trains with bf16 autocast only where this machine runs bf16 fast (s1lib.precision)."""
    import torch

    from s1lib.machine import configure_threads
    from s1lib.precision import resolve_precision

    configure_threads()
    bf16 = resolve_precision(precision, "cpu").bf16
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from s1lib.models import resolve_model

    torch.manual_seed(seed)
    path = resolve_model(model_name).path
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.pad_token = choose_pad_token(tokenizer)[0]
    records = toy_records(batch_size * batches, seed=seed, long_tail=True)
    examples, report = build_examples(records, tokenizer, Fields(), block_size=block_size, origin="bench")
    # Padded batches take the plain sdpa path inside this attention; packed ones its per-example path.
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation=register_s1_sdpa())
    model.train()
    model.config.use_cache = False
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6, betas=(0.9, 0.95), weight_decay=1e-4)

    def step(batch: dict[str, Any]) -> tuple[float, float, float]:
        start, cpu_start = time.perf_counter(), time.process_time()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(**model_inputs(batch, varlen=True)).loss
        loss.backward()
        return time.perf_counter() - start, time.process_time() - cpu_start, float(loss.detach())

    # wall seconds, real tokens, tokens incl. pad, CPU seconds (steadier than wall time on a shared machine)
    totals = {"padded": [0.0, 0, 0, 0.0], "padding_free": [0.0, 0, 0, 0.0]}
    losses: dict[str, list[float]] = {"padded": [], "padding_free": []}
    warm = collate(examples[:2], tokenizer.pad_token_id, padding_free=True)
    step(warm)  # first-call overheads (allocator, kernels) out of the measurement
    optimizer.zero_grad(set_to_none=True)
    for b in range(batches):
        chunk = examples[b * batch_size : (b + 1) * batch_size]
        order = ("padded", "padding_free") if b % 2 == 0 else ("padding_free", "padded")
        for kind in order:
            batch = collate(chunk, tokenizer.pad_token_id, padding_free=kind == "padding_free")
            seconds, cpu_seconds, loss = step(batch)
            totals[kind][0] += seconds
            totals[kind][3] += cpu_seconds
            totals[kind][1] += real_tokens(batch)
            totals[kind][2] += int(batch["input_ids"].numel())
            losses[kind].append(loss)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def rate(kind: str, cpu: bool = False) -> float:
        return totals[kind][1] / totals[kind][3 if cpu else 0]

    def entry(kind: str) -> dict[str, Any]:
        return {
            "tokens_per_s": round(rate(kind), 1),
            "tokens_per_cpu_s": round(rate(kind, cpu=True), 1),
            "real_tokens": totals[kind][1],
            "tokens_with_pad": totals[kind][2],
            "seconds": round(totals[kind][0], 2),
            "cpu_seconds": round(totals[kind][3], 2),
        }

    lengths = sorted(len(e["input_ids"]) for e in examples)
    result = {
        "model": model_name,
        "batch_size": batch_size,
        "batches": batches,
        "block_size": block_size,
        "precision": "bf16-autocast" if bf16 else "fp32",
        "lengths": {
            "min": lengths[0],
            "median": statistics.median(lengths),
            "max": lengths[-1],
            "truncated": report.truncated,
        },
        "padded": entry("padded"),
        "padding_free": entry("padding_free"),
        "speedup": round(rate("padding_free") / rate("padded"), 2),
        "speedup_cpu_time": round(rate("padding_free", cpu=True) / rate("padded", cpu=True), 2),
        "load_average": round(os.getloadavg()[0], 2),
        "max_loss_difference": round(max(abs(a - b) for a, b in zip(losses["padded"], losses["padding_free"])), 5),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "target_speedup": 1.5,
    }
    if json_output:
        print(json.dumps(result))
    else:
        pad_share = 1 - result["padded"]["real_tokens"] / result["padded"]["tokens_with_pad"]
        print(
            f"train batching on {model_name} ({result['precision']}), batch {batch_size} x {batches}, "
            f"lengths {result['lengths']}"
        )
        print(
            f"  padded:       {result['padded']['tokens_per_s']:8.1f} useful tok/s  ({pad_share:.0%} of tokens are pad)"
        )
        print(f"  padding-free: {result['padding_free']['tokens_per_s']:8.1f} useful tok/s")
        print(
            f"  speedup {result['speedup']:.2f}x wall, {result['speedup_cpu_time']:.2f}x CPU time (target >= 1.5x); "
            f"same loss within {result['max_loss_difference']}; load average {result['load_average']}"
        )
        print(f"  peak RSS {result['peak_rss_mb']:.0f} MB")
    return result
