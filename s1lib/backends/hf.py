"""The transformers backend: budget forcing inside ONE ``generate`` call per batch.

A logits processor drives one :class:`ForcingState` per row. It picks the model's choice itself (argmax, or a
seeded sample after temperature/top-k/top-p), lets the state machine keep or override it, and then masks every
other logit, so ``generate`` (run greedy) emits exactly that token. Forced tokens therefore go through the same
KV cache as ordinary ones: no re-prefill after a "Wait", unlike the reference's multi-call loop.

An adaptive stop's probes branch off that same cache: ``generate`` gets a ``DynamicCache`` the processor holds,
which :class:`~s1lib.backends.hf_probes.CacheProbes` copies for the rows that probe.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from s1lib.backends.hf_probes import CacheProbes
from s1lib.forcing.adaptive import Probe
from s1lib.forcing.engine import (
    Chooser,
    EngineBase,
    Processor,
    Request,
    decide,
    done_event,
    eos_token_ids,
    probe_event,
    probe_points,
    step_events,
)
from s1lib.forcing.policy import CompiledPolicy
from s1lib.forcing.sampling import draw_rows
from s1lib.forcing.state import ForcingState, Phase, Step
from s1lib.forcing.trace import Event, IncrementalDetokenizer, SamplingConfig, Trace
from s1lib.progress import beat

StepCallback = Callable[[int, Step, ForcingState], None]
ProbeCallback = Callable[[int, Probe, ForcingState], None]


class HFForcingProcessor:
    """Drives one ForcingState per row from inside transformers' ``generate`` (vLLM's processor, the one users name
    in ``vllm serve --logits-processors``, is ``s1lib.backends.vllm_processor:ForcingLogitsProcessor``)."""

    def __init__(
        self,
        states: Sequence[ForcingState],
        prompt_length: int,
        sampling: SamplingConfig,
        seeds: Sequence[int],
        extra_processors: Sequence[Processor] = (),
        on_step: StepCallback | None = None,
        stop_event: threading.Event | None = None,
        probes: CacheProbes | None = None,
        on_probe: ProbeCallback | None = None,
    ):
        self.probes = probes
        self.on_probe = on_probe
        self.states = list(states)
        self.prompt_length = prompt_length
        self.sampling = sampling
        self.extra_processors = list(extra_processors)
        self.on_step = on_step
        self.stop_event = stop_event
        self.choosers = [Chooser(sampling, seed) for seed in seeds]

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        for processor in self.extra_processors:
            scores = processor(input_ids, scores)
        scores = scores.float()
        greedy = scores.argmax(dim=-1).tolist() if self.sampling.greedy else [None] * len(self.states)
        if not self.sampling.greedy:
            self._offer_draws(scores)
        stopping = self.stop_event is not None and self.stop_event.is_set()
        if self.probes is not None and not stopping:
            self._probe(input_ids, scores, greedy)
        chosen: list[int] = []
        for row, state in enumerate(self.states):
            if stopping:
                state.stop("stopped")
            step = decide(state, self.choosers[row], scores[row], greedy[row])
            if step is None:
                chosen.append(min(state.compiled.eos_token_ids))
                continue
            chosen.append(step.token_id)
            if self.on_step is not None:
                self.on_step(row, step, state)
        for chooser in self.choosers:
            chooser.withdraw()
        beat(len(chosen))  # a heartbeat line for the active progress, when it has been quiet a while
        forced = torch.full_like(scores, float("-inf"))
        forced[torch.arange(len(chosen)), torch.tensor(chosen)] = 0.0
        return forced

    def _offer_draws(self, scores: torch.Tensor) -> None:
        """Every unfinished row's next draw, as one batched draw and one transfer (the vLLM processor draws so too;
        a row drawn alone gets the same token): each row's chooser returns it when the row asks."""
        live = [r for r, state in enumerate(self.states) if not state.done]
        thinking = [self.states[r].phase is Phase.THINKING for r in live]
        own = scores if len(live) == len(self.states) else scores[live]
        drawn = draw_rows([self.choosers[r] for r in live], own, thinking).tolist() if live else []
        for r, token, phase in zip(live, drawn, thinking):
            self.choosers[r].offer(token, phase)

    def _probe(self, input_ids: torch.Tensor, scores: torch.Tensor, greedy: list[int | None]) -> None:
        """Probe every row at a probe point, as one batch, and feed the results back before the rows decide."""
        assert self.probes is not None
        points = probe_points(self.states, self.choosers, scores, greedy)
        if not points:
            return
        for (row, request), output in zip(points, self.probes(input_ids, points)):
            probe = self.states[row].record_probe(request, output)
            if self.on_probe is not None:
                self.on_probe(row, probe, self.states[row])


class _StopWhenRequested:
    """Stops ``generate`` for every row once the stop event is set (the widget's Stop button)."""

    def __init__(self, stop_event: threading.Event):
        self.stop_event = stop_event

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        flag = self.stop_event.is_set()
        return torch.full((input_ids.shape[0],), flag, dtype=torch.bool, device=input_ids.device)


def left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``input_ids`` and ``attention_mask`` of rows padded on the left (decoder-only generation continues the
    right end of every row)."""
    longest = max(len(r) for r in rows)
    ids = torch.full((len(rows), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), longest), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, longest - len(row) :] = torch.tensor(list(row), dtype=torch.long)
        mask[i, longest - len(row) :] = 1
    return ids, mask


class HFEngine(EngineBase):
    """Budget-forced generation with a transformers causal LM."""

    backend = "transformers"
    runs_probes = True
    shares_prefixes = True  # the sweep's shared decode drives this engine's model (s1lib.backends.prefix_sharing)

    def __init__(self, model: Any, tokenizer: Any, precision: dict[str, Any] | None = None):
        self.model = model
        self.tokenizer = tokenizer
        dtype = str(getattr(model, "dtype", "unknown")).removeprefix("torch.")
        self.precision = {"dtype": dtype, "device": str(getattr(model, "device", "cpu")), **(precision or {})}
        self.eos_token_ids = eos_token_ids(
            tokenizer, getattr(model, "generation_config", None), getattr(model, "config", None)
        )
        self.context_length = int(getattr(model.config, "max_position_embeddings", 0) or 0) or None
        self._stop_event: threading.Event | None = None
        self.probe_drafts = True
        """Each row's previous probe answer drafts its next probe (see :class:`CacheProbes`); the probes' tokens are
        the same either way, so this only changes their cost (``s1 bench adaptive`` times both)."""
        self.probe_stats: dict[str, int] = {}
        """Running counts of the probes' forward passes and of drafted and accepted draft tokens."""

    @classmethod
    def from_name(cls, name: str = "default", dtype: Any = "auto", device: str = "auto", **kwargs: Any) -> HFEngine:
        """Load a model (see :func:`s1lib.models.load_model`); ``device="auto"`` is CUDA where torch sees a GPU, else
        the CPU (:func:`s1lib.device.resolve_device`), and ``dtype="auto"`` that device's fastest precision. The
        engine's ``precision`` records the device resolved, as every result that stores it does."""
        from s1lib.device import resolve_device
        from s1lib.models import load_model, resolve_model
        from s1lib.precision import resolve_precision
        from s1lib.text_format import load_prompt_format

        device = resolve_device(device)
        model, tokenizer = load_model(name, dtype=dtype, device=device, **kwargs)
        resolution = resolve_precision(dtype, device) if isinstance(dtype, str) else None
        engine = cls(model, tokenizer, {**resolution.to_dict(), "device": device} if resolution else None)
        engine.default_system = load_prompt_format(resolve_model(name).path).get("system")
        return engine

    # -- generation ------------------------------------------------------------------------------------------
    def _generate(
        self, request: Request, batch_size: int, extra_processors: list[Processor], progress: bool
    ) -> list[Trace]:
        encoded = request.prompt_ids
        # Longest first keeps padding low; results go back in the caller's order.
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        traces: list[Trace | None] = [None] * len(encoded)
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        iterator: Any = batches
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(batches, desc="generate", unit="batch")
        for batch in iterator:
            states = self._generate_batch(
                [encoded[i] for i in batch],
                request.compiled,
                request.sampling,
                [request.seeds[i] for i in batch],
                None,
                extra_processors,
                None,
            )
            for index, state in zip(batch, states):
                traces[index] = request.trace(index, state, self.tokenizer)
        return [t for t in traces if t is not None]

    def _max_new_tokens(self, compiled: CompiledPolicy, longest_prompt: int) -> int:
        bound = compiled.max_new_tokens()
        room = (self.context_length - longest_prompt) if self.context_length else None
        if bound is None and room is None:
            raise ValueError(
                "The policy is unbounded and the model has no max_position_embeddings: "
                "set max_thinking_tokens and max_answer_tokens"
            )
        if bound is None:
            return room  # type: ignore[return-value]
        return bound if room is None else min(bound, room)

    @property
    def pad_id(self) -> int:
        """The padding id: the tokenizer's, else the first end-of-sequence id (padding is masked out anyway)."""
        return self.eos_token_ids[0] if self.tokenizer.pad_token_id is None else int(self.tokenizer.pad_token_id)

    def greedy_generate(
        self,
        rows: Sequence[Sequence[int]],
        max_new_tokens: int,
        eos_token_id: Sequence[int] | None = None,
        **options: Any,
    ) -> torch.Tensor:
        """One greedy ``model.generate`` over left-padded ``rows`` (the one call every transformers path makes;
        forcing steers it through ``logits_processor``); returns the generated ids after the padded prompts."""
        input_ids, attention_mask = left_pad(rows, self.pad_id)
        device = self.model.device
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention_mask.to(device),
                do_sample=False,
                max_new_tokens=max_new_tokens,
                eos_token_id=list(self.eos_token_ids if eos_token_id is None else eos_token_id),
                pad_token_id=self.pad_id,
                temperature=None,
                top_p=None,
                top_k=None,
                **options,
            )
        return out[:, input_ids.shape[1] :]

    def _generate_batch(
        self,
        batch_ids: list[list[int]],
        compiled: CompiledPolicy,
        sampling: SamplingConfig,
        seeds: list[int],
        on_step: StepCallback | None,
        extra_processors: Sequence[Processor],
        stop_event: threading.Event | None,
        on_probe: ProbeCallback | None = None,
    ) -> list[ForcingState]:
        """One ``generate`` call for a batch; the rows' forcing states, in order."""
        from transformers import DynamicCache, LogitsProcessorList, StoppingCriteriaList

        longest = max(len(ids) for ids in batch_ids)
        states = [ForcingState(compiled) for _ in batch_ids]
        options: dict[str, Any] = {}
        probes = None
        if compiled.policy.adaptive is not None:
            options["past_key_values"] = cache = DynamicCache(config=self.model.config)
            pads = [longest - len(ids) for ids in batch_ids]
            probes = CacheProbes(
                self.model, cache, pads, compiled.eos_token_ids, extra_processors, self.probe_drafts, self.probe_stats
            )
        processor = HFForcingProcessor(
            states, longest, sampling, seeds, extra_processors, on_step, stop_event, probes, on_probe
        )
        criteria = StoppingCriteriaList([_StopWhenRequested(stop_event)]) if stop_event is not None else None
        self.greedy_generate(
            batch_ids,
            self._max_new_tokens(compiled, longest),
            logits_processor=LogitsProcessorList([processor]),
            stopping_criteria=criteria,
            **options,
        )
        return states

    # -- streaming -------------------------------------------------------------------------------------------
    def _stream(self, request: Request) -> Iterator[Event]:
        """Generation runs in a background thread; :meth:`stop` (or closing the iterator) ends it within a token."""
        events: queue.Queue[Event | BaseException | None] = queue.Queue()
        stop_event = threading.Event()
        self._stop_event = stop_event
        detok = IncrementalDetokenizer(self.tokenizer)
        eos = request.compiled.eos_token_ids

        def on_step(row: int, step: Step, state: ForcingState) -> None:
            text = detok.push(step.token_id) if not (state.done and step.token_id in eos) else ""
            for event in step_events(step, text, state.thinking_tokens, state.answer_tokens, row):
                events.put(event)

        def on_probe(row: int, probe: Probe, state: ForcingState) -> None:
            events.put(probe_event(probe, state.thinking_tokens, state.answer_tokens, row))

        def worker() -> None:
            try:
                ids, compiled, sampling = request.prompt_ids[0], request.compiled, request.sampling
                state = self._generate_batch(
                    [ids], compiled, sampling, request.seeds, on_step, (), stop_event, on_probe
                )[0]
                events.put(done_event(request.trace(0, state, self.tokenizer, stopped=stop_event.is_set())))
            except BaseException as exc:  # surfaced to the consumer
                events.put(exc)
            finally:
                events.put(None)

        thread = threading.Thread(target=worker, name="s1-stream", daemon=True)
        thread.start()
        try:
            while True:
                item = events.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop_event.set()
            thread.join()

    def stop(self) -> None:
        """Ask the current stream to stop; generation ends within a token and the engine stays usable."""
        if self._stop_event is not None:
            self._stop_event.set()
