"""An adaptive stop's probes on the transformers backend, branched off the sequence's own KV cache: at a step where
rows reach a probe point, :class:`CacheProbes` copies those rows' cache entries (:func:`branch_cache`) and decodes
all their probes together, greedy, on the copy (the sequence's own cache is never touched). Each row's previous
probe answer drafts its next probe, verified in the probe's first forward pass."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch

from s1lib.forcing.adaptive import ProbeOutput, ProbeRequest
from s1lib.forcing.engine import (
    Processor,
)


def branch_cache(cache: Any, rows: torch.Tensor) -> Any:
    """A copy of ``cache`` holding only ``rows`` (new tensors: decoding on the copy leaves the original as is)."""
    from transformers.cache_utils import DynamicLayer

    if not all(isinstance(layer, DynamicLayer) for layer in cache.layers):
        raise NotImplementedError(f"probes branch a DynamicCache of full or sliding attention, not {cache!r}")
    branch = copy.copy(cache)
    branch.layers = []
    for layer in cache.layers:
        twin = copy.copy(layer)
        twin.batch_select_indices(rows)  # DynamicLayer re-indexes (a new tensor), never writes in place
        branch.layers.append(twin)
    return branch


class CacheProbes:
    """Answers "probe these rows now" for a batch inside ``generate``: one batched branch off the shared cache.

    ``cache`` is the ``DynamicCache`` handed to ``generate``; when the processor runs it holds every position of
    ``input_ids``. ``pads`` are the rows' left-padding lengths (masked, as in ``generate``, whose positions are the
    mask's cumulative sum). ``extra_processors`` shape the probes' logits too, so a steered test model is the same
    model in its probes.

    With ``drafts``, a row's previous probe answer is a draft of its next one (a rule stops exactly when probes
    repeat, so they mostly do): the prefix and the draft go through the model in one forward pass, and the greedy
    choices at each position keep the draft up to its first difference, as greedy speculative decoding does. The
    probe's tokens are the greedy ones either way; a draft only saves the forward passes it got right. Positions
    past the first difference stay in the branch's cache, masked out. ``stats`` (when given) counts
    ``forwards``, ``drafted`` and ``accepted`` draft tokens."""

    def __init__(
        self,
        model: Any,
        cache: Any,
        pads: Sequence[int],
        eos: frozenset[int],
        extra_processors: Sequence[Processor],
        drafts: bool = True,
        stats: dict[str, int] | None = None,
    ):
        self.model = model
        self.cache = cache
        self.pads = torch.tensor(list(pads), dtype=torch.long)
        self.eos = eos
        self.extra_processors = list(extra_processors)
        self.use_drafts = drafts
        self.drafts: dict[int, tuple[int, ...]] = {}
        self.stats = stats if stats is not None else {}

    def _count(self, key: str, value: int) -> None:
        self.stats[key] = self.stats.get(key, 0) + value

    def __call__(self, input_ids: torch.Tensor, requests: Sequence[tuple[int, ProbeRequest]]) -> list[ProbeOutput]:
        prefixes = {(r.prefix_ids, r.max_tokens) for _, r in requests}
        if len(prefixes) != 1:
            raise ValueError("the probes of one batch share one prefix and token limit (one compiled policy)")
        ((prefix, max_tokens),) = prefixes
        length = input_ids.shape[1]
        if self.cache.get_seq_length() != length:
            raise RuntimeError(f"the cache holds {self.cache.get_seq_length()} positions, the sequence {length}")
        device = input_ids.device
        rows = torch.tensor([row for row, _ in requests], dtype=torch.long, device=device)
        drafts = [self.drafts.get(row, ())[:max_tokens] if self.use_drafts else () for row, _ in requests]
        branch = branch_cache(self.cache, rows)
        mask = (torch.arange(length)[None, :] >= self.pads[rows.cpu()][:, None]).long().to(device)
        context = input_ids[rows]
        # The first pass: the prefix and each row's draft, right-padded (masked) to the longest draft.
        width = max(len(d) for d in drafts)
        step = torch.tensor(
            [[*prefix, *d, *[prefix[-1]] * (width - len(d))] for d in drafts], dtype=torch.long, device=device
        )
        step_mask = torch.tensor(
            [[1] * (len(prefix) + len(d)) + [0] * (width - len(d)) for d in drafts], dtype=torch.long, device=device
        )
        ids: list[list[int]] = [[] for _ in requests]
        probs: list[list[float]] = [[] for _ in requests]
        live = [True] * len(requests)
        nexts = [0] * len(requests)
        first = True
        while True:
            mask = torch.cat([mask, step_mask], dim=1)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, -step.shape[1] :]
            keep = width + 1 if first else 1
            out = self.model(
                input_ids=step,
                attention_mask=mask,
                position_ids=positions,
                past_key_values=branch,
                use_cache=True,
                logits_to_keep=keep,
            )
            self._count("forwards", 1)
            context = torch.cat([context, step], dim=1)
            # choices[j]: the greedy token and its probability after the j-th kept position, for every row.
            choices = []
            for j in range(keep):
                logits = out.logits[:, j].float()
                seen = context[:, : context.shape[1] - keep + 1 + j]
                for processor in self.extra_processors:
                    logits = processor(seen, logits)
                choice = logits.argmax(dim=-1)
                chosen = torch.softmax(logits, dim=-1).gather(1, choice[:, None])[:, 0]
                choices.append((choice.tolist(), chosen.tolist()))
            for i in range(len(requests)):
                if not live[i]:
                    continue
                draft = drafts[i] if first else ()
                j = 0  # draft tokens the greedy choices confirmed so far
                while True:
                    token, prob = choices[j][0][i], choices[j][1][i]
                    nexts[i] = token
                    if token in self.eos:
                        live[i] = False
                        break
                    ids[i].append(token)
                    probs[i].append(prob)
                    held = j < len(draft) and token == draft[j]
                    j += held
                    complete = requests[i][1].complete
                    if len(ids[i]) >= max_tokens or (complete is not None and complete(ids[i])):
                        live[i] = False
                        break
                    if not held:
                        break
                if first:
                    self._count("drafted", len(draft))
                    self._count("accepted", j)
                    # The draft past its first difference (and the padding) is no longer part of this row.
                    mask[i, mask.shape[1] - step.shape[1] + len(prefix) + j :] = 0
            first = False
            if not any(live):
                break
            step = torch.tensor(nexts, dtype=torch.long, device=device)[:, None]
            step_mask = torch.ones_like(step)
        for (row, _), answer in zip(requests, ids):
            self.drafts[row] = tuple(answer)
        return [ProbeOutput(tuple(i), tuple(p)) for i, p in zip(ids, probs)]
