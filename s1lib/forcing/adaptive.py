"""Adaptive thinking budgets: stop thinking early when a probe says the answer is already there.

A probe branches off the context (never the sequence itself): the end-of-thinking delimiter, the answer prefix and
the rule's ``probe_opening`` (Dynasor-CoT forces ``\\boxed{``), then at most ``probe_tokens`` greedy answer tokens; it
ends early at its end of sequence or as soon as a ``\\boxed{}`` closes (:func:`answer_closed`), since the answer
cannot change after that. Two training-free rules read the probes:

- ``probe_consistency`` (Dynasor-CoT): a probe every ``probe_every`` thinking tokens; stop when the last ``agree``
  probes extract the same non-empty answer.
- ``answer_confidence`` (DEER): a probe at each end attempt the policy would suppress (a forced "Wait") and, with
  ``probe_transitions``, where the model itself starts one of the policy's ignore strings (its own "Wait": DEER's
  transition points, before the re-check begins); stop when the probe's mean token probability is at least
  ``threshold``.

The rule lives here and in :class:`~s1lib.forcing.state.ForcingState`, so every backend stops alike; a backend only
answers "probe these rows now" (a batch of :class:`ProbeRequest`) with one :class:`ProbeOutput` per row. Probes never
count as thinking tokens: their tokens are reported apart (``Trace.probe_tokens``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from s1lib.answers import last_boxed
from s1lib.named import Named


class StopStrategy(Named):
    """Which rule reads the probes (:attr:`AdaptiveStop.strategy`)."""

    PROBE_CONSISTENCY = "probe_consistency"  # Dynasor-CoT: the last `agree` periodic probes agree
    ANSWER_CONFIDENCE = "answer_confidence"  # DEER: the probed answer's mean token probability reaches `threshold`


class ProbeTrigger(Named):
    """Why a probe ran: every ``probe_every`` tokens (probe_consistency), at a suppressed end attempt or, with
    ``probe_transitions``, where the model itself starts a "Wait" (answer_confidence)."""

    INTERVAL = "interval"
    END_ATTEMPT = "end_attempt"
    TRANSITION = "transition"


STRATEGIES = tuple(s.value for s in StopStrategy)
TRIGGERS = tuple(t.value for t in ProbeTrigger)
BOXED_OPENING = " \\boxed{"
"""Dynasor-CoT's probe opening: a probe then decodes only the answer and its closing brace."""


@dataclass
class AdaptiveStop:
    """When thinking may stop early. Defaults follow the papers (Dynasor-CoT: 32-token interval, 3 agreeing probes;
    DEER: 0.95 confidence)."""

    strategy: StopStrategy = field(
        default=StopStrategy.PROBE_CONSISTENCY,
        metadata={
            "help": "probe_consistency: stop when the last `agree` periodic probes give the same answer (Dynasor-CoT); "
            "answer_confidence: at each suppressed end attempt, stop when the probed answer's mean token "
            "probability is at least `threshold` (DEER; needs num_ignore > 0, or probe_transitions to probe "
            "at the model's own Waits)."
        },
    )
    probe_every: int = field(
        default=32,
        metadata={"help": "probe_consistency: thinking tokens between probes (Dynasor-CoT uses 32 to 64)."},
    )
    probe_tokens: int = field(
        default=20,
        metadata={"help": "Greedy answer tokens a probe may decode after its delimiter, answer prefix and opening."},
    )
    probe_opening: str = field(
        default="",
        metadata={
            "help": "Forced after the answer prefix in every probe (not in the answer itself). ' \\boxed{' is "
            "Dynasor-CoT's choice: the probe then only decodes the answer and its closing brace, a few tokens "
            "instead of the whole answer line. Empty: the probe starts at the answer prefix, as the cap does."
        },
    )
    agree: int = field(
        default=3,
        metadata={"help": "probe_consistency: how many consecutive probes must give the same non-empty answer."},
    )
    probe_transitions: bool = field(
        default=False,
        metadata={
            "help": "answer_confidence: also probe where the model itself starts one of the ignore strings (its own "
            "'Wait', DEER's transition points), so a model that re-checks by itself can stop before the re-check; "
            "then num_ignore may be 0."
        },
    )
    threshold: float = field(
        default=0.95,
        metadata={"help": "answer_confidence: mean token probability of the probed answer needed to stop, in (0, 1]."},
    )

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field for any invalid setting."""
        name = "BudgetPolicy.adaptive"
        self.strategy = StopStrategy.checked(self.strategy, f"{name}.strategy")
        for key, least in (("probe_every", 1), ("probe_tokens", 1), ("agree", 1)):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"{name}.{key} must be an integer >= {least}, got {value!r}")
        if not isinstance(self.probe_transitions, bool):
            raise ValueError(f"{name}.probe_transitions must be true or false, got {self.probe_transitions!r}")
        if not isinstance(self.probe_opening, str):
            raise ValueError(f"{name}.probe_opening must be a string, got {self.probe_opening!r}")
        threshold = self.threshold
        if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not 0 < threshold <= 1:
            raise ValueError(f"{name}.threshold must be a number in (0, 1], got {threshold!r}")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def label(self) -> str:
        opening = f" open={self.probe_opening.strip()}" if self.probe_opening else ""
        if self.strategy == StopStrategy.PROBE_CONSISTENCY:
            return f"agree={self.agree}/{self.probe_every}{opening}"
        transitions = " +waits" if self.probe_transitions else ""
        return f"conf≥{self.threshold:g}{transitions}{opening}"


@dataclass(frozen=True)
class ProbeRequest:
    """A row at a probe point: branch at ``position`` (an index into the generated ids: the probe sees everything
    before it) and decode ``prefix_ids`` then at most ``max_tokens`` greedy tokens, stopping at end of sequence.
    ``complete`` says whether answer ids so far close the answer: a backend may stop that row's probe there (the
    policy truncates any longer result at the same token, so stopping early only saves time)."""

    position: int
    thinking_tokens: int
    trigger: ProbeTrigger
    prefix_ids: tuple[int, ...]
    max_tokens: int
    complete: Callable[[Sequence[int]], bool] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ProbeOutput:
    """What a backend returns for one probe: the greedy answer ids (end of sequence excluded) and the probability
    the model gave each of them."""

    token_ids: tuple[int, ...]
    probs: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.token_ids) != len(self.probs):
            raise ValueError(f"ProbeOutput: {len(self.token_ids)} token ids but {len(self.probs)} probabilities")


@dataclass(frozen=True)
class Probe:
    """One probe, as recorded in the trace. ``num_tokens`` is what it cost: the forced prefix plus its answer
    tokens (never thinking tokens). ``confidence`` is the mean probability of the answer tokens (0 when none)."""

    position: int
    thinking_tokens: int
    trigger: ProbeTrigger
    token_ids: tuple[int, ...]
    num_tokens: int
    text: str
    answer: str | None
    confidence: float
    stop: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "thinking_tokens": self.thinking_tokens,
            "trigger": self.trigger,
            "num_tokens": self.num_tokens,
            "text": self.text,
            "answer": self.answer,
            "confidence": self.confidence,
            "stop": self.stop,
        }


def answer_closed(text: str) -> bool:
    """Whether a probe's text (from its forced opening on) holds a closed ``\\boxed{}``: its answer is then fixed."""
    return last_boxed(text) is not None


def truncate_at_answer(output: ProbeOutput, complete: Callable[[Sequence[int]], bool] | None) -> ProbeOutput:
    """``output`` cut after the first token at which ``complete`` holds (unchanged when it never does)."""
    if complete is None:
        return output
    for k in range(1, len(output.token_ids)):
        if complete(output.token_ids[:k]):
            return ProbeOutput(output.token_ids[:k], output.probs[:k])
    return output


def mean_probability(probs: Sequence[float]) -> float:
    return float(sum(probs) / len(probs)) if probs else 0.0


def should_stop(rule: AdaptiveStop, probes: Sequence[Probe], latest: Probe) -> bool:
    """The stop rule, given the earlier probes and the latest one (not yet in ``probes``)."""
    if rule.strategy == StopStrategy.ANSWER_CONFIDENCE:
        return latest.confidence >= rule.threshold
    window = [*probes, latest][-rule.agree :]
    if len(window) < rule.agree or not latest.answer:
        return False
    return all(p.answer == latest.answer for p in window)
