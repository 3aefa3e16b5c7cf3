"""Helpers shared by the engine, sweep and vLLM tests."""

from __future__ import annotations

import torch


def end_provoker(input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Content-based nudge (depends only on the last token) so a random model tries to end thinking often."""
    scores = scores.clone()
    last = input_ids[:, -1]
    scores[last % 5 == 0, 1] += 1e4  # <|im_start|>: begins the end delimiter
    scores[last % 7 == 3, 2] += 1e4  # <|im_end|>: end of sequence
    return scores
