"""The forcing processor's rows: one :class:`ForcingState` per sequence vLLM decodes, found again when vLLM re-fills
a slot, freed when the sequence ends or vLLM drops its request, and the decision of a whole batch of rows
(:func:`force_rows`). Both runners' processor classes (:mod:`s1lib.backends.vllm_processor`) drive these; nothing
here imports vLLM."""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s1lib.backends.vllm_request import (
    EXTRA_KEY,
    SERVED_KEY,
    compiled_from_config,
    restore_state,
    served_policy,
    served_sampling,
    snapshot_state,
    state_to_record,
)
from s1lib.forcing.adaptive import ProbeRequest
from s1lib.forcing.engine import Chooser, decide
from s1lib.forcing.policy import BudgetPolicy
from s1lib.forcing.state import ForcingState, Step
from s1lib.forcing.trace import SamplingConfig

LOG = logging.getLogger("vllm.s1lib.forcing")  # under vLLM's logger, so its handlers show it in vLLM's log

REGISTRY: dict[str, Any] = {}
"""key → live row, filled by processors running in this process; :class:`VLLMEngine` pops its requests' rows."""

LOCAL_PROCESSORS: dict[str, list[Any]] = {}
"""key → a request's ``extra_processors``, set by an engine whose processor runs in its own process (callables
cannot travel to another process)."""

_ALL_ROWS: weakref.WeakSet[LiveRows] = weakref.WeakSet()


def release(keys: list[str]) -> None:
    """Forget these engine requests in every processor of this process (a driver that gives up on them)."""
    for rows in list(_ALL_ROWS):
        for key in keys:
            rows.drop(key)


# -- one sequence's state -----------------------------------------------------------------------------------------
@dataclass
class Row:
    """One sequence's forcing state inside the processor.

    ``output_ids`` is vLLM's own output list of the request (the legacy runner hands it over); the V2 runner hands
    over positions instead, so its processor sets ``emitted_count``.
    """

    key: str
    family: str
    config: dict[str, Any]
    state: ForcingState
    chooser: Chooser
    greedy: bool
    max_tokens: int | None
    prompt_ids: list[int]
    output_ids: list[int] | None
    processors: list[Any] = field(default_factory=list)
    emitted_count: int = 0
    snapshot: dict[str, Any] | None = None
    generator_state: Any = None
    written: bool = field(default=False)
    steps: list[tuple[Step, int, int]] | None = None  # (step, thinking, answer) per position, for streaming
    offset: int = 0  # tokens decided before this vLLM request began (a request resumed after its probes)
    paused: ProbeRequest | None = None  # the probe this row waits for: it ended its request to let the driver run it
    error: str | None = None  # why this sequence was failed; it then emits ``error_ids`` and ends
    error_ids: list[int] = field(default_factory=list)
    params_ref: Any = None  # a weak reference to the params vLLM holds while it holds the request

    def see_prompt(self) -> None:
        """A served request's prompt: one that does not end with the think-start delimiter (a chat turn, whose
        template stops at the assistant header) has the delimiter forced first."""
        start = self.state.compiled.think_start_ids
        if self.state.policy.thinking_phase and not self.state.generated and self.prompt_ids[-len(start) :] != start:
            self.state.open_thinking()

    def emitted(self) -> int:
        return self.offset + (len(self.output_ids) if self.output_ids is not None else self.emitted_count)

    def sequence(self) -> list[int]:
        """Every token vLLM holds for this sequence: its original prompt and what was decided."""
        return self.prompt_ids + self.state.generated

    @property
    def served(self) -> bool:
        return bool(self.config.get("served"))

    @property
    def pauses_for_probes(self) -> bool:
        """An engine request under an adaptive policy: at a probe point it ends (end of sequence, not decided),
        the driver runs the probe as its own request on the prefix, records it and resumes the row."""
        return bool(self.config.get("pause_for_probes"))

    @property
    def finished(self) -> bool:
        if self.error is not None:
            return not self.error_ids
        return self.state.done or (self.max_tokens is not None and len(self.state.generated) >= self.max_tokens)

    def sync(self, last_token: int | None) -> None:
        """Roll back a decision vLLM threw away (chunked prefill, recompute after preemption), then check that
        the last token vLLM committed is the one decided (``last_token``: None where the runner does not say)."""
        emitted, decided = self.emitted(), len(self.state.generated)
        if decided == emitted + 1 and self.snapshot is not None:
            restore_state(self.state, self.snapshot)
            if self.steps is not None:
                del self.steps[emitted:]
            self.chooser.set_state(self.generator_state)
            decided = emitted
        if decided != emitted:
            raise RuntimeError(
                f"vLLM holds {emitted} output tokens but the policy decided {decided}; the forcing state lost "
                "track of the sequence"
            )
        if last_token is not None and last_token >= 0 and emitted > self.offset:
            forced = self.state.generated[emitted - 1]
            if last_token != forced:
                raise RuntimeError(
                    f"vLLM emitted token {last_token} at output position {emitted - 1} where the policy decided "
                    f"{forced}; something after the processor overrode it (a grammar, vLLM's "
                    "thinking_token_budget, another logits processor)"
                )

    def before_decision(self) -> None:
        self.snapshot = snapshot_state(self.state)
        self.generator_state = self.chooser.get_state()

    def after_decision(self) -> None:
        record_dir = self.config.get("record_dir")
        if self.finished and record_dir and not self.written and self.config.get("pid") != os.getpid():
            path = Path(record_dir) / f"{self.key}.json"
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({**state_to_record(self.state), "error": self.error}))
            tmp.replace(path)
            self.written = True

    def fail(self, reason: str, error_ids: list[int]) -> None:
        """End this sequence alone: it emits ``error_ids`` (ending with end of sequence) and is then finished."""
        if self.error is not None:
            return
        self.error = reason
        self.error_ids = list(error_ids)
        self.state.stop("error")
        LOG.error("s1 forcing: request %s failed: %s", self.key, reason)

    def next_error_token(self) -> int:
        """The next token of a failed sequence (end of sequence again once its error is out: with async
        scheduling vLLM may run a finished row one more step)."""
        token = self.error_ids.pop(0) if self.error_ids else min(self.state.compiled.eos_token_ids)
        self.after_decision()
        return token


def _parallel_workers(vllm_config: Any) -> bool:
    parallel = getattr(vllm_config, "parallel_config", None)
    return bool(parallel is not None and getattr(parallel, "world_size", 1) > 1)


def refuse_speculative_decoding(vllm_config: Any) -> None:
    """Speculative decoding gives a request several logits rows a step, and budget forcing decides one token at a
    time: refused when the engine starts, with the reason, not on the first forced step."""
    if getattr(vllm_config, "speculative_config", None) is not None:
        raise ValueError(
            "s1 forcing does not support speculative decoding (a forced sequence is decided one token a step); "
            "start vLLM without --speculative-config to serve budget forcing"
        )


class LiveRows:
    """The sequences a processor is forcing, by key, and the families they belong to."""

    def __init__(self, vllm_config: Any = None) -> None:
        refuse_speculative_decoding(vllm_config)
        self.live: dict[str, Row] = {}
        self.vllm_config = vllm_config
        # Tensor or pipeline parallel workers get their params afresh in every message: their lifetime says
        # nothing there, so only finished sequences are freed (and the parked ones are bounded).
        self.track_params = not _parallel_workers(vllm_config)
        self._tokenizer: Any = None
        self._families: dict[str, list[int]] = {}  # family -> [sequences made in it, of them still held]
        self._lock = threading.RLock()
        self.made = 0  # sequences this processor has held, for the log line
        self._reported: tuple[int, int, float] = (0, 0, 0.0)
        _ALL_ROWS.add(self)

    PARKED_LIMIT = 4096
    """Unfinished sequences kept while vLLM does not run them (preempted), where params cannot tell (parallel)."""

    def tokenizer(self) -> Any:
        """The served model's tokenizer (loaded on the first served request: the engine's own requests carry ids)."""
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            model = self.vllm_config.model_config
            self._tokenizer = AutoTokenizer.from_pretrained(model.tokenizer, trust_remote_code=model.trust_remote_code)
        return self._tokenizer

    # -- finding a sequence's state ---------------------------------------------------------------------------
    def attach(self, params: Any, prompt_ids: list[int], so_far: list[int], busy: set[int]) -> Row | None:
        """The row of the sequence vLLM just put in a slot (None: not forced). ``prompt_ids`` and ``so_far`` are
        what vLLM holds for it (its prompt, its output before this fill); ``busy`` are the ids of rows other
        slots run now. A sequence seen before (preempted, or resumed after its probes) gets its state back."""
        with self._lock:
            extra = params.extra_args or {}
            config = extra.get(EXTRA_KEY)
            policy = served_policy(extra) if config is None else None
            if config is None and policy is None:
                return None
            family = str(config["key"]) if config is not None else str(extra.get(SERVED_KEY) or f"served-{id(params)}")
            whole = list(prompt_ids) + list(so_far)
            row = next(
                (
                    r
                    for r in self.live.values()
                    if r.family == family and id(r) not in busy and not r.finished and r.sequence() == whole
                ),
                None,
            )
            if row is not None:
                if config is not None:
                    row.offset = int(config.get("resume_at", 0))
            elif so_far or (config is not None and int(config.get("resume_at", 0))):
                row = self._new_row(family, config, params, policy, prompt_ids)
                row.fail(
                    "vLLM resumed this request but its forcing state is gone (dropped while it was preempted)",
                    self._error_ids(row, "its forcing state was lost"),
                )
            else:
                row = self._new_row(family, config, params, policy, prompt_ids)
            self._watch(row, params)
            self.report()
            return row

    def _new_row(
        self, family: str, config: dict[str, Any] | None, params: Any, policy: BudgetPolicy | None, prompt: list[int]
    ) -> Row:
        counts = self._families.setdefault(family, [0, 0])
        made = counts[0]
        counts[0] += 1
        counts[1] += 1
        key = family if made == 0 and config is not None else f"{family}#{made}"
        if config is None:  # a request of `s1 serve`: the policy from vllm_xargs, compiled here
            from s1lib.forcing.engine import eos_token_ids

            assert policy is not None
            tokenizer = self.tokenizer()
            compiled = policy.compile(tokenizer, eos_token_ids(tokenizer, self.vllm_config.model_config.hf_config))
            # vLLM gives each seeded child its own seed; an unseeded request samples a fresh seed per sequence.
            seed = int(params.seed) if params.seed is not None else secrets.randbits(63)
            fields = {
                "temperature": float(params.temperature or 0.0),
                "top_p": float(params.top_p or 1.0),
                "top_k": max(0, int(params.top_k or 0)),
                "min_p": float(getattr(params, "min_p", 0.0) or 0.0),
            }
            sampling = SamplingConfig(**{**fields, **served_sampling(params.extra_args)}, seed=seed)
            row = Row(
                key, family, {"served": True}, ForcingState(compiled), Chooser(sampling, seed), sampling.greedy,
                params.max_tokens, list(prompt), None,
            )  # fmt: skip
            row.see_prompt()
        else:
            sampling = SamplingConfig(**config["sampling"])
            in_process = config.get("pid") == os.getpid()
            row = Row(
                key, family, config, ForcingState(compiled_from_config(config)), Chooser(sampling, int(config["seed"])),
                sampling.greedy, params.max_tokens, list(prompt), None,
                LOCAL_PROCESSORS.get(family, []) if in_process else [],
                steps=[] if config.get("stream") else None,
            )  # fmt: skip
            if in_process:
                REGISTRY[key] = row
        self.live[key] = row
        self.made += 1
        return row

    def _error_ids(self, row: Row, reason: str) -> list[int]:
        """What a failed sequence emits: for a served one, the error as a line of text (vLLM has no other way
        to tell its client), then end of sequence."""
        eos = [min(row.state.compiled.eos_token_ids)]
        if not row.served:
            return eos
        try:
            return self.tokenizer().encode(f"\n[s1 forcing error: {reason}]", add_special_tokens=False) + eos
        except Exception:
            return eos

    # -- freeing ------------------------------------------------------------------------------------------------
    def _watch(self, row: Row, params: Any) -> None:
        """Free the row once vLLM drops its request (the params go with it), unless the driver paused it."""
        if not self.track_params:
            return
        try:
            ref = weakref.ref(params)
        except TypeError:
            return
        row.params_ref = ref
        weakref.finalize(params, self._params_gone, row.key, ref).atexit = False  # nothing to free at exit

    def _params_gone(self, key: str, ref: Any) -> None:
        with self._lock:
            row = self.live.get(key)
            if row is not None and row.params_ref is ref and row.paused is None:
                self.drop(key)

    def drop(self, key: str) -> None:
        with self._lock:
            row = self.live.pop(key, None)
            if row is None:
                return
            counts = self._families.get(row.family)
            if counts is not None:
                counts[1] -= 1
                if counts[1] <= 0:
                    del self._families[row.family]
            self.report()

    def forget_if_finished(self, row: Row) -> None:
        if row.finished:
            self.drop(row.key)

    def park(self, busy: set[int]) -> None:
        """Where params cannot tell when vLLM dropped a request, keep at most ``PARKED_LIMIT`` idle sequences."""
        if self.track_params:
            return
        with self._lock:
            idle = [key for key, row in self.live.items() if id(row) not in busy and row.paused is None]
            for key in idle[: max(0, len(idle) - self.PARKED_LIMIT)]:
                self.drop(key)

    def report(self) -> None:
        """Log the number of states held when it changed: at most once a second, and always when it reaches
        zero (with the number made so far, so a request that came and went is seen)."""
        count, now = len(self.live), time.monotonic()
        last, made, at = self._reported
        if (count, self.made) != (last, made) and (count == 0 or now - at >= 1.0):
            self._reported = (count, self.made, now)
            LOG.info("s1 forcing: %d request states held (%d made)", count, self.made)

    # -- deciding -----------------------------------------------------------------------------------------------
    def force(self, logits: Any, picked: list[tuple[int, Row]], last_tokens: list[int | None]) -> Any:
        """:func:`force_rows`, with any failure confined to the sequence it concerns."""
        with self._lock:
            self.report()
            try:
                return force_rows(logits, picked, last_tokens, self._error_ids)
            except Exception as exc:  # not one sequence's fault: fail this step's forced sequences, never vLLM
                return self.fail_all(logits, picked, f"{type(exc).__name__}: {exc}")

    def fail_all(self, logits: Any, picked: list[tuple[int, Row]], reason: str) -> Any:
        for _, row in picked:
            row.fail(reason, self._error_ids(row, reason))
        return _mask(logits, [(i, row.next_error_token()) for i, row in picked])


def _mask(logits: Any, chosen: list[tuple[int, int]]) -> Any:
    """Leave only each chosen token possible in its row."""
    import torch

    if not chosen:
        return logits
    index = torch.tensor([i for i, _ in chosen], dtype=torch.long, device=logits.device)
    logits.index_fill_(0, index, float("-inf"))
    logits[index, torch.tensor([t for _, t in chosen], dtype=torch.long, device=logits.device)] = 0.0
    return logits


def force_rows(
    logits: Any, picked: list[tuple[int, Row]], last_tokens: list[int | None] | None = None, error_ids: Any = None
) -> Any:
    """Decide the next token of each ``(logits row, sequence)`` and mask every other logit of those rows, in place.

    Both runners' processors end here, so they make the same decisions on the same sequences. ``last_tokens`` are
    the tokens vLLM committed last for each (checked against the decisions); a sequence whose checks or decision
    raise is failed alone (``error_ids(row, reason)``: what it emits then)."""
    if not picked:
        return logits
    error_ids = error_ids or (lambda row, reason: [min(row.state.compiled.eos_token_ids)])
    last_tokens = last_tokens or [None] * len(picked)

    def fail(row: Row, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        row.fail(reason, error_ids(row, reason))

    import torch

    index = torch.tensor([i for i, _ in picked], dtype=torch.long, device=logits.device)
    scores = logits.index_select(0, index).float()
    for j, (_, row) in enumerate(picked):
        if row.error is not None:
            continue
        try:
            row.sync(last_tokens[j])
            if row.processors:  # a request's own processors see its ids, as in transformers
                ids = torch.tensor([row.prompt_ids + row.state.generated], device=scores.device)
                adjusted = scores[j : j + 1]
                for processor in row.processors:
                    adjusted = processor(ids, adjusted)
                scores[j] = adjusted[0]
        except Exception as exc:
            fail(row, exc)
    greedy = scores.argmax(dim=-1).tolist()
    chosen: list[tuple[int, int]] = []
    for j, (i, row) in enumerate(picked):
        chosen.append((i, _decide(row, scores[j], greedy[j], fail)))
    return _mask(logits, chosen)


def _decide(row: Row, scores: Any, greedy: int, fail: Any) -> int:
    """One sequence's next token: the policy's decision, end of sequence once it is done, or its error's tokens."""
    if row.error is None:
        try:
            row.before_decision()
            state = row.state
            greedy_choice = greedy if row.greedy else None
            if row.pauses_for_probes and not state.done:
                if row.paused is None:
                    row.paused = state.probe_request(lambda banned: row.chooser(scores, banned, greedy_choice, True))
                if row.paused is not None:  # end this request here; the driver probes, then resumes the row
                    return min(state.compiled.eos_token_ids)
            step = decide(state, row.chooser, scores, greedy_choice)
            if step is None:
                return min(state.compiled.eos_token_ids)
            if row.steps is not None:
                row.steps.append((step, state.thinking_tokens, state.answer_tokens))
            row.after_decision()
            return step.token_id
        except Exception as exc:
            fail(row, exc)
    return row.next_error_token()
