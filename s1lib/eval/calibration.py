"""Calibrated adaptive budgets: choose a stop rule's setting on problems apart from the reported ones, with a
finite-sample guarantee on the accuracy it may cost.

The procedure is **Learn Then Test** (Angelopoulos, Bates, Candès, Jordan and Lei, "Learn then Test: Calibrating
Predictive Algorithms to Achieve Risk Control", 2021, arXiv:2110.01052) with fixed-sequence testing:

- **Risk.** A setting *harms* a problem when the full budget (the rule's cap, never stopped early) answers it right
  and the setting answers it wrong. Its risk is the harm rate ``R``. The accuracy a setting loses against the full
  budget is ``P(full right, setting wrong) - P(full wrong, setting right) <= R``, so bounding ``R`` bounds the loss.
- **Target.** ``R <= max_accuracy_drop`` (epsilon) with probability at least ``confidence`` (1 - delta) over the
  draw of the calibration split.
- **Test.** For each candidate, the null hypothesis "``R > epsilon``" gets the exact one-sided binomial p-value
  ``P(Binomial(n, epsilon) <= k)`` from its ``k`` harms on ``n`` calibration problems (valid for a 0/1 loss; it is
  the tightest such bound, tighter than Hoeffding-Bentkus, which LTT uses for general bounded losses).
- **Family-wise control.** ``fixed_sequence``: candidates are tested in the order given (most cautious first, an
  order fixed before any outcome is seen: :func:`cautious_order`), each at level delta, stopping at the first one
  not rejected; ``bonferroni``: every candidate at level delta / K, in any order. Either way, with probability at
  least 1 - delta every rejected candidate truly has ``R <= epsilon``.
- **Choice.** Among the rejected (certified) candidates, the one with the fewest compute tokens (thinking + probe)
  on the calibration split. Choosing within a certified set keeps the guarantee (LTT, Theorem 1). When none is
  certified, the full budget is the answer: no early stop is what the data can vouch for.

The guarantee is about new problems from the calibration split's distribution; the held-out accuracy the report
shows is one draw of it, with its own interval. A split too small for the target (even zero harms could not reject:
``(1 - epsilon)^n > delta``) is refused with the size it needs. Nothing here sees the held-out problems:
:func:`calibrate` takes only the calibration split's outcomes.

Outcomes come from decoding each candidate on the calibration split (any rule, any backend), or, for
``probe_consistency`` rules whose probe is the cap's own forced answer, from one densely probed run that never stops
(:func:`replay_consistency`): every probe such a rule would make is one of that run's probes, so its stops, answers
and costs are read off without decoding again. ``answer_confidence`` rules (DEER) replay the same way
(:func:`replay_confidence`) from one run whose threshold is 1: it stops only at a probe of confidence 1, where every
threshold would have stopped too, so each threshold's first stop is among its probes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from s1lib.forcing.adaptive import AdaptiveStop, Probe, ProbeTrigger, StopStrategy, should_stop

PROCEDURES = ("fixed_sequence", "bonferroni")
CITATION = (
    "Learn Then Test (Angelopoulos, Bates, Candès, Jordan, Lei 2021, arXiv:2110.01052), exact binomial p-values, "
    "{procedure} testing"
)


@dataclass
class CalibrationTarget:
    """What a calibrated setting must guarantee. Defaults: at most 2 points of accuracy below the full budget's,
    with 90% confidence."""

    max_accuracy_drop: float = field(
        default=0.02,
        metadata={"help": "epsilon: the harm rate (full budget right, early stop wrong) allowed, in (0, 1)."},
    )
    confidence: float = field(
        default=0.9, metadata={"help": "1 - delta: the probability that the guarantee holds, in (0, 1)."}
    )
    procedure: str = field(
        default="fixed_sequence",
        metadata={
            "help": "fixed_sequence: test the candidates in their cautious order, stop at the first not certified; "
            "bonferroni: test each at (1 - confidence) / K."
        },
    )

    def __post_init__(self) -> None:
        for name in ("max_accuracy_drop", "confidence"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value < 1:
                raise ValueError(f"CalibrationTarget.{name} must be a number in (0, 1), got {value!r}")
        if self.procedure not in PROCEDURES:
            raise ValueError(
                f"CalibrationTarget.procedure must be one of {', '.join(PROCEDURES)}, got {self.procedure!r}"
            )

    @property
    def delta(self) -> float:
        return 1.0 - self.confidence

    def level(self, n_candidates: int) -> float:
        """The level each candidate is tested at."""
        return self.delta / n_candidates if self.procedure == "bonferroni" else self.delta

    def min_problems(self, n_candidates: int) -> int:
        """The smallest calibration split on which a candidate with no harm at all can be certified."""
        return math.ceil(math.log(self.level(n_candidates)) / math.log(1.0 - self.max_accuracy_drop) - 1e-12)


@dataclass(frozen=True)
class Outcome:
    """One calibration problem under one setting: right or not, and what it cost."""

    correct: bool
    thinking_tokens: float
    probe_tokens: float = 0.0


@dataclass
class Candidate:
    """A setting to calibrate: its label, the rule (as a dict, for the report) and its outcome per problem id."""

    label: str
    rule: dict[str, Any]
    outcomes: Mapping[str, Outcome]


@dataclass
class Calibration:
    """What :func:`calibrate` found: the chosen candidate (None: keep the full budget) and every test."""

    target: CalibrationTarget
    problems: int
    reference_accuracy: float
    tests: list[dict[str, Any]]
    chosen: str | None
    chosen_rule: dict[str, Any] | None
    method: str

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "target": asdict(self.target)}


def binomial_p_value(harms: int, n: int, epsilon: float) -> float:
    """``P(Binomial(n, epsilon) <= harms)``: how likely so few harms are if the harm rate were epsilon."""
    if harms >= n:
        return 1.0
    log_terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * math.log(epsilon)
        + (n - i) * math.log1p(-epsilon)
        for i in range(harms + 1)
    ]  # fmt: skip
    top = max(log_terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in log_terms))


def cautious_order(rules: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indices of ``rules`` from the most cautious: the latest possible stop first (``agree * probe_every`` for
    ``probe_consistency``, the threshold for ``answer_confidence``), then more agreement. An order made from the
    settings alone, before any outcome is seen, as fixed-sequence testing needs."""

    def key(index: int) -> tuple[float, float]:
        rule = AdaptiveStop(**rules[index])
        if rule.strategy == StopStrategy.PROBE_CONSISTENCY:
            return (-float(rule.agree * rule.probe_every), -float(rule.agree))
        return (-float(rule.threshold), 0.0)

    return sorted(range(len(rules)), key=key)


def calibrate(
    reference: Mapping[str, Outcome], candidates: Sequence[Candidate], target: CalibrationTarget | None = None
) -> Calibration:
    """Choose among ``candidates`` (in their cautious order) by Learn Then Test on the calibration split that
    ``reference`` (the full budget's outcomes) names; see the module docstring."""
    target = target or CalibrationTarget()
    if not reference:
        raise ValueError("calibrate: the calibration split is empty (no reference outcomes)")
    if not candidates:
        raise ValueError("calibrate: no candidate settings to calibrate")
    ids = sorted(reference)
    for cand in candidates:
        missing = [pid for pid in ids if pid not in cand.outcomes]
        if missing:
            raise ValueError(
                f"calibrate: candidate {cand.label!r} has no outcome for calibration problem {missing[0]!r}"
            )
    n, level = len(ids), target.level(len(candidates))
    needed = target.min_problems(len(candidates))
    if n < needed:
        raise ValueError(
            f"calibrate: the calibration split has {n} problems; certifying a harm rate of at most "
            f"{target.max_accuracy_drop:g} with confidence {target.confidence:g} over {len(candidates)} candidates "
            f"({target.procedure}) needs at least {needed}, even with no harm at all"
        )
    tests, open_sequence = [], True
    for cand in candidates:
        harms = sum(reference[pid].correct and not cand.outcomes[pid].correct for pid in ids)
        p_value = binomial_p_value(harms, n, target.max_accuracy_drop)
        tested = open_sequence or target.procedure == "bonferroni"
        certified = tested and p_value <= level
        if target.procedure == "fixed_sequence" and not certified:
            open_sequence = False
        tests.append(
            {
                "label": cand.label,
                "rule": dict(cand.rule),
                "harms": harms,
                "harm_rate": harms / n,
                "accuracy": sum(cand.outcomes[pid].correct for pid in ids) / n,
                "thinking_tokens": sum(cand.outcomes[pid].thinking_tokens for pid in ids) / n,
                "probe_tokens": sum(cand.outcomes[pid].probe_tokens for pid in ids) / n,
                "p_value": p_value,
                "tested": tested,
                "certified": certified,
            }
        )
    certified = [t for t in tests if t["certified"]]
    best = min(certified, key=lambda t: t["thinking_tokens"] + t["probe_tokens"]) if certified else None
    return Calibration(
        target=target,
        problems=n,
        reference_accuracy=sum(reference[pid].correct for pid in ids) / n,
        tests=tests,
        chosen=None if best is None else best["label"],
        chosen_rule=None if best is None else best["rule"],
        method=CITATION.format(procedure=target.procedure.replace("_", "-")),
    )


# ------------------------------------------------------------------------------------------------ replaying a run
Grader = Callable[[str, str | None], bool]
"""``grader(problem_id, answer)``: whether an answer to that calibration problem is right."""


def _probe(entry: Mapping[str, Any]) -> Probe:
    return Probe(
        position=int(entry["position"]), thinking_tokens=int(entry["thinking_tokens"]),
        trigger=ProbeTrigger(entry["trigger"]),
        token_ids=(), num_tokens=int(entry["num_tokens"]), text=str(entry.get("text") or ""),
        answer=entry.get("answer"), confidence=float(entry.get("confidence") or 0.0),
    )  # fmt: skip


def replay_consistency(records: Sequence[Mapping[str, Any]], rule: AdaptiveStop, grader: Grader) -> dict[str, Outcome]:
    """The outcome per problem of ``rule`` (``probe_consistency``), read off ``records``: one sample per problem of
    one cap probed every ``stride`` tokens by a rule that never stops, whose probe is the cap's own forced answer
    (no opening, ``probe_tokens`` = the answer budget), so a stop at a probe answers what the probe said. The rule
    must probe like the run (same probe, ``probe_every`` a multiple of its stride). A row whose probes do not sit
    where the rule would probe (a forced token delayed one) is refused, never guessed."""
    if not records:
        raise ValueError("replay_consistency: no records to replay")
    policy = records[0]["policy"]
    dense = AdaptiveStop(**policy["adaptive"])
    same_probe = (rule.probe_tokens, rule.probe_opening) == (dense.probe_tokens, dense.probe_opening)
    if rule.strategy != StopStrategy.PROBE_CONSISTENCY or rule.probe_every % dense.probe_every or not same_probe:
        raise ValueError(
            f"replay_consistency: {rule.label()} (probe_tokens {rule.probe_tokens}) does not probe like the run "
            f"({dense.label()}, probe_tokens {dense.probe_tokens}): a probe_consistency rule with the same probe on "
            f"a multiple of {dense.probe_every} tokens is needed"
        )
    cap, least = int(policy["max_thinking_tokens"]), int(policy.get("min_thinking_tokens") or 0)
    out: dict[str, Outcome] = {}
    for record in records:
        pid = str(record["problem_id"])
        if pid in out:
            raise ValueError(
                f"replay_consistency: problem {pid!r} has several samples; the run must be one per problem"
            )
        probes = {int(p["thinking_tokens"]): p for p in record.get("probes") or [] if p.get("trigger") == "interval"}
        thinking = int(record["thinking_tokens"] or 0)
        seen: list[Probe] = []
        cost, stop = 0, None
        at = rule.probe_every * max(1, -(-least // rule.probe_every))
        while stop is None and at <= thinking and at < cap:  # a probe comes before the token at its position
            if at not in probes:
                raise ValueError(
                    f"replay_consistency: problem {pid!r} has no probe at {at} thinking tokens (it thought "
                    f"{thinking}); its probes are at {sorted(probes)}"
                )
            latest = _probe(probes[at])
            cost += latest.num_tokens
            if should_stop(rule, seen, latest):
                stop = latest
            seen.append(latest)
            at += rule.probe_every
        if stop is None:
            out[pid] = Outcome(bool(record["correct"]), float(thinking), float(cost))
        else:
            out[pid] = Outcome(grader(pid, stop.answer), float(stop.thinking_tokens), float(cost))
    return out


def replay_confidence(records: Sequence[Mapping[str, Any]], rule: AdaptiveStop, grader: Grader) -> dict[str, Outcome]:
    """The outcome per problem of ``rule`` (``answer_confidence``), read off ``records``: one sample per problem of
    one cap whose DEER rule probes where this one does (same probe, same transitions) with threshold 1, so its
    probes hold every probe of any threshold up to its first stop. A stop at a probe answers what the probe said
    (the probe is the cap's own forced answer: no opening, ``probe_tokens`` = the answer budget)."""
    if not records:
        raise ValueError("replay_confidence: no records to replay")
    dense = AdaptiveStop(**records[0]["policy"]["adaptive"])
    same_probe = (rule.probe_tokens, rule.probe_opening, rule.probe_transitions) == (
        dense.probe_tokens, dense.probe_opening, dense.probe_transitions,
    )  # fmt: skip
    confidence = StopStrategy.ANSWER_CONFIDENCE
    if rule.strategy != confidence or dense.strategy != confidence or not same_probe:
        raise ValueError(
            f"replay_confidence: {rule.label()} (probe_tokens {rule.probe_tokens}) does not probe like the run "
            f"({dense.label()}, probe_tokens {dense.probe_tokens}): an answer_confidence rule with the same probe "
            "and transitions is needed"
        )
    if dense.threshold < 1 and rule.threshold > dense.threshold:
        raise ValueError(
            f"replay_confidence: the run stopped at confidence {dense.threshold:g}; a threshold of "
            f"{rule.threshold:g} may stop later than it did (run it with threshold 1)"
        )
    out: dict[str, Outcome] = {}
    for record in records:
        pid = str(record["problem_id"])
        if pid in out:
            raise ValueError(f"replay_confidence: problem {pid!r} has several samples; the run must be one per problem")
        cost = 0
        for entry in record.get("probes") or []:
            probe = _probe(entry)
            cost += probe.num_tokens
            if should_stop(rule, [], probe):
                out[pid] = Outcome(grader(pid, probe.answer), float(probe.thinking_tokens), float(cost))
                break
        else:
            out[pid] = Outcome(bool(record["correct"]), float(record["thinking_tokens"] or 0), float(cost))
    return out


def replay(records: Sequence[Mapping[str, Any]], rule: AdaptiveStop, grader: Grader) -> dict[str, Outcome]:
    """:func:`replay_consistency` or :func:`replay_confidence`, by the rule's strategy."""
    if rule.strategy == StopStrategy.ANSWER_CONFIDENCE:
        return replay_confidence(records, rule, grader)
    return replay_consistency(records, rule, grader)
