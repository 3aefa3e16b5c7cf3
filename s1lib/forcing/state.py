"""Budget forcing as a backend-independent state machine over token ids, one per row (its policy:
:mod:`s1lib.forcing.policy`).

A backend asks the state machine, once per generated position, which token comes next. The machine sees the
model's own choice and either keeps it or overrides it with a forced token (a "Wait", the end-of-thinking
delimiter, "Final Answer:", end of sequence). Every backend (transformers, vLLM, a served endpoint) drives the
same machine, so the same policy gives the same trace everywhere, up to numerics.

Semantics (s1 paper §3, with the reference's bugs fixed):

- Thinking tokens are counted from ids: forced "Wait" tokens count, the forced delimiter and "Final Answer:" do
  not. The budget is counted across all "Wait" rounds (the reference gave each round the full budget).
- At the cap the delimiter and the answer prefix are always forced (the reference could skip "Final Answer:").
- An end attempt is the model choosing the first token of the end-of-thinking delimiter, or end of sequence.
  While the end is not yet allowed (``num_ignore`` suppressions left, or fewer than ``min_thinking_tokens``), the
  attempt is replaced by the ignore string; with no ignore string the model's next-best token is used instead.
- A natural end (allowed) completes the delimiter only, with no "Final Answer:". Multi-token delimiters are
  completed token by token.
- An adaptive stop (``adaptive``, see :mod:`s1lib.forcing.adaptive`) ends thinking the way the cap does. A backend
  asks :meth:`ForcingState.probe_request` before :meth:`ForcingState.next_token`, runs the probes of every row that
  asked (in one batch), and hands each result to :meth:`ForcingState.record_probe`. A probe that could not stop
  thinking is not run: none before ``min_thinking_tokens``, none at the cap.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from s1lib.forcing.adaptive import (
    Probe,
    ProbeOutput,
    ProbeRequest,
    ProbeTrigger,
    StopStrategy,
    mean_probability,
    should_stop,
    truncate_at_answer,
)
from s1lib.forcing.policy import CompiledPolicy
from s1lib.named import Named


class FinishReason(Named):
    """Why a sequence ended: its end of sequence (``stop``), a cap (``length``), a stop from outside (``stopped``)
    or a failed request (``error``)."""

    STOP = "stop"
    LENGTH = "length"
    STOPPED = "stopped"
    ERROR = "error"


class Phase(Named):
    THINKING = "thinking"
    ANSWER = "answer"
    DONE = "done"


class InsertionKind(Named):
    """What a forced insertion put in the sequence."""

    START = "start"  # the think-start delimiter, forced first when the prompt did not end with it
    WAIT = "wait"  # an ignore string ("Wait") after a suppressed end of thinking
    END = "end"  # the end-of-thinking delimiter
    FINAL_ANSWER = "final_answer"  # the answer prefix ("Final Answer:") after a forced end


class ThinkingEnd(Named):
    """Why the thinking phase ended (``Trace.thinking_end_reason``)."""

    NATURAL = "natural"  # the model chose its end delimiter, and the policy let it
    CAP = "cap"  # the cap forced the end (budget forcing, maximum)
    ADAPTIVE = "adaptive"  # an adaptive stop rule's probe ended it
    NONE = "none"  # the policy has no thinking phase


class InsertionReason(Named):
    """Why an insertion happened, where its kind does not say (``ForcedInsertion.reason``)."""

    NONE = ""
    CAP = "cap"
    ADAPTIVE = "adaptive"
    NATURAL = "natural"  # the model's own end, recorded as the end of thinking
    SUPPRESSED_WITHOUT_STRING = "suppressed-without-string"  # an end banned with no ignore string to append


@dataclass(frozen=True)
class ForcedInsertion:
    """A forced insertion: its :class:`InsertionKind`, where it starts (``position`` indexes generated ids), its
    tokens and text, and its :class:`InsertionReason`."""

    kind: InsertionKind
    position: int
    token_ids: tuple[int, ...]
    text: str = ""
    reason: InsertionReason = InsertionReason.NONE

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, "position": self.position, "length": len(self.token_ids), "text": self.text}
        if self.reason:
            out["reason"] = self.reason
        return out


ChooseFn = Callable[[frozenset[int]], int]
"""The backend's sampler: returns the model's choice of next token, excluding the given banned ids."""

_NO_BAN: frozenset[int] = frozenset()


@dataclass
class Step:
    """What the state machine decided for one position."""

    token_id: int
    forced: bool
    phase: Phase
    insertion: ForcedInsertion | None = None
    phase_changed: bool = False


class ForcingState:
    """Per-sequence state machine. Call :meth:`next_token` once per generated position."""

    def __init__(self, compiled: CompiledPolicy):
        self.compiled = compiled
        self.policy = compiled.policy
        self.phase = Phase.THINKING
        self.generated: list[int] = []
        self.model_choices: list[int] = []  # the model's greedy choice at each position (filled by backends)
        self.thinking_tokens = 0
        self.answer_tokens = 0
        self.num_suppressed = 0
        self.insertions: list[ForcedInsertion] = []
        self.thinking_end_position: int | None = None
        self.answer_start_position: int | None = None
        self.thinking_end_reason: ThinkingEnd | None = None
        self.finish_reason: FinishReason | None = None
        self._queue: deque[int] = deque()
        self._insertion_at: dict[int, ForcedInsertion] = {}
        self._queue_phase_after: Phase | None = None
        self._ignore_cycle = itertools.cycle(compiled.ignore_ids) if compiled.ignore_ids else None
        self.probes: list[Probe] = []
        self.probe_tokens = 0  # every token the probes decoded, apart from thinking and answer
        self._candidate: int | None = None  # the model's choice, when probe_request already asked for it
        self._adaptive_stop = False
        self._probed_at: int | None = None  # the position of the last recorded probe
        rule = self.policy.adaptive
        # Probes run at multiples of probe_every, the first one at or after the minimum (none could stop earlier).
        self._next_probe_at = (
            0 if rule is None else rule.probe_every * max(1, -(-self.policy.min_thinking_tokens // rule.probe_every))
        )
        if not self.policy.thinking_phase:  # the model answers from the first generated token
            self.phase = Phase.ANSWER
            self.thinking_end_position = self.answer_start_position = 0
            self.thinking_end_reason = ThinkingEnd.NONE

    def open_thinking(self) -> None:
        """Begin by forcing the think-start delimiter, for a prompt that does not end with it (a chat request
        whose template ends at the assistant turn). Its tokens count as neither thinking nor answer."""
        if self.generated or self.phase is not Phase.THINKING:
            raise RuntimeError("open_thinking() must come before the first token of a thinking sequence")
        self._record(InsertionKind.START, self.compiled.think_start_ids)
        self._queue.extend(self.compiled.think_start_ids)
        self._queue_phase_after = Phase.THINKING

    # -- adaptive stop -----------------------------------------------------------------------------------------
    def probe_request(self, choose: ChooseFn) -> ProbeRequest | None:
        """The probe this position needs before :meth:`next_token` decides it, or None. For ``answer_confidence``
        this asks ``choose`` for the model's choice (to see an end attempt); :meth:`next_token` reuses it, so a
        sampled row draws once per position either way."""
        rule = self.policy.adaptive
        if self._probed_at == len(self.generated):
            return None  # probed here already (a backend that resumes after its probes asks again)
        self._candidate = None
        if rule is None or self.phase is not Phase.THINKING or self._queue or self._adaptive_stop:
            return None
        if self._at_cap() or self.thinking_tokens < self.policy.min_thinking_tokens:
            return None  # the cap ends thinking anyway; before the minimum no probe could stop it
        if rule.strategy == StopStrategy.PROBE_CONSISTENCY:
            if self.thinking_tokens < self._next_probe_at:
                return None
            trigger = ProbeTrigger.INTERVAL
        else:
            self._candidate = choose(_NO_BAN)
            if self._candidate in self.compiled.end_attempt_ids and not self._may_end_thinking():
                trigger = ProbeTrigger.END_ATTEMPT  # an end attempt the policy would suppress is a decision point
            elif rule.probe_transitions and self._candidate in self.compiled.transition_ids:
                trigger = ProbeTrigger.TRANSITION  # the model itself starts a re-check: probe before it
            else:
                return None
        prefix = self.compiled.probe_prefix_ids
        return ProbeRequest(
            len(self.generated), self.thinking_tokens, trigger, prefix, rule.probe_tokens, self.compiled.probe_complete
        )

    def record_probe(self, request: ProbeRequest, output: ProbeOutput) -> Probe:
        """Take a backend's result for ``request`` (this position's), record it and apply the stop rule."""
        rule, c = self.policy.adaptive, self.compiled
        if rule is None or request.position != len(self.generated):
            raise RuntimeError("record_probe() takes the probe this position asked for, before next_token()")
        if c.decode is None or c.extract is None:
            raise RuntimeError("probes need a policy compiled with a tokenizer (BudgetPolicy.compile)")
        output = truncate_at_answer(output, c.probe_complete)  # the same cut whether the backend stopped early
        ids = tuple(int(t) for t in output.token_ids)
        probe = Probe(
            position=request.position,
            thinking_tokens=request.thinking_tokens,
            trigger=request.trigger,
            token_ids=ids,
            num_tokens=len(request.prefix_ids) + len(ids),
            text=c.decode(list(ids)),
            # with an opening, only a closed box is an answer (an unclosed one ran out of probe tokens)
            answer=(
                c.extract(c.decode([*request.prefix_ids, *ids]))
                if not c.probe_opening_ids or c.probe_complete(ids)
                else None
            ),
            confidence=mean_probability(output.probs),
        )
        if should_stop(rule, self.probes, probe):
            probe = dataclasses.replace(probe, stop=True)
            self._adaptive_stop = True
        self.probes.append(probe)
        self.probe_tokens += probe.num_tokens
        self._probed_at = request.position
        if request.trigger == ProbeTrigger.INTERVAL:
            self._next_probe_at = (self.thinking_tokens // rule.probe_every + 1) * rule.probe_every
        return probe

    def _model_choice(self, choose: ChooseFn) -> int:
        candidate, self._candidate = self._candidate, None
        return choose(_NO_BAN) if candidate is None else candidate

    # -- decisions ---------------------------------------------------------------------------------------------
    def _may_end_thinking(self) -> bool:
        p = self.policy
        return self.num_suppressed >= p.num_ignore and self.thinking_tokens >= p.min_thinking_tokens

    def _at_cap(self) -> bool:
        cap = self.policy.max_thinking_tokens
        return cap is not None and self.thinking_tokens >= cap

    def _record(
        self, kind: InsertionKind, ids: Sequence[int], reason: InsertionReason = InsertionReason.NONE
    ) -> ForcedInsertion:
        return self._add_insertion(ForcedInsertion(kind, len(self.generated), tuple(ids), reason=reason))

    def _add_insertion(self, insertion: ForcedInsertion) -> ForcedInsertion:
        self.insertions.append(insertion)
        self._insertion_at[insertion.position] = insertion
        return insertion

    def _emit(self, token_id: int, forced: bool, insertion: ForcedInsertion | None = None) -> Step:
        phase_before = self.phase
        insertion = self._insertion_at.pop(len(self.generated), insertion)
        self.generated.append(int(token_id))
        if self.phase is Phase.THINKING and not self._queue_phase_after:
            self.thinking_tokens += 1
        elif self.phase is Phase.ANSWER and token_id not in self.compiled.eos_token_ids:
            self.answer_tokens += 1
        if not self._queue and self._queue_phase_after is not None:
            self.phase = self._queue_phase_after
            self._queue_phase_after = None
        return Step(int(token_id), forced, self.phase, insertion, phase_changed=self.phase is not phase_before)

    def _end_thinking(self, reason: ThinkingEnd, model_token: int | None) -> Step:
        """Emit the end delimiter (and the answer prefix at the cap or an adaptive stop), then switch to the answer
        phase."""
        c = self.compiled
        self._candidate = None
        self.thinking_end_position = len(self.generated)
        self.answer_start_position = self.thinking_end_position + len(c.think_end_ids)
        self.thinking_end_reason = reason
        self._queue.clear()
        self._queue_phase_after = Phase.ANSWER
        first_insertion = None
        if reason in (ThinkingEnd.CAP, ThinkingEnd.ADAPTIVE):
            first_insertion = self._record(InsertionKind.END, c.think_end_ids, reason=InsertionReason(reason))
            self._queue.extend(c.think_end_ids)
            if c.answer_prefix_ids:
                prefix_position = len(self.generated) + len(c.think_end_ids)
                self._add_insertion(
                    ForcedInsertion(InsertionKind.FINAL_ANSWER, prefix_position, tuple(c.answer_prefix_ids))
                )
                self._queue.extend(c.answer_prefix_ids)
        elif model_token == c.think_end_ids[0]:
            # The model began the delimiter itself: keep its token and complete the rest.
            self._queue.extend(c.think_end_ids[1:])
            return self._emit(model_token, forced=False)
        else:
            # End of sequence inside thinking: replace it by the delimiter (no "Final Answer:").
            first_insertion = self._record(InsertionKind.END, c.think_end_ids, reason=InsertionReason.NATURAL)
            self._queue.extend(c.think_end_ids)
        token = self._queue.popleft()
        return self._emit(token, forced=True, insertion=first_insertion)

    def next_token(self, choose: ChooseFn) -> Step:
        """Decide the next token. ``choose(banned)`` asks the backend for the model's choice."""
        c = self.compiled
        if self.phase is Phase.DONE:
            return Step(min(c.eos_token_ids), True, Phase.DONE)
        if self.phase is Phase.THINKING:
            if self._at_cap() and self._queue_phase_after is not Phase.ANSWER:
                return self._end_thinking(ThinkingEnd.CAP, None)
            if self._adaptive_stop:
                self._adaptive_stop = False
                return self._end_thinking(ThinkingEnd.ADAPTIVE, None)
            if self._queue:
                return self._emit(self._queue.popleft(), forced=True)
            candidate = self._model_choice(choose)
            if candidate in c.end_attempt_ids:
                if not self._may_end_thinking():
                    return self._suppress(choose)
                return self._end_thinking(ThinkingEnd.NATURAL, candidate)
            return self._emit(candidate, forced=False)
        # Answer phase.
        if self._queue:
            return self._emit(self._queue.popleft(), forced=True)
        cap = self.policy.max_answer_tokens
        if cap is not None and self.answer_tokens >= cap:
            return self._finish(min(c.eos_token_ids), FinishReason.LENGTH, forced=True)
        candidate = choose(_NO_BAN)
        if candidate in c.eos_token_ids:
            return self._finish(candidate, FinishReason.STOP, forced=False)
        return self._emit(candidate, forced=False)

    def _suppress(self, choose: ChooseFn) -> Step:
        self.num_suppressed += 1
        if self._ignore_cycle is None:
            # No ignore string: take the model's best token other than an end attempt.
            replacement = choose(self.compiled.end_attempt_ids)
            self._record(InsertionKind.WAIT, (), reason=InsertionReason.SUPPRESSED_WITHOUT_STRING)
            return self._emit(replacement, forced=False)
        ids = next(self._ignore_cycle)
        insertion = self._record(InsertionKind.WAIT, ids)
        self._queue.extend(ids)
        return self._emit(self._queue.popleft(), forced=True, insertion=insertion)

    def _finish(self, token_id: int, reason: FinishReason, forced: bool) -> Step:
        self.generated.append(int(token_id))
        self.phase = Phase.DONE
        self.finish_reason = FinishReason(reason)
        return Step(int(token_id), forced, Phase.DONE, phase_changed=True)

    def stop(self, reason: FinishReason | str) -> None:
        """End the sequence from outside (user stop, context full)."""
        if self.phase is not Phase.DONE:
            self.phase = Phase.DONE
            self.finish_reason = FinishReason(reason)

    @property
    def done(self) -> bool:
        return self.phase is Phase.DONE
