"""Concurrent requests: endpoint calls (judge grades, LLM domain labels, API attempts) wait on the network, not the
CPU, so a few threads in flight turn hours of serial round trips into minutes. Results keep the input order, so a
run's outputs and cache lines do not depend on which reply came back first."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def thread_map(fn: Callable[[T], R], items: Sequence[T], workers: int = 8) -> list[R]:
    """``[fn(x) for x in items]`` with up to ``workers`` calls in flight; the first exception is raised, as a loop
    would (``fn`` should catch what it wants to keep)."""
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(min(workers, len(items)), thread_name_prefix="s1-request") as pool:
        return list(pool.map(fn, items))
