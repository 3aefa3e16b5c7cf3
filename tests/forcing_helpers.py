"""Helpers shared by the engine, sweep and vLLM tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def end_provoker(input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Content-based nudge (depends only on the last token) so a random model tries to end thinking often."""
    scores = scores.clone()
    last = input_ids[:, -1]
    scores[last % 5 == 0, 1] += 1e4  # <|im_start|>: begins the end delimiter
    scores[last % 7 == 3, 2] += 1e4  # <|im_end|>: end of sequence
    return scores


def save_tiny_llama(folder: Path, tokenizer: Any, **overrides: Any) -> Path:
    """A 2-layer random Llama (hidden 64; seed 0) on ``tokenizer``, saved with it as a model folder; ``overrides``
    change its LlamaConfig (e.g. larger weights, or a shape tensor parallelism can split)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    values: dict[str, Any] = dict(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(**{**values, **overrides})).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


OPEN_BRACE, SEVEN, CLOSE_BRACE = 107, 39, 109
"""SmolLM2's ids of "{" (as in " \\boxed{"), "7" and "}"."""


def answer_writer(input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Makes a random model answer "7}" after "{" (then it rambles on): a probe opened by " \\boxed{" closes."""
    scores = scores.clone()
    last, before = input_ids[:, -1], input_ids[:, -2]
    scores[last == OPEN_BRACE, SEVEN] += 1e4
    scores[(last == SEVEN) & (before == OPEN_BRACE), CLOSE_BRACE] += 1e4
    return scores
