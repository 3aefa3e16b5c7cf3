"""Padded and padding-free batches of encoded examples, through TRL's collator.

Padding-free concatenates a batch into one row and restarts ``position_ids`` at 0 for each example, with no
attention mask; transformers then derives a block-diagonal causal mask from the position resets (sdpa/eager) or
uses the sequence boundaries directly (flash attention), so no token attends across examples, provided the
model runs without a KV cache (``use_cache=False``, as in training). TRL also sets the
label of each example's first token to -100 so no example is trained to predict the next one's start.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def collate(examples: Sequence[dict[str, list[int]]], pad_token_id: int, padding_free: bool) -> dict[str, Any]:
    """A model-ready batch (tensors) of ``input_ids``/``labels`` examples."""
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    collator = DataCollatorForLanguageModeling(pad_token_id=pad_token_id, padding_free=padding_free)
    return collator([{"input_ids": e["input_ids"], "labels": e["labels"]} for e in examples])


def model_inputs(batch: dict[str, Any], varlen: bool = False) -> dict[str, Any]:
    """The keys a causal LM forward takes; ``varlen`` keeps the example boundaries for s1lib/attention.py.

    ``use_cache=False`` matters: transformers derives the block-diagonal mask from ``position_ids`` only when
    there is no KV cache, and an eval-mode model creates one by default (then examples would see each other).
    """
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "position_ids", "labels") if k in batch}
    inputs["use_cache"] = False
    if varlen and "cu_seq_lens_q" in batch:
        inputs["cu_seq_lens_q"] = batch["cu_seq_lens_q"]  # read by the per-example attention (attention.py)
    return inputs


def real_tokens(batch: dict[str, Any]) -> int:
    mask = batch.get("attention_mask")
    return int(mask.sum()) if mask is not None else int(batch["input_ids"].numel())
