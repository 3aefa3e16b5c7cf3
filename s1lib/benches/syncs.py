"""Counting the calls that would make the host wait for a GPU, on any device (the CPU included).

On a GPU, reading a tensor's values on the host (``.tolist()``, ``.item()``, ``.cpu()``, ``.numpy()``, ``int(t)``,
``bool(t)``...) waits for every kernel queued before it: inside vLLM's sampler that is the forward pass, so each
such call in a logits processor undoes async scheduling's overlap. So does a copy from pageable host memory to the
device (``torch.tensor(list, device=...)``, ``t.to(device)`` without pinned memory and ``non_blocking``). The
processor bench counts them with :func:`count_syncs` on CPU tensors, where nothing blocks, to say what would on a
GPU; a test asserts the count.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

_READS = ("tolist", "item", "cpu", "numpy", "__int__", "__float__", "__bool__", "__index__")


class SyncCounter:
    """What :func:`count_syncs` saw: ``count`` in all and ``kinds`` by call (``tolist``, ``h2d tensor``...)."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self._depth = threading.local()

    @property
    def count(self) -> int:
        return sum(self.kinds.values())

    def wrap(
        self, kind: str, call: Callable[..., Any], blocks: Callable[..., bool] | None = None
    ) -> Callable[..., Any]:
        """``call``, counting a sync when ``blocks(*args, **kwargs)`` says so (always, by default); a call made
        from inside another counted one (``int(t)`` calling ``t.item()``) is not counted again."""

        def counted(*args: Any, **kwargs: Any) -> Any:
            depth = getattr(self._depth, "value", 0)
            if depth == 0 and (blocks is None or blocks(*args, **kwargs)):
                self.kinds[kind] += 1
            self._depth.value = depth + 1
            try:
                return call(*args, **kwargs)
            finally:
                self._depth.value = depth

        return counted


def _pageable_tensor(data: Any, *args: Any, **kwargs: Any) -> bool:
    """``torch.tensor(host data, device=...)``: a pageable copy wherever the device is a GPU (counted on the CPU
    too, where it stands for the same code on a GPU)."""
    return kwargs.get("device") is not None and not isinstance(data, torch.Tensor)


def _blocking_move(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> bool:
    """``t.to(...)`` to another device, unless it is a pinned host tensor copied with ``non_blocking``."""
    target = kwargs.get("device")
    for arg in args:
        if isinstance(arg, (str, torch.device)):
            target = arg
        elif isinstance(arg, torch.Tensor):
            target = arg.device
    if target is None or torch.device(target).type == tensor.device.type:
        return False
    return not (kwargs.get("non_blocking") and tensor.device.type == "cpu" and tensor.is_pinned())


@contextmanager
def count_syncs() -> Iterator[SyncCounter]:
    """Count, while inside, the calls that block on a GPU (see the module's docstring). Not thread-safe against
    other code patching ``torch.Tensor``; meant for a bench or a test around one processor call."""
    counter = SyncCounter()
    saved: dict[str, Any] = {name: getattr(torch.Tensor, name) for name in (*_READS, "to")}
    inherited = {name for name in saved if name not in vars(torch.Tensor)}  # restored by deleting the override
    saved_tensor = torch.tensor
    try:
        for name in _READS:
            setattr(torch.Tensor, name, counter.wrap(name.strip("_"), saved[name]))
        torch.Tensor.to = counter.wrap("to device", saved["to"], _blocking_move)  # type: ignore[method-assign]
        torch.tensor = counter.wrap("h2d tensor", saved_tensor, _pageable_tensor)  # type: ignore[assignment]
        yield counter
    finally:
        for name, value in saved.items():
            if name in inherited:
                delattr(torch.Tensor, name)
            else:
                setattr(torch.Tensor, name, value)
        torch.tensor = saved_tensor  # type: ignore[assignment]
