"""A stop rule calibrated on an engine: the grid of settings (``probe_consistency``'s intervals and agreements, or
``answer_confidence``'s thresholds), the one densely probed run on the calibration split, and the setting a sweep
adds to its grid (``SweepConfig.calibration``).

The procedure itself (Learn Then Test, its target and its guarantee) is :mod:`s1lib.eval.calibration`. A sweep with
``calibration`` set first decodes its calibration split once at the rule's cap, with a probe every
``gcd(probe_every)`` tokens that never stops (``probe_consistency``) or DEER's probe at each of the model's own
Waits with threshold 1 (``answer_confidence``), replays every setting of the grid from it, lets
:func:`~s1lib.eval.calibration.calibrate` choose, and adds the chosen setting to its grid as ``calibrated …``
(method ``adaptive (calibrated)``); when none is certified it adds nothing and says so. The choice is stored in
``calibration.json`` beside the results and reused when the sweep resumes with the same calibration settings and
model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from s1lib.eval.benchmarks import Problem
from s1lib.eval.calibration import (
    Calibration,
    CalibrationTarget,
    Candidate,
    Outcome,
    calibrate,
    cautious_order,
    replay,
)
from s1lib.forcing.adaptive import AdaptiveStop, StopStrategy
from s1lib.forcing.engine import Engine
from s1lib.forcing.policy import BudgetPolicy
from s1lib.progress import LineProgress

CALIBRATION_FILE = "calibration.json"
CALIBRATED_METHOD = "adaptive (calibrated)"


@dataclass
class CalibrationConfig:
    """``SweepConfig.calibration``: where a stop rule's setting is chosen, among which settings, to what target.
    Defaults: Dynasor-CoT's intervals (32, 64) and agreements around its 3 (or DEER's thresholds around its 0.95);
    2 points of accuracy at 90%."""

    problems: int = field(default=200, metadata={"help": "Calibration problems (apart from the reported ones)."})
    benchmark: str | None = field(
        default=None,
        metadata={
            "help": "Benchmark of the calibration problems (null: the sweep's). Another benchmark's guarantee holds "
            "for its own distribution, not the reported one's."
        },
    )
    data: str | None = field(
        default=None,
        metadata={
            "help": "File or folder of the calibration problems, read like `benchmark` (null: toy problems drawn "
            "apart from the held-out set; another benchmark from its default source; the sweep's own benchmark "
            "needs a file apart from its data)."
        },
    )
    strategy: StopStrategy = field(
        default=StopStrategy.PROBE_CONSISTENCY,
        metadata={
            "help": "The rule calibrated: probe_consistency (Dynasor-CoT: probe_every x agree) or answer_confidence "
            "(DEER: threshold, probed where the model itself starts a Wait)."
        },
    )
    probe_every: list[int] = field(
        default_factory=lambda: [32, 64], metadata={"help": "probe_consistency: the grid's intervals."}
    )
    agree: list[int] = field(default_factory=lambda: [2, 3, 4], metadata={"help": "probe_consistency: agreements."})
    threshold: list[float] = field(
        default_factory=lambda: [0.99, 0.95, 0.9, 0.8],
        metadata={"help": "answer_confidence: the grid's thresholds, each in (0, 1]."},
    )
    cap: int | None = field(
        default=None, metadata={"help": "The thinking cap the rule runs at (null: the sweep's largest rule cap)."}
    )
    max_accuracy_drop: float = field(
        default=0.02, metadata={"help": "The target's harm rate (full budget right, early stop wrong), in (0, 1)."}
    )
    confidence: float = field(default=0.9, metadata={"help": "The target's confidence, in (0, 1)."})
    procedure: str = field(default="fixed_sequence", metadata={"help": "fixed_sequence or bonferroni."})

    def __post_init__(self) -> None:
        where = "SweepConfig.calibration"
        if not isinstance(self.problems, int) or isinstance(self.problems, bool) or self.problems < 1:
            raise ValueError(f"{where}.problems must be a positive integer, got {self.problems!r}")
        self.strategy = StopStrategy.checked(self.strategy, f"{where}.strategy")
        check_grid(self.probe_every, self.agree, self.threshold, lambda name: f"{where}.{name}")
        try:
            target = self.target()
        except ValueError as exc:
            raise ValueError(str(exc).replace("CalibrationTarget.", f"{where}.")) from None
        if self.problems < target.min_problems(self.grid_size()):
            raise ValueError(
                f"{where}.problems: {self.problems} calibration problems cannot certify a harm rate of at most "
                f"{self.max_accuracy_drop:g} with confidence {self.confidence:g} ({self.procedure}); it needs at "
                f"least {target.min_problems(self.grid_size())}"
            )

    def target(self) -> CalibrationTarget:
        return CalibrationTarget(self.max_accuracy_drop, self.confidence, self.procedure)

    def grid_size(self) -> int:
        if self.strategy == StopStrategy.ANSWER_CONFIDENCE:
            return len(self.threshold)
        return len(self.probe_every) * len(self.agree)

    def grid(self, probe_tokens: int) -> list[dict[str, Any]]:
        """The settings calibrated (:func:`grid_rules`)."""
        return grid_rules(self.strategy, self.probe_every, self.agree, self.threshold, probe_tokens)


def check_grid(probe_every: Any, agree: Any, threshold: Any, field_name: Callable[[str], str]) -> None:
    """Check a grid's settings, naming each by ``field_name`` (``"agree"`` -> the caller's own field name) in its
    error: shared by every config that declares a grid."""
    for name, values in (("probe_every", probe_every), ("agree", agree)):
        if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
            raise ValueError(f"{field_name(name)} must be a non-empty list of positive integers, got {values!r}")
    ok = [isinstance(t, (int, float)) and not isinstance(t, bool) and 0 < t <= 1 for t in threshold or []]
    if not ok or not all(ok):
        raise ValueError(f"{field_name('threshold')} must be a non-empty list of numbers in (0, 1], got {threshold!r}")


def grid_rules(
    strategy: StopStrategy | str,
    probe_every: Sequence[int],
    agree: Sequence[int],
    threshold: Sequence[float],
    probe_tokens: int,
) -> list[dict[str, Any]]:
    """The settings a grid calibrates, most cautious first, each probing with the cap's own answer (replayable):
    DEER's thresholds for ``answer_confidence``, else Dynasor-CoT's intervals x agreements."""
    if strategy == StopStrategy.ANSWER_CONFIDENCE:
        return confidence_grid(threshold, probe_tokens)
    return consistency_grid(probe_every, agree, probe_tokens)


NEVER = 10**9
"""``agree`` of the densely probed run: it never stops, it only records what each probe would answer."""


def consistency_grid(probe_every: Sequence[int], agree: Sequence[int], probe_tokens: int) -> list[dict[str, Any]]:
    """``probe_consistency`` rules over ``probe_every`` x ``agree``, each probing with the cap's own forced answer
    (``probe_tokens`` = the answer budget, no opening: replayable), in :func:`cautious_order`."""
    rules = [
        {
            "strategy": StopStrategy.PROBE_CONSISTENCY,
            "probe_every": int(p),
            "agree": int(a),
            "probe_tokens": int(probe_tokens),
        }
        for p in probe_every
        for a in agree
    ]
    return [rules[i] for i in cautious_order(rules)]


def confidence_grid(thresholds: Sequence[float], probe_tokens: int) -> list[dict[str, Any]]:
    """``answer_confidence`` rules (DEER at the model's own Waits) over ``thresholds``, each probing with the cap's
    own forced answer, in :func:`cautious_order` (the highest threshold first)."""
    rules = [
        {"strategy": StopStrategy.ANSWER_CONFIDENCE, "threshold": float(t), "probe_transitions": True,
         "probe_tokens": int(probe_tokens)}
        for t in thresholds
    ]  # fmt: skip
    return [rules[i] for i in cautious_order(rules)]


def dense_policy(
    cap: int,
    max_answer_tokens: int,
    stride: int | None,
    min_thinking_tokens: int = 0,
    strategy: StopStrategy | str = StopStrategy.PROBE_CONSISTENCY,
    num_ignore: int = 0,
) -> Any:
    """The cap probed every ``stride`` thinking tokens by a rule that never stops (the full budget's own run); or,
    for ``answer_confidence``, probed at each of the model's own Waits (and at each end that ``num_ignore``
    suppresses) by DEER with threshold 1, replayable for every threshold."""

    if strategy == StopStrategy.ANSWER_CONFIDENCE:
        never = AdaptiveStop(
            strategy=StopStrategy.ANSWER_CONFIDENCE,
            threshold=1.0,
            probe_transitions=True,
            probe_tokens=max_answer_tokens,
        )
    else:
        never = AdaptiveStop(probe_every=stride, probe_tokens=max_answer_tokens, agree=NEVER)
    return BudgetPolicy(
        max_thinking_tokens=cap, min_thinking_tokens=min_thinking_tokens, max_answer_tokens=max_answer_tokens,
        num_ignore=num_ignore, adaptive=never,
    )  # fmt: skip


def dense_records(
    engine: Engine, problems: Sequence[Problem], policy: BudgetPolicy, batch_size: int | None = None
) -> list[dict]:
    """Decode ``problems`` once under ``policy`` (:func:`dense_policy`) and grade them: the records
    :func:`replay_consistency` reads (one per problem, greedy)."""
    from s1lib.eval.grading import grade

    plain = policy.replace(adaptive=None)  # the prompt a fixed cap would see
    prompts = [engine.prompt_for(p.question, plain) for p in problems]
    bar = LineProgress(len(problems), "calibration decode", unit="problems")
    with bar.active():  # one long decode: heartbeat lines with the tokens decoded so far
        traces = engine.generate(prompts, policy, batch_size=batch_size)
    bar.update(len(problems))
    return [
        {
            "problem_id": p.id, "correct": grade(p, t.text, policy.delimiters).correct,
            "thinking_tokens": t.thinking_tokens, "policy": policy.to_dict(),
            "probes": [probe.to_dict() for probe in t.probes],
        }
        for p, t in zip(problems, traces, strict=True)
    ]  # fmt: skip


def calibrate_on(
    engine: Engine,
    problems: Sequence[Problem],
    cap: int,
    max_answer_tokens: int,
    grid: Sequence[Mapping[str, Any]],
    target: CalibrationTarget | None = None,
    batch_size: int | None = None,
) -> tuple[Calibration, list[dict]]:
    """Calibrate the rules of ``grid`` (in the order given, one strategy) at ``cap`` on the calibration
    ``problems``: one densely probed decode (every probe the grid would make), each rule replayed from it,
    :func:`calibrate`. Returns the calibration and the dense run's records."""
    from s1lib.eval.grading import compare

    target = target or CalibrationTarget()
    rules = [AdaptiveStop(**rule) for rule in grid]
    if not rules:
        raise ValueError("calibrate_on: the grid of rules is empty")
    if len(problems) < target.min_problems(len(rules)):
        raise ValueError(
            f"calibrate_on: {len(problems)} calibration problems; the target (harm rate <= "
            f"{target.max_accuracy_drop:g} with confidence {target.confidence:g}, {target.procedure}, "
            f"{len(rules)} rules) needs at least {target.min_problems(len(rules))}"
        )
    strategies = {rule.strategy for rule in rules}
    if len(strategies) > 1:
        raise ValueError(f"calibrate_on: the grid mixes strategies {sorted(strategies)}; calibrate one at a time")
    strategy = strategies.pop()
    stride = math.gcd(*(rule.probe_every for rule in rules)) if strategy == StopStrategy.PROBE_CONSISTENCY else None
    probing = f"a probe every {stride} tokens" if stride else "DEER's probe at each of the model's own Waits"
    print(
        f"calibration: {len(rules)} settings on {len(problems)} problems apart, from one decode at cap {cap} "
        f"with {probing}",
        flush=True,
    )
    policy = dense_policy(cap, max_answer_tokens, stride, strategy=strategy)
    records = dense_records(engine, problems, policy, batch_size)
    by_id = {p.id: p for p in problems}

    def grader(pid: str, answer: str | None) -> bool:
        problem = by_id[pid]
        return compare(problem.answer, answer, problem.kind) == "correct"

    reference = {r["problem_id"]: Outcome(bool(r["correct"]), float(r["thinking_tokens"])) for r in records}
    candidates = [Candidate(rule.label(), rule.to_dict(), replay(records, rule, grader)) for rule in rules]
    result = calibrate(reference, candidates, target)
    print(f"calibration: chose {result.chosen or 'no setting (none certified: the full budget)'}", flush=True)
    return result, records


def apart_from(calibration: Sequence[Any], held_out: Sequence[Any]) -> list[Any]:
    """``calibration`` problems, refused when one is also a reported (held-out) problem, by id or by question."""
    ids, questions = {p.id for p in held_out}, {p.question.strip() for p in held_out}
    for p in calibration:
        if p.id in ids or p.question.strip() in questions:
            raise ValueError(
                f"calibration problem {p.id!r} is also a reported problem ({p.question[:60]!r}): the calibration "
                "split must be apart from the problems it is reported on"
            )
    return list(calibration)


def calibration_problems(config: Any, calibration: CalibrationConfig, held_out: Sequence[Any]) -> list[Any]:
    """The calibration split of a sweep (``config``): ``calibration.data`` read like the sweep's benchmark, or toy
    problems drawn apart from ``held_out``; refused when it shares a problem with ``held_out``."""
    from s1lib.eval.benchmarks import load_any, toy_problem
    from s1lib.toy import toy_calibration

    benchmark = calibration.benchmark or config.benchmark
    fields = config.fields() if benchmark == config.benchmark else None
    if benchmark == "toy" and calibration.data is None:
        rows = toy_calibration(calibration.problems, [{"question": p.question} for p in held_out])
        problems = [toy_problem(row, "toy calibration", i) for i, row in enumerate(rows)]
    elif calibration.data is None and benchmark == config.benchmark:
        raise ValueError(
            f"SweepConfig.calibration.data: calibrating on {benchmark!r}, the reported benchmark, needs a file of "
            "problems apart from the reported ones (or calibration.benchmark: another benchmark)"
        )
    else:
        problems = load_any(benchmark, calibration.data, calibration.problems, config.seed, fields)
    if len(problems) < calibration.problems:
        raise ValueError(
            f"SweepConfig.calibration.data: {calibration.data} has {len(problems)} problems, "
            f"calibration.problems asks for {calibration.problems}"
        )
    return apart_from(problems, held_out)


def calibration_cap(config: Any) -> int:
    """The cap a sweep's calibrated rule runs at: ``calibration.cap``, else the sweep's largest rule cap."""
    cap = CalibrationConfig(**config.calibration).cap
    return cap or max(c for c in (config.rule_caps() or config.caps) if c is not None)


def sweep_calibration(config: Any, engine: Engine, held_out: Sequence[Problem]) -> Calibration:
    """The sweep's calibration (``config.calibration``), from ``calibration.json`` when the same settings and
    model chose it before, else decoded now and stored."""
    from s1lib.models import model_fingerprint

    calibration = CalibrationConfig(**config.calibration)
    if config.max_answer_tokens is None:
        raise ValueError("SweepConfig.calibration needs max_answer_tokens: the probe is the cap's own answer")
    cap = calibration_cap(config)
    key = {**asdict(calibration), "cap": cap, "max_answer_tokens": config.max_answer_tokens,
           "model": config.model, "model_fingerprint": model_fingerprint(config.model)}  # fmt: skip
    path = Path(config.output_dir) / CALIBRATION_FILE
    if path.is_file():
        stored = json.loads(path.read_text())
        if stored.get("key") == key:
            print(f"calibration: reusing {path} (chose {stored['result']['chosen']})", flush=True)
            result = stored["result"]
            return Calibration(**{**result, "target": CalibrationTarget(**result["target"])})
    problems = calibration_problems(config, calibration, held_out)
    grid = calibration.grid(config.max_answer_tokens)
    result, _ = calibrate_on(engine, problems, cap, config.max_answer_tokens, grid, calibration.target(),
                             config.batch_size)  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"key": key, "result": result.to_dict()}, indent=1) + "\n")
    return result


def calibrated_policy_entry(config: Any, calibration: Calibration) -> dict[str, Any] | None:
    """The ``SweepConfig.policies`` entry of the chosen setting (None when none was certified)."""
    if calibration.chosen_rule is None:
        return None
    cap = calibration_cap(config)
    rule = AdaptiveStop(**calibration.chosen_rule)
    return {
        "max_thinking_tokens": cap,
        "adaptive": rule.to_dict(),
        "ignore_strings": config.ignore_strings[0] if config.ignore_strings else "Wait",
        "label": f"calibrated cap={cap} {rule.label()}",
        "method": CALIBRATED_METHOD,
    }
