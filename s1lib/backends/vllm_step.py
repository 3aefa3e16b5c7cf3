"""What one forced step of the vLLM processor brings to the host, in one transfer.

On a GPU every ``.tolist()`` in the processor's ``apply`` waits for the work queued before it (the forward pass
included), and with async scheduling that wait is the overlap vLLM built. So a step computes on the device whatever
the host decisions need (each greedy row's argmax, each sampled row's batched draw, the token vLLM fed each row),
stacks it and reads it back once (:func:`fetch_step`); the indices it sends the other way are staged in pinned
memory (:func:`s1lib.forcing.sampling.to_device`). Nothing here imports vLLM.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from s1lib.forcing.sampling import Chooser, draw_rows, to_device


def forced_scores(logits: torch.Tensor, rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The forced rows' index (on the device) and their float32 scores: where every row of the batch is forced, in
    order, the logits themselves (vLLM hands float32; decisions read them before they are masked), else a copy."""
    index = to_device(rows, torch.long, logits.device)
    if logits.dtype == torch.float32 and rows == list(range(logits.shape[0])):
        return index, logits
    return index, logits.index_select(0, index).float()


def fetch_step(
    scores: torch.Tensor,
    index: torch.Tensor,
    greedy: Sequence[bool],
    draws: Sequence[tuple[Chooser, bool] | None],
    last_tokens: Any,
) -> tuple[list[int | None], list[int | None], list[int | None]]:
    """Per row of ``scores`` (the forced rows; ``index``: their rows in the batch): the argmax where ``greedy``,
    the batched draw where ``draws`` gives ``(chooser, thinking)``, and the last token vLLM committed
    (``last_tokens``: a host list, one per row, or V2's device tensor of every batch row's fed token, gathered
    at ``index``). One sync."""
    rows = scores.shape[0]
    sampled = [j for j, d in enumerate(draws) if d is not None]
    fed = isinstance(last_tokens, torch.Tensor)
    parts = []
    if any(greedy):
        parts.append(scores.argmax(dim=-1))
    if sampled:
        own = scores if len(sampled) == rows else scores.index_select(0, to_device(sampled, torch.long, scores.device))
        chosen = [draws[j] for j in sampled]
        parts.append(draw_rows([c for c, _ in chosen], own, [t for _, t in chosen]))  # type: ignore[misc]
    if fed:
        parts.append(last_tokens.index_select(0, index.to(last_tokens.device)))
    values = iter(torch.cat([p.long() for p in parts]).tolist() if parts else [])
    argmax = [next(values) for _ in range(rows)] if any(greedy) else [None] * rows
    drawn: list[int | None] = [None] * rows
    for j in sampled:
        drawn[j] = next(values)
    last = [next(values) for _ in range(rows)] if fed else list(last_tokens or [None] * rows)
    return argmax, drawn, last


def run_processors(processors: Sequence[Any], ids: list[int], scores: torch.Tensor, j: int) -> None:
    """A request's own processors (transformers' form) on its row ``j`` of ``scores``, in place; they see its ids.
    In-process requests only (tests steer a tiny model with them): the ids cost a host-to-device copy."""
    adjusted, input_ids = scores[j : j + 1], torch.tensor([ids], device=scores.device)
    for processor in processors:
        adjusted = processor(input_ids, adjusted)
    scores[j] = adjusted[0]


def mask_rows(logits: torch.Tensor, chosen: list[tuple[int, int]]) -> torch.Tensor:
    """Leave only each chosen token possible in its row (``(row, token)`` pairs), in place."""
    if not chosen:
        return logits
    index, tokens = to_device([[i for i, _ in chosen], [t for _, t in chosen]], torch.long, logits.device)
    logits.index_fill_(0, index, float("-inf"))
    logits.index_put_((index, tokens), logits.new_zeros(()))  # made on the device: no host copy
    return logits
