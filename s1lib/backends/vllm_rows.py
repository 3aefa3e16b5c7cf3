"""The forcing processor's rows: one :class:`ForcingState` per sequence vLLM decodes, found again when vLLM re-fills
a slot, freed when the sequence ends or vLLM drops its request, and the decision of a whole batch of rows
(:func:`force_rows`). Both runners' processor classes (:mod:`s1lib.backends.vllm_processor`) drive these; nothing
here imports vLLM."""

from __future__ import annotations

import json
import logging
import os
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s1lib.backends.vllm_freeing import RowFreeing, refuse_unsupported
from s1lib.backends.vllm_request import (
    EXTRA_KEY,
    SERVED_KEY,
    compiled_from_config,
    restore_state,
    served_policy,
    served_sampling,
    served_seed,
    snapshot_state,
    state_to_record,
)
from s1lib.backends.vllm_step import fetch_step, forced_scores, mask_rows, run_processors
from s1lib.forcing.adaptive import ProbeRequest
from s1lib.forcing.engine import Chooser, decide
from s1lib.forcing.policy import BudgetPolicy
from s1lib.forcing.state import ForcingState, Phase, Step
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
    pause_ended: bool = False  # this vLLM request ended with the end of sequence of a pause (not a decision)
    error: str | None = None  # why this sequence was failed; it then emits ``error_ids`` and ends
    error_ids: list[int] = field(default_factory=list)
    params_ref: Any = None  # a weak reference to the params vLLM holds while it holds the request
    last_run: int = 0  # the processor's step count when vLLM last ran it (how long it has been idle)

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

    @property
    def ended(self) -> bool:
        """Its vLLM request has ended (the policy is done or at ``max_tokens``, or the row paused for a probe). vLLM
        may still run it: async scheduling (vLLM's default on GPUs) schedules step k+1 before it reads step k's
        end, and pipeline parallelism keeps several steps in flight. Those steps decide nothing, and what vLLM
        holds past the end is not a decision (a pause's end of sequence is not in the state: the row resumes
        before it)."""
        return self.pause_ended or self.finished

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
        if emitted > decided and self.ended:
            self._check_past_end(emitted, decided, last_token)
            return
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

    def _check_past_end(self, emitted: int, decided: int, last_token: int | None) -> None:
        """A step after the end (see :attr:`ended`): the token right after a pause's decisions must be its end of
        sequence; later ones are vLLM's samples of steps it throws away."""
        eos = self.state.compiled.eos_token_ids
        at_pause = self.pause_ended and emitted == decided + 1
        if at_pause and last_token is not None and last_token >= 0 and last_token not in eos:
            raise RuntimeError(
                f"vLLM emitted token {last_token} where this row ended its request for a probe (end of sequence "
                f"{min(eos)}); something after the processor overrode it"
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


class LiveRows(RowFreeing):
    """The sequences a processor is forcing, by key, and the families they belong to (when they are let go:
    :class:`~s1lib.backends.vllm_freeing.RowFreeing`)."""

    def __init__(self, vllm_config: Any = None, runner: str = "legacy") -> None:
        refuse_unsupported(vllm_config)
        self.live: dict[str, Row] = {}
        self.vllm_config = vllm_config
        self._init_freeing(vllm_config, runner)
        self._tokenizer: Any = None
        self.made = 0  # sequences this processor has held, for the log line
        _ALL_ROWS.add(self)

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
        with self._safe():
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
                    for r in list(self.live.values())  # a snapshot: a finalizer may run in the loop
                    if r.family == family and id(r) not in busy and not r.finished and r.sequence() == whole
                ),
                None,
            )
            if row is not None:
                row.pause_ended = False  # a new vLLM request (resumed after its probes, or re-filled)
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
        made = self._index_in_family(family)
        key = family if made == 0 and config is not None else f"{family}#{made}"
        if config is None:  # a request of `s1 serve`: the policy from vllm_xargs, compiled here
            from s1lib.forcing.engine import eos_token_ids

            assert policy is not None
            tokenizer = self.tokenizer()
            compiled = policy.compile(tokenizer, eos_token_ids(tokenizer, self.vllm_config.model_config.hf_config))
            seed = served_seed(params.extra_args, prompt, made, params.seed)  # alike on every parallel rank
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

    # -- deciding -----------------------------------------------------------------------------------------------
    def force(self, logits: Any, picked: list[tuple[int, Row]], last_tokens: Any) -> Any:
        """:func:`force_rows`, with any failure confined to the sequence it concerns."""
        with self._safe():
            self.ran([row for _, row in picked])
            self.report()
            try:
                return force_rows(logits, picked, last_tokens, self._error_ids)
            except Exception as exc:  # not one sequence's fault: fail this step's forced sequences, never vLLM
                return self.fail_all(logits, picked, f"{type(exc).__name__}: {exc}")

    def fail_all(self, logits: Any, picked: list[tuple[int, Row]], reason: str) -> Any:
        for _, row in picked:
            row.fail(reason, self._error_ids(row, reason))
        return mask_rows(logits, [(i, row.next_error_token()) for i, row in picked])


def force_rows(logits: Any, picked: list[tuple[int, Row]], last_tokens: Any = None, error_ids: Any = None) -> Any:
    """Decide the next token of each ``(logits row, sequence)`` and mask every other logit of those rows, in place.

    Both runners' processors end here, so they make the same decisions on the same sequences. ``last_tokens`` are
    the tokens vLLM committed last for each (checked against the decisions; a list, or V2's device tensor of each
    batch row's fed token); a sequence whose checks or decision raise is failed alone (``error_ids(row, reason)``:
    what it emits then). One transfer to the host a step (:func:`fetch_step`)."""
    if not picked:
        return logits
    error_ids = error_ids or (lambda row, reason: [min(row.state.compiled.eos_token_ids)])

    def fail(row: Row, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        row.fail(reason, error_ids(row, reason))

    index, scores = forced_scores(logits, [i for i, _ in picked])
    for j, (_, row) in enumerate(picked):
        if row.error is not None:
            continue
        try:
            row.sync(None)  # roll a discarded decision back first: the draws below count from there
            if row.processors:  # a request's own processors see its ids, as in transformers
                run_processors(row.processors, row.prompt_ids + row.state.generated, scores, j)
        except Exception as exc:
            fail(row, exc)
    draws = [
        (r.chooser, r.state.phase is Phase.THINKING) if r.error is None and not r.greedy and not r.state.done else None
        for _, r in picked
    ]
    greedy, drawn, last = fetch_step(scores, index, [r.greedy for _, r in picked], draws, last_tokens)
    chosen: list[tuple[int, int]] = []
    for j, (i, row) in enumerate(picked):
        if row.error is None and last[j] is not None:
            try:
                row.sync(last[j])  # the check of the token vLLM committed, now on the host
            except Exception as exc:
                fail(row, exc)
        if drawn[j] is not None:
            row.chooser.offer(drawn[j], draws[j][1])  # type: ignore[index]
        chosen.append((i, _decide(row, scores[j], greedy[j], fail)))
        row.chooser.withdraw()
    return mask_rows(logits, chosen)


def _decide(row: Row, scores: Any, greedy: int, fail: Any) -> int:
    """One sequence's next token: the policy's decision, end of sequence once it is done, or its error's tokens."""
    if row.error is None:
        try:
            state = row.state
            if row.ended:  # a step vLLM runs after the end (async scheduling): nothing to decide
                return min(state.compiled.eos_token_ids)
            row.before_decision()
            greedy_choice = greedy if row.greedy else None
            if row.pauses_for_probes and not state.done:
                if row.paused is None:
                    row.paused = state.probe_request(lambda banned: row.chooser(scores, banned, greedy_choice, True))
                if row.paused is not None:  # end this request here; the driver probes, then resumes the row
                    row.pause_ended = True
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
