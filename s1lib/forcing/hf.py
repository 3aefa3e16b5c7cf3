"""The transformers backend: budget forcing inside ONE ``generate`` call per batch.

A logits processor drives one :class:`ForcingState` per row. It picks the model's choice itself (argmax, or a
seeded sample after temperature/top-k/top-p), lets the state machine keep or override it, and then masks every
other logit, so ``generate`` (run greedy) emits exactly that token. Forced tokens therefore go through the same
KV cache as ordinary ones: no re-prefill after a "Wait", unlike the reference's multi-call loop.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from s1lib.forcing.engine import EngineBase
from s1lib.forcing.policy import BudgetPolicy, CompiledPolicy, ForcingState, Step
from s1lib.forcing.trace import Event, IncrementalDetokenizer, SamplingConfig, Trace

StepCallback = Callable[[int, Step, ForcingState], None]


def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), getattr(model, "config", None)):
        value = getattr(source, "eos_token_id", None) if source is not None else None
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return sorted(ids)


class _Chooser:
    """The model's choice for one row: greedy argmax or a seeded sample, optionally excluding banned ids."""

    def __init__(self, sampling: SamplingConfig, generator: torch.Generator | None):
        self.sampling = sampling
        self.generator = generator

    def __call__(self, logits: torch.Tensor, banned: frozenset[int], greedy_choice: int | None) -> int:
        if not banned and greedy_choice is not None:
            return greedy_choice
        row = logits.clone()
        if banned:
            row[list(banned)] = float("-inf")
        if self.sampling.greedy:
            return int(row.argmax())
        row = row / self.sampling.temperature
        if self.sampling.top_k:
            kth = torch.topk(row, min(self.sampling.top_k, row.numel())).values[-1]
            row[row < kth] = float("-inf")
        probs = torch.softmax(row, dim=-1)
        if self.sampling.top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < self.sampling.top_p
            mask = torch.zeros_like(probs, dtype=torch.bool)
            mask[order[keep]] = True
            probs = torch.where(mask, probs, torch.zeros_like(probs))
            probs = probs / probs.sum()
        return int(torch.multinomial(probs, 1, generator=self.generator))


class ForcingLogitsProcessor:
    """Drives one ForcingState per row from inside ``generate``."""

    def __init__(
        self,
        states: Sequence[ForcingState],
        prompt_length: int,
        sampling: SamplingConfig,
        seeds: Sequence[int],
        extra_processors: Sequence[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = (),
        on_step: StepCallback | None = None,
        stop_event: threading.Event | None = None,
    ):
        self.states = list(states)
        self.prompt_length = prompt_length
        self.sampling = sampling
        self.extra_processors = list(extra_processors)
        self.on_step = on_step
        self.stop_event = stop_event
        generators = [None] * len(self.states)
        if not sampling.greedy:
            generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        self.choosers = [_Chooser(sampling, g) for g in generators]

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        for processor in self.extra_processors:
            scores = processor(input_ids, scores)
        scores = scores.float()
        greedy = scores.argmax(dim=-1).tolist() if self.sampling.greedy else [None] * len(self.states)
        stopping = self.stop_event is not None and self.stop_event.is_set()
        chosen: list[int] = []
        for row, state in enumerate(self.states):
            if stopping:
                state.stop("stopped")
            if state.done:
                chosen.append(min(state.compiled.eos_token_ids))
                continue
            row_scores, row_greedy, chooser = scores[row], greedy[row], self.choosers[row]
            step = state.next_token(lambda banned, s=row_scores, g=row_greedy, c=chooser: c(s, banned, g))
            if row_greedy is not None:
                state.model_choices.append(row_greedy)  # lets a sweep replay this row for other policies
            chosen.append(step.token_id)
            if self.on_step is not None:
                self.on_step(row, step, state)
        forced = torch.full_like(scores, float("-inf"))
        forced[torch.arange(len(chosen)), torch.tensor(chosen)] = 0.0
        return forced


class _StopWhenRequested:
    """Stops ``generate`` for every row once the stop event is set (the widget's Stop button)."""

    def __init__(self, stop_event: threading.Event):
        self.stop_event = stop_event

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        flag = self.stop_event.is_set()
        return torch.full((input_ids.shape[0],), flag, dtype=torch.bool, device=input_ids.device)


class HFEngine(EngineBase):
    """Budget-forced generation with a transformers causal LM."""

    backend = "transformers"

    def __init__(self, model: Any, tokenizer: Any, precision: dict[str, Any] | None = None):
        self.model = model
        self.tokenizer = tokenizer
        dtype = str(getattr(model, "dtype", "unknown")).removeprefix("torch.")
        self.precision = {"dtype": dtype, "device": str(getattr(model, "device", "cpu")), **(precision or {})}
        self.eos_token_ids = _eos_ids(model, tokenizer)
        self.context_length = int(getattr(model.config, "max_position_embeddings", 0) or 0) or None
        self._stop_event: threading.Event | None = None

    @classmethod
    def from_name(cls, name: str = "default", dtype: Any = "auto", device: str = "cpu", **kwargs: Any) -> HFEngine:
        """Load a model (see :func:`s1lib.models.load_model`); ``dtype="auto"`` is this device's fastest precision."""
        from s1lib.format import load_prompt_format
        from s1lib.models import load_model, resolve_model
        from s1lib.precision import resolve_precision

        model, tokenizer = load_model(name, dtype=dtype, device=device, **kwargs)
        resolution = resolve_precision(dtype, device) if isinstance(dtype, str) else None
        engine = cls(model, tokenizer, resolution.to_dict() if resolution else None)
        engine.default_system = load_prompt_format(resolve_model(name).path).get("system")
        return engine

    # -- generation ------------------------------------------------------------------------------------------
    def generate(
        self,
        prompts: Sequence[str | Sequence[int]],
        policy: BudgetPolicy | None = None,
        sampling: SamplingConfig | None = None,
        batch_size: int = 8,
        on_step: StepCallback | None = None,
        extra_processors: Sequence[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = (),
        progress: bool = False,
        seeds: Sequence[int] | None = None,
    ) -> list[Trace]:
        """Generate one Trace per prompt (strings are tokenized as is: build them with :meth:`prompt_for`).

        ``seeds`` (one per prompt) overrides the sampling seed of each row (default ``sampling.seed + index``), so
        repeated prompts can be sampled with distinct, reproducible seeds whatever the batch holds.
        """
        policy, sampling, row_seeds, encoded, compiled = self.prepare(prompts, policy, sampling, batch_size, seeds)
        # Longest first keeps padding low; results go back in the caller's order.
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        traces: list[Trace | None] = [None] * len(encoded)
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        iterator: Any = batches
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(batches, desc="generate", unit="batch")
        for batch in iterator:

            def batch_on_step(row: int, step: Step, state: ForcingState, batch: list[int] = batch) -> None:
                if on_step is not None:
                    on_step(batch[row], step, state)

            batch_traces = self._generate_batch(
                [encoded[i] for i in batch],
                compiled,
                sampling,
                [row_seeds[i] for i in batch],
                batch_on_step,
                extra_processors,
                None,
            )
            for index, trace in zip(batch, batch_traces):
                trace.prompt = prompts[index] if isinstance(prompts[index], str) else None
                traces[index] = trace
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

    def _generate_batch(
        self,
        batch_ids: list[list[int]],
        compiled: CompiledPolicy,
        sampling: SamplingConfig,
        seeds: list[int],
        on_step: StepCallback | None,
        extra_processors: Sequence[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]],
        stop_event: threading.Event | None,
    ) -> list[Trace]:
        from transformers import LogitsProcessorList, StoppingCriteriaList

        longest = max(len(ids) for ids in batch_ids)
        pad_id = self.eos_token_ids[0] if self.tokenizer.pad_token_id is None else int(self.tokenizer.pad_token_id)
        device = self.model.device
        input_ids = torch.full((len(batch_ids), longest), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch_ids), longest), dtype=torch.long)
        for row, ids in enumerate(batch_ids):  # left padding
            input_ids[row, longest - len(ids) :] = torch.tensor(ids)
            attention_mask[row, longest - len(ids) :] = 1
        states = [ForcingState(compiled) for _ in batch_ids]
        processor = ForcingLogitsProcessor(states, longest, sampling, seeds, extra_processors, on_step, stop_event)
        criteria = StoppingCriteriaList([_StopWhenRequested(stop_event)]) if stop_event is not None else None
        max_new = self._max_new_tokens(compiled, longest)
        with torch.inference_mode():
            self.model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention_mask.to(device),
                logits_processor=LogitsProcessorList([processor]),
                stopping_criteria=criteria,
                do_sample=False,
                max_new_tokens=max_new,
                eos_token_id=self.eos_token_ids,
                pad_token_id=pad_id,
                temperature=None,
                top_p=None,
                top_k=None,
            )
        traces = []
        for state, ids in zip(states, batch_ids):
            if not state.done:
                state.stop("stopped" if stop_event is not None and stop_event.is_set() else "length")
            traces.append(Trace.from_state(state, self.tokenizer, ids))
        return traces

    # -- streaming -------------------------------------------------------------------------------------------
    def stream(
        self,
        prompt: str | Sequence[int],
        policy: BudgetPolicy | None = None,
        sampling: SamplingConfig | None = None,
    ) -> Iterator[Event]:
        """Yield ``token``/``forced``/``phase`` events as one prompt generates, then ``done`` with its Trace.

        Generation runs in a background thread; :meth:`stop` (or closing the iterator) ends it within a token.
        """
        policy = policy or BudgetPolicy()
        sampling = sampling or SamplingConfig()
        ids = self.encode_prompts([prompt])[0]
        compiled = self.compile(policy)
        if self.context_length:
            policy.validate(self.context_length, len(ids))
        events: queue.Queue[Event | BaseException | None] = queue.Queue()
        stop_event = threading.Event()
        self._stop_event = stop_event
        detok = IncrementalDetokenizer(self.tokenizer)

        def on_step(row: int, step: Step, state: ForcingState) -> None:
            text = detok.push(step.token_id) if not (state.done and step.token_id in compiled.eos_token_ids) else ""
            kind = "forced" if step.forced else "token"
            events.put(
                Event(
                    kind,
                    row,
                    text,
                    step.token_id,
                    step.phase.value,
                    step.insertion,
                    state.thinking_tokens,
                    state.answer_tokens,
                )
            )
            if step.phase_changed:
                events.put(
                    Event("phase", row, "", None, step.phase.value, None, state.thinking_tokens, state.answer_tokens)
                )

        def worker() -> None:
            try:
                trace = self._generate_batch([ids], compiled, sampling, [sampling.seed], on_step, (), stop_event)[0]
                trace.prompt = prompt if isinstance(prompt, str) else None
                events.put(Event("done", 0, "", None, "done", None, trace.thinking_tokens, trace.answer_tokens, trace))
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
