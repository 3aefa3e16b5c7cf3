"""The model's choice for a row (:class:`Chooser`), and the same choice for many rows in one batched draw
(:func:`draw_rows`).

Every backend samples through this, so a seed gives the same tokens on each. A seeded row must draw the same tokens
whatever else its batch holds, and the vLLM processor must sample a whole batch in a few kernels with one transfer
to the host, not ~20 kernels and two syncs a row. Both follow from a Gumbel-max draw whose noise is a counter-based
hash of ``(seed, draw counter, token id)`` computed in integer arithmetic on the device (:func:`gumbel_noise`): no
torch generator, so a draw does not depend on the device's generator (CPU and CUDA draw the same noise), on the
order rows are drawn in, or on the batch; rolling a discarded decision back is setting the counter back.

The filtering (temperature, top-k, min-p, top-p) runs on the stacked rows with per-row settings; each step applies
to a row only where its own settings ask for it (``torch.where``), so a row's result is computed by the same
operations alone or in any batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from s1lib.forcing.trace import SamplingConfig

_MASK64 = (1 << 64) - 1


def _splitmix64(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def draw_key(seed: int, counter: int) -> int:
    """The 32-bit key of draw ``counter`` of the row seeded ``seed``: a pure function of both."""
    return _splitmix64(_splitmix64(seed & _MASK64) ^ (counter & _MASK64)) >> 32


def to_device(values: Any, dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
    """A host list as a tensor on ``device``. On CUDA it is staged in pinned memory and copied without blocking (a
    pageable copy waits for the queued work, the forward pass included); on the CPU it is the tensor itself."""
    host = torch.tensor(values, dtype=dtype)
    if torch.device(device).type == "cpu":
        return host
    return host.pin_memory().to(device, non_blocking=True)


_LOW32 = 0xFFFFFFFF


def gumbel_noise(keys: torch.Tensor, vocab: int) -> torch.Tensor:
    """``[rows, vocab]`` Gumbel noise, row ``r``'s a function of ``keys[r]`` (int64 below 2**32) and the token id
    only: a 32-bit integer hash (two xor-shift-multiply rounds; multipliers below 2**31, so int64 products never
    overflow), 24 bits of it as a uniform in (0, 1), then ``-log(-log u)``. Integer arithmetic: the same numbers
    on every device. In place where it can be: the tensors are ``rows x vocab``."""
    h = _token_hashes(vocab, keys.device)[None, :] ^ keys[:, None]
    for shift, multiplier in ((16, 0x7FEB352D), (15, 0x2C1B3C6D)):
        h ^= h >> shift
        h *= multiplier
        h &= _LOW32
    h ^= h >> 16
    u = (h >> 8).float().add_(0.5).mul_(2.0**-24)
    return u.log_().neg_().log_().neg_()


_TOKEN_HASHES: dict[tuple[int, str], torch.Tensor] = {}


def _token_hashes(vocab: int, device: torch.device) -> torch.Tensor:
    """Each token id spread over 32 bits (made once per vocabulary and device)."""
    key = (vocab, str(device))
    if key not in _TOKEN_HASHES:
        _TOKEN_HASHES[key] = (torch.arange(vocab, dtype=torch.int64, device=device) * 0x9E3779B1) & _LOW32
    return _TOKEN_HASHES[key]


Params = tuple[float, int, float, float, int]
"""One draw's settings: ``(temperature, top_k, min_p, top_p, key)``."""


def draw(scores: torch.Tensor, params: Sequence[Params]) -> torch.Tensor:
    """One token per row of ``scores`` (``[rows, vocab]``), on its device, without a host sync. Order: temperature
    (0: the argmax), top-k, softmax, min-p, top-p; then the Gumbel-max draw over the tokens kept (the argmax of the
    scaled logits plus the row's noise): a sample of the kept tokens' renormalized softmax. Unlike an inverse CDF
    (one uniform against a running sum over 49k tokens), its outcome does not move with the last bits of the
    logits, which batching changes."""
    vocab = scores.shape[1]
    settings = to_device([list(p[:4]) for p in params], torch.float64, scores.device)
    temperature, top_k, min_p, top_p = settings.unbind(1)
    x = scores.float()
    argmax = x.argmax(dim=-1)
    if all(p[0] <= 0 for p in params):
        return argmax
    x = x / torch.where(temperature > 0, temperature, 1.0).float()[:, None]
    if any(p[1] > 0 for p in params):
        kmax = min(max(int(p[1]) for p in params), vocab)
        kth = torch.topk(x, kmax, dim=-1).values.gather(1, (top_k.clamp(1, kmax) - 1).long()[:, None])
        x = torch.where((top_k > 0)[:, None] & (x < kth), float("-inf"), x)
    if any(p[2] > 0 or p[3] < 1.0 for p in params):
        probs = torch.softmax(x, dim=-1)
        keep = torch.ones_like(probs, dtype=torch.bool)
        if any(p[2] > 0 for p in params):
            keep = ~(min_p > 0)[:, None] | (probs >= min_p.float()[:, None] * probs.amax(dim=-1, keepdim=True))
            cut = torch.where(keep, probs, 0.0)
            probs = torch.where((min_p > 0)[:, None], cut / cut.sum(dim=-1, keepdim=True), probs)
        if any(p[3] < 1.0 for p in params):
            ordered, order = torch.sort(probs, dim=-1, descending=True, stable=True)
            kept = (torch.cumsum(ordered, dim=-1) - ordered) < top_p.float()[:, None]
            keep &= ~(top_p < 1.0)[:, None] | torch.zeros_like(kept).scatter_(1, order, kept)
        x = torch.where(keep, x, float("-inf"))
    keys = to_device([int(p[4]) for p in params], torch.int64, scores.device)
    sampled = (x + gumbel_noise(keys, vocab)).argmax(dim=-1)
    return torch.where(temperature > 0, sampled, argmax)


class Chooser:
    """The model's choice for one row: greedy argmax or a seeded sample (temperature, top-k, min-p, top-p),
    optionally excluding banned ids.

    A sampled row counts its draws; draw ``n`` uses the noise of :func:`draw_key` ``(seed, n)``. A row without a seed
    takes one from torch's global generator when it is made (so ``torch.manual_seed`` still reproduces it). A
    batch of rows is drawn at once by :func:`draw_rows`; each row is then :meth:`offer` ed its draw, which its
    next unbanned call at that counter returns (the same token it would draw alone).
    """

    def __init__(self, sampling: SamplingConfig, seed: int | None = None):
        self.sampling = sampling
        if sampling.greedy:
            self.seed: int | None = None
        else:
            self.seed = int(seed) if seed is not None else int(torch.randint(0, 2**62, ()).item())
        self.draws = 0
        self.offered: tuple[int, bool, int] | None = None  # (counter, thinking, token) of a batched draw

    def get_state(self) -> int:
        """The draw counter, for rolling a discarded decision back."""
        return self.draws

    def set_state(self, state: int | None) -> None:
        self.draws = 0 if state is None else int(state)
        self.offered = None

    def params(self, thinking: bool) -> Params:
        """This row's next draw's settings, in :func:`draw`'s form."""
        s = self.sampling
        key = draw_key(self.seed, self.draws) if self.seed is not None else 0
        return (s.temperature_for(thinking), int(s.top_k), float(s.min_p), float(s.top_p), key)

    def offer(self, token: int, thinking: bool) -> None:
        """The token :func:`draw_rows` drew for this row's next unbanned call (with ``thinking``)."""
        self.offered = (self.draws, thinking, int(token))

    def withdraw(self) -> None:
        """Forget an unused offer (the step is over: the logits it was drawn from are gone)."""
        self.offered = None

    def __call__(
        self, logits: torch.Tensor, banned: frozenset[int], greedy_choice: int | None, thinking: bool = False
    ) -> int:
        """The row's next token; ``thinking`` says which phase it is in (``temperature_thinking`` applies there)."""
        if not banned and greedy_choice is not None:
            return greedy_choice
        sampled = self.sampling.temperature_for(thinking) > 0
        offered, self.offered = self.offered, None
        if not banned and offered is not None and offered[:2] == (self.draws, thinking):
            token = offered[2]
        else:
            row = logits.clone()
            if banned:
                row[list(banned)] = float("-inf")
            token = int(row.argmax()) if not sampled else int(draw(row[None], [self.params(thinking)])[0])
        self.draws += sampled
        return token


def draw_rows(choosers: Sequence[Chooser], scores: torch.Tensor, thinking: Sequence[bool]) -> torch.Tensor:
    """Each chooser's next unbanned draw from its row of ``scores``, as one batched :func:`draw` (a device
    tensor: the caller brings it to the host with whatever else it needs, then :meth:`Chooser.offer` s it)."""
    return draw(scores, [c.params(t) for c, t in zip(choosers, thinking)])
