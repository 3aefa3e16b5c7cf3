"""Calibrated adaptive budgets (s1lib.eval.calibration): Learn Then Test on scripted outcomes, table-driven, then
the replay of a densely probed run against the rule decoded for real."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from s1lib.eval.calibration import (
    CalibrationTarget,
    Candidate,
    Outcome,
    binomial_p_value,
    calibrate,
    cautious_order,
    replay_confidence,
    replay_consistency,
)
from s1lib.forcing.adaptive import AdaptiveStop


def split(n: int, right: int) -> dict[str, Outcome]:
    """A full budget's outcomes on ``n`` calibration problems, the first ``right`` of them right."""
    return {f"c{i}": Outcome(i < right, 64.0) for i in range(n)}


def candidate(label: str, reference: dict[str, Outcome], harms: int, thinking: float, gains: int = 0) -> Candidate:
    """A setting that loses the first ``harms`` problems the full budget gets right, wins ``gains`` it gets wrong,
    and thinks ``thinking`` tokens on each."""
    right = [pid for pid, o in reference.items() if o.correct]
    wrong = [pid for pid, o in reference.items() if not o.correct]
    lost, won = set(right[:harms]), set(wrong[:gains])
    outcomes = {
        pid: Outcome((o.correct and pid not in lost) or pid in won, thinking, 4.0) for pid, o in reference.items()
    }
    return Candidate(label, {"probe_every": 8, "agree": 2}, outcomes)


@pytest.mark.parametrize(
    ("harms", "n", "epsilon", "expected"),
    [
        (0, 200, 0.02, 0.98**200),
        (1, 200, 0.02, 0.98**200 + 200 * 0.02 * 0.98**199),
        (2, 50, 0.1, sum(math.comb(50, i) * 0.1**i * 0.9 ** (50 - i) for i in range(3))),
        (50, 50, 0.1, 1.0),
        (0, 5000, 0.001, 0.999**5000),  # large n: computed in logs, no overflow
    ],
)
def test_binomial_p_value(harms, n, epsilon, expected):
    assert binomial_p_value(harms, n, epsilon) == pytest.approx(expected, rel=1e-9)


# (procedure, n, [(label, harms, thinking)], certified labels, chosen): epsilon 0.02, confidence 0.9 throughout.
# Zero harms on 200 problems: p = 0.98^200 = 0.018; one harm: p = 0.090 (certified at 0.1, not at 0.1/3);
# three harms: p = 0.43.
CASES = [
    ("fixed_sequence", 200, [("a", 0, 40), ("b", 0, 30)], ["a", "b"], "b"),  # the cheapest certified
    ("fixed_sequence", 200, [("a", 0, 40), ("b", 3, 20), ("c", 0, 10)], ["a"], "a"),  # stops at b: c never tested
    ("fixed_sequence", 200, [("a", 3, 40), ("b", 0, 10)], [], None),  # the first fails: keep the full budget
    ("fixed_sequence", 200, [("a", 1, 40)], ["a"], "a"),
    ("bonferroni", 200, [("a", 0, 40), ("b", 3, 20), ("c", 0, 10)], ["a", "c"], "c"),  # order does not matter
    ("bonferroni", 200, [("a", 1, 40), ("b", 0, 50), ("c", 3, 10)], ["b"], "b"),  # 0.090 > 0.1/3
]


@pytest.mark.parametrize(("procedure", "n", "settings", "certified", "chosen"), CASES)
def test_calibrate_picks_what_the_math_says(procedure, n, settings, certified, chosen):
    reference = split(n, right=150)
    candidates = [candidate(label, reference, harms, thinking) for label, harms, thinking in settings]
    result = calibrate(reference, candidates, CalibrationTarget(0.02, 0.9, procedure))
    assert [t["label"] for t in result.tests if t["certified"]] == certified
    assert result.chosen == chosen and result.problems == n and result.reference_accuracy == 0.75
    assert ("Learn Then Test" in result.method) and procedure.replace("_", "-") in result.method
    tested = [t["tested"] for t in result.tests]
    if procedure == "fixed_sequence":  # tested up to the first one not certified, none after it
        first_failed = next((i for i, t in enumerate(result.tests) if not t["certified"]), len(settings))
        assert tested == [i <= first_failed for i in range(len(settings))]
    else:
        assert all(tested)


def test_a_setting_that_wins_back_what_it_loses_still_counts_its_harms():
    """The risk is the harm rate, not the net accuracy: losing 3 and winning 3 keeps the accuracy, not the bound."""
    reference = split(200, right=150)
    result = calibrate(reference, [candidate("a", reference, harms=3, thinking=20, gains=3)])
    assert result.tests[0]["accuracy"] == 0.75 and result.tests[0]["harms"] == 3 and result.chosen is None


@pytest.mark.parametrize(
    ("target", "candidates", "needed"),
    [
        (CalibrationTarget(0.02, 0.9), 1, 114),  # 0.98^114 <= 0.1 < 0.98^113
        (CalibrationTarget(0.05, 0.9), 1, 45),
        (CalibrationTarget(0.02, 0.9, "bonferroni"), 4, 183),  # level 0.025
        (CalibrationTarget(0.02, 0.9, "fixed_sequence"), 4, 114),  # each at the full level
    ],
)
def test_a_split_too_small_for_the_target_is_refused_with_the_size_it_needs(target, candidates, needed):
    assert target.min_problems(candidates) == needed
    assert (1 - target.max_accuracy_drop) ** needed <= target.level(candidates)
    assert (1 - target.max_accuracy_drop) ** (needed - 1) > target.level(candidates)
    reference = split(needed - 1, right=needed // 2)
    cands = [candidate(f"s{i}", reference, 0, 10) for i in range(candidates)]
    with pytest.raises(ValueError, match=f"has {needed - 1} problems.*needs at least {needed}"):
        calibrate(reference, cands, target)
    reference = split(needed, right=needed // 2)
    assert calibrate(reference, [candidate(f"s{i}", reference, 0, 10) for i in range(candidates)], target).chosen


def test_held_out_rows_are_never_read():
    """Only the calibration split's ids count: outcomes of any other problem, whatever they say, change nothing."""
    reference = split(200, right=150)
    cands = [candidate("a", reference, 0, 40), candidate("b", reference, 1, 20)]
    before = calibrate(reference, cands).to_dict()
    for cand in cands:
        cand.outcomes = {**cand.outcomes, **{f"held-{i}": Outcome(False, 0.0) for i in range(500)}}
    assert calibrate(reference, cands).to_dict() == before


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_accuracy_drop": 0}, "max_accuracy_drop"),
        ({"max_accuracy_drop": 1}, "max_accuracy_drop"),
        ({"max_accuracy_drop": -0.1}, "max_accuracy_drop"),
        ({"max_accuracy_drop": "2%"}, "max_accuracy_drop"),
        ({"confidence": 1.0}, "confidence"),
        ({"confidence": 0}, "confidence"),
        ({"confidence": True}, "confidence"),
        ({"procedure": "holm"}, "procedure"),
    ],
)
def test_a_bad_target_names_its_field(kwargs, field):
    with pytest.raises(ValueError, match=f"CalibrationTarget.{field} must be"):
        CalibrationTarget(**kwargs)


def test_an_empty_split_or_a_missing_outcome_is_named():
    with pytest.raises(ValueError, match="calibration split is empty"):
        calibrate({}, [Candidate("a", {}, {})])
    reference = split(200, right=100)
    partial = Candidate("half", {}, dict(list(reference.items())[:100]))
    with pytest.raises(ValueError, match="candidate 'half' has no outcome for calibration problem 'c100'"):
        calibrate(reference, [partial])
    with pytest.raises(ValueError, match="no candidate settings"):
        calibrate(reference, [])


def test_cautious_order_is_made_from_the_settings_alone():
    rules = [
        {"probe_every": 8, "agree": 2},
        {"probe_every": 16, "agree": 3},
        {"probe_every": 8, "agree": 4},
        {"probe_every": 16, "agree": 2},
        {"strategy": "answer_confidence", "threshold": 0.8},
        {"strategy": "answer_confidence", "threshold": 0.95},
    ]
    # latest possible stop: 16, 48, 32, 32 tokens; thresholds 0.95 before 0.8 (after every consistency rule)
    assert cautious_order(rules)[:4] == [1, 2, 3, 0]
    assert [rules[i].get("threshold") for i in cautious_order(rules)[4:]] == [0.95, 0.8]


@pytest.mark.parametrize("procedure", ["fixed_sequence", "bonferroni"])
def test_the_guarantee_holds_on_simulated_draws(procedure):
    """A setting whose true harm rate is 3% (above the 2% target) is certified in at most 10% of calibration draws,
    the confidence promised; one whose harm rate is 0.5% is certified in most of them."""
    rng = np.random.default_rng(0)
    draws, n = 400, 300
    certified = {"risky": 0, "safe": 0}
    for _ in range(draws):
        reference = {f"c{i}": Outcome(True, 64.0) for i in range(n)}
        cands = []
        for label, rate in (("safe", 0.005), ("risky", 0.03)):
            lost = rng.random(n) < rate
            cands.append(Candidate(label, {}, {f"c{i}": Outcome(not lost[i], 10.0) for i in range(n)}))
        for cand in cands:  # each alone, so fixed-sequence tests it
            result = calibrate(reference, [cand], CalibrationTarget(0.02, 0.9, procedure))
            certified[cand.label] += result.chosen is not None
    assert certified["risky"] / draws <= 0.10
    assert certified["safe"] / draws >= 0.6


# ------------------------------------------------------------------------------------------------ the replay
def dense_record(pid: str, thinking: int, probes: list[tuple[int, str]], correct: bool, cap: int = 32) -> dict:
    adaptive = {"strategy": "probe_consistency", "probe_every": 4, "agree": 10**9, "probe_tokens": 10}
    return {
        "problem_id": pid, "correct": correct, "thinking_tokens": thinking,
        "policy": {"max_thinking_tokens": cap, "min_thinking_tokens": 0, "adaptive": adaptive},
        "probes": [
            {"position": t, "thinking_tokens": t, "trigger": "interval", "num_tokens": 12, "answer": a}
            for t, a in probes
        ],
    }  # fmt: skip


def test_replay_reads_each_rules_stop_off_the_dense_run():

    answers = ["3", "5", "7", "7", "7", "7", "7"]
    records = [
        dense_record("p", 30, [(4 * (i + 1), a) for i, a in enumerate(answers)], correct=True),  # probes at 4..28
        dense_record("q", 9, [(4, "1"), (8, "1")], correct=False),  # ended by itself after 9 tokens
    ]
    grader = lambda pid, answer: answer == "7"  # noqa: E731
    every4 = replay_consistency(records, AdaptiveStop(probe_every=4, agree=2, probe_tokens=10), grader)
    assert every4["p"] == Outcome(True, 16.0, 48.0)  # 7 at 12 and 16: stop at 16 after 4 probes
    assert every4["q"] == Outcome(False, 8.0, 24.0)  # "1" twice: stopped at 8, graded wrong
    every8 = replay_consistency(records, AdaptiveStop(probe_every=8, agree=3, probe_tokens=10), grader)
    assert every8["p"] == Outcome(True, 30.0, 36.0)  # 5, 7, 7 at 8, 16, 24; none at the cap: never stopped
    assert every8["q"] == Outcome(False, 9.0, 12.0)  # one probe (8) before it ended


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"probe_every": 6, "agree": 2, "probe_tokens": 10}, "does not probe like the run"),
        ({"probe_every": 8, "agree": 2, "probe_tokens": 6}, "does not probe like the run"),
        ({"probe_every": 8, "agree": 2, "probe_tokens": 10, "probe_opening": " \\boxed{"}, "does not probe like"),
        ({"strategy": "answer_confidence", "probe_tokens": 10, "probe_every": 4}, "does not probe like the run"),
    ],
)
def test_replay_refuses_a_rule_that_probes_otherwise(rule, message):

    records = [dense_record("p", 30, [(4 * (i + 1), "7") for i in range(7)], correct=True)]
    with pytest.raises(ValueError, match=message):
        replay_consistency(records, AdaptiveStop(**rule), lambda pid, answer: True)


def test_replay_refuses_a_row_whose_probes_moved():

    records = [dense_record("p", 30, [(4, "7"), (9, "7"), (16, "7")], correct=True)]  # a forced token moved one
    with pytest.raises(ValueError, match="problem 'p' has no probe at 8 thinking tokens"):
        replay_consistency(records, AdaptiveStop(probe_every=4, agree=3, probe_tokens=10), lambda pid, a: True)
    twice = [dense_record("p", 30, [(4 * (i + 1), "7") for i in range(7)], correct=True)] * 2
    with pytest.raises(ValueError, match="several samples"):
        replay_consistency(twice, AdaptiveStop(probe_every=8, agree=9, probe_tokens=10), lambda pid, a: True)


def confidence_record(pid: str, thinking: int, probes: list[tuple[int, str, float]], correct: bool) -> dict:
    adaptive = {"strategy": "answer_confidence", "threshold": 1.0, "probe_transitions": True, "probe_tokens": 10}
    return {
        "problem_id": pid, "correct": correct, "thinking_tokens": thinking,
        "policy": {"max_thinking_tokens": 128, "min_thinking_tokens": 0, "adaptive": adaptive},
        "probes": [
            {"position": t, "thinking_tokens": t, "trigger": "transition", "num_tokens": 5, "answer": a,
             "confidence": c}
            for t, a, c in probes
        ],
    }  # fmt: skip


DEER_RUN = [
    confidence_record("p", 90, [(40, "7", 0.85), (70, "7", 0.97)], correct=True),  # two Waits, then it ended
    confidence_record("q", 60, [(30, "2", 0.92)], correct=True),  # confident and wrong before its check
    confidence_record("r", 50, [], correct=False),  # never started a Wait: nothing to probe
    confidence_record("s", 45, [(45, "4", 1.0)], correct=True),  # the run itself stopped (confidence 1)
]


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (0.99, {"p": Outcome(True, 90.0, 10.0), "q": Outcome(True, 60.0, 5.0), "s": Outcome(True, 45.0, 5.0)}),
        (0.95, {"p": Outcome(True, 70.0, 10.0), "q": Outcome(True, 60.0, 5.0), "s": Outcome(True, 45.0, 5.0)}),
        (0.9, {"p": Outcome(True, 70.0, 10.0), "q": Outcome(False, 30.0, 5.0), "s": Outcome(True, 45.0, 5.0)}),
        (0.8, {"p": Outcome(True, 40.0, 5.0), "q": Outcome(False, 30.0, 5.0), "s": Outcome(True, 45.0, 5.0)}),
    ],
)
def test_a_threshold_stops_at_the_first_probe_as_confident(threshold, expected):
    grader = {"p": "7", "q": "5", "r": "1", "s": "4"}
    rule = AdaptiveStop(strategy="answer_confidence", threshold=threshold, probe_transitions=True, probe_tokens=10)
    outcomes = replay_confidence(DEER_RUN, rule, lambda pid, answer: answer == grader[pid])
    assert outcomes == {**expected, "r": Outcome(False, 50.0, 0.0)}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"strategy": "answer_confidence", "probe_tokens": 6, "probe_transitions": True}, "does not probe like"),
        ({"strategy": "answer_confidence", "probe_tokens": 10}, "does not probe like the run"),  # no transitions
        ({"probe_every": 4, "agree": 2, "probe_tokens": 10}, "does not probe like the run"),
    ],
)
def test_the_confidence_replay_refuses_a_rule_that_probes_otherwise(rule, message):
    with pytest.raises(ValueError, match=message):
        replay_confidence(DEER_RUN, AdaptiveStop(**rule), lambda pid, answer: True)
    stopped_early = [{**DEER_RUN[0], "policy": {**DEER_RUN[0]["policy"], "adaptive": {
        **DEER_RUN[0]["policy"]["adaptive"], "threshold": 0.9}}}]  # fmt: skip
    higher = AdaptiveStop(strategy="answer_confidence", threshold=0.95, probe_transitions=True, probe_tokens=10)
    with pytest.raises(ValueError, match="may stop later than it did"):
        replay_confidence(stopped_early, higher, lambda pid, answer: True)


def test_the_confidence_grid_is_tested_from_the_highest_threshold():
    from s1lib.eval.calibrated_stop import CalibrationConfig

    config = CalibrationConfig(strategy="answer_confidence", threshold=[0.8, 0.99, 0.9], problems=200)
    assert [r["threshold"] for r in config.grid(10)] == [0.99, 0.9, 0.8]
    assert all(r["probe_transitions"] and r["probe_tokens"] == 10 for r in config.grid(10))
    for bad, message in [
        ({"strategy": "guess"}, "strategy must be one of"),
        ({"threshold": [1.5]}, "threshold must be"),
    ]:
        with pytest.raises(ValueError, match=f"SweepConfig.calibration.{message}"):
            CalibrationConfig(**{"strategy": "answer_confidence", **bad})


# ------------------------------------------------------------------------------------- on the real engine
def _replays_match_real_decodes(engine, dense, grid, replay_rule) -> int:
    """Decode the dense run on six toy calibration problems, then every rule of ``grid`` for real; each rule's
    replay (``replay_rule``) must give the real decode's answer (graded), thinking and probe tokens. Returns how
    many real decodes the rule stopped (a comparison where none stopped would show nothing)."""
    from s1lib.eval.benchmarks import toy_problem
    from s1lib.eval.calibrated_stop import dense_records
    from s1lib.eval.grading import compare, grade
    from s1lib.toy import toy_calibration

    problems = [toy_problem(row, "toy", i) for i, row in enumerate(toy_calibration(6))]
    records = dense_records(engine, problems, dense, batch_size=6)
    by_id = {p.id: p for p in problems}
    grader = lambda pid, a: compare(by_id[pid].answer, a, by_id[pid].kind) == "correct"  # noqa: E731
    stopped = 0
    for rule in grid(records):
        replayed = replay_rule(records, AdaptiveStop(**rule), grader)
        policy = dense.replace(adaptive=AdaptiveStop(**rule))
        prompts = [engine.prompt_for(p.question, policy.replace(adaptive=None)) for p in problems]
        for problem, trace in zip(problems, engine.generate(prompts, policy, batch_size=6), strict=True):
            real = Outcome(grade(problem, trace.text).correct, float(trace.thinking_tokens), float(trace.probe_tokens))
            assert replayed[problem.id] == real, (rule, problem.question, trace.text)
            stopped += trace.thinking_end_reason == "adaptive"
    return stopped


@pytest.mark.model
def test_a_replayed_rule_is_the_rule_decoded(embedded_model):
    """Each rule of the grid replayed from one densely probed run stops where the rule decoded for real stops,
        with the same answer graded the same, the same thinking and the same probe tokens (greedy, the embedded
        model on toy calibration problems: it ends its thinking at once, so a minimum of 40 tokens keeps it thinking
    and its probes from 40 on have something to agree on)."""
    from s1lib.backends.hf import HFEngine
    from s1lib.eval.calibrated_stop import consistency_grid, dense_policy

    dense = dense_policy(56, 10, 4, min_thinking_tokens=40)
    grid = lambda records: consistency_grid([4, 8], [2, 3], 10)  # noqa: E731
    stopped = _replays_match_real_decodes(HFEngine(*embedded_model), dense, grid, replay_consistency)
    assert stopped, "no rule stopped on any problem: the comparison would show nothing"


@pytest.mark.model
def test_a_replayed_threshold_is_the_threshold_decoded(embedded_model):
    """DEER's thresholds replayed from one run at threshold 1 stop where each threshold decoded for real stops, with
    the same answer, thinking and probe tokens (greedy, the embedded model on toy calibration problems; two ends
    suppressed with "Wait" give each row probes at its end attempts, besides any Wait of its own). The thresholds
    are the run's own median and lowest probe confidences, and 1."""
    from s1lib.backends.hf import HFEngine
    from s1lib.eval.calibrated_stop import confidence_grid, dense_policy

    def grid(records):
        confidences = sorted(p["confidence"] for r in records for p in r["probes"])
        assert confidences, "no probe in the dense run: the comparison would show nothing"
        picked = (confidences[len(confidences) // 2], confidences[0])
        return confidence_grid(sorted({1.0, *(max(round(c, 3), 0.001) for c in picked)}), 10)

    dense = dense_policy(48, 10, None, strategy="answer_confidence", num_ignore=2)
    stopped = _replays_match_real_decodes(HFEngine(*embedded_model), dense, grid, replay_confidence)
    assert stopped, "no threshold stopped on any problem: the comparison would show nothing"


# ------------------------------------------------------------------------------------------------ in a sweep
@pytest.mark.model
def test_a_sweep_adds_the_calibrated_setting_and_reuses_its_choice(tiny_model, tmp_path, capsys):
    """SweepConfig.calibration: the grid is replayed on toy problems apart from the held-out ones, the chosen
    setting joins the sweep as 'calibrated …' (method adaptive (calibrated)), the choice is in results.json and
    calibration.json, and a resumed sweep reuses it without decoding the calibration split again."""
    from s1lib.backends.hf import HFEngine
    from s1lib.eval.calibrated_stop import CALIBRATED_METHOD, CALIBRATION_FILE
    from s1lib.eval.sweep import SweepConfig, load_problems, run_sweep

    engine = HFEngine(*tiny_model)
    calibration = {"problems": 4, "probe_every": [2, 4], "agree": [1, 2], "max_accuracy_drop": 0.5,
                   "confidence": 0.6}  # fmt: skip
    config = SweepConfig(
        benchmark="toy", model="tiny", caps=[4, 8], adaptive=[{"probe_every": 4, "agree": 2, "probe_tokens": 2}],
        adaptive_caps=[8], calibration=calibration, max_answer_tokens=2, limit=3, batch_size=4,
        output_dir=str(tmp_path / "sweep"),
    )  # fmt: skip
    run = run_sweep(config, engine=engine, progress=False)
    chosen = run.results["calibration"]
    assert chosen["problems"] == 4 and len(chosen["tests"]) == 4 and "Learn Then Test" in chosen["method"]
    labels = {s["setting"]: s["method"] for s in run.results["settings"]}
    assert labels["cap=8 agree=2/4"] == "adaptive (probe_consistency, hand-picked)"
    if chosen["chosen"] is None:
        assert CALIBRATED_METHOD not in labels.values()
    else:
        assert labels[f"calibrated cap=8 {chosen['chosen']}"] == CALIBRATED_METHOD
    stored = json.loads((tmp_path / "sweep" / CALIBRATION_FILE).read_text())
    assert {**stored["result"], "cap": 8} == chosen and stored["key"]["cap"] == 8
    held_out = {p.id for p in load_problems(config)}
    assert not held_out & {f"toy-cal-{i}" for i in range(4)}
    capsys.readouterr()
    calls = []
    original = engine.generate
    engine.generate = lambda *a, **k: calls.append(1) or original(*a, **k)
    again = run_sweep(config, engine=engine, progress=False)
    assert "calibration: reusing" in capsys.readouterr().out and not calls, "resumed: nothing decoded again"
    assert again.results["calibration"] == chosen


def test_sweep_calibration_errors_name_the_field(tmp_path):
    from s1lib.eval.benchmarks import Problem
    from s1lib.eval.calibrated_stop import apart_from
    from s1lib.eval.sweep import SweepConfig

    base = {"benchmark": "toy", "caps": [8], "max_answer_tokens": 2, "output_dir": str(tmp_path)}
    cases = [
        ({"problems": 0}, "SweepConfig.calibration.problems must be a positive integer"),
        ({"max_accuracy_drop": 1.5}, "SweepConfig.calibration.max_accuracy_drop must be a number in"),
        ({"confidence": 1}, "SweepConfig.calibration.confidence must be"),
        ({"agree": []}, "SweepConfig.calibration.agree must be a non-empty list"),
        ({"problems": 50}, r"SweepConfig.calibration.problems: 50 .* needs at least 114"),
        ({"problem": 50}, "problem"),
    ]
    for calibration, message in cases:
        with pytest.raises(ValueError, match=message):
            SweepConfig(**base, calibration=calibration)
    with pytest.raises(ValueError, match="needs max_answer_tokens"):
        SweepConfig(**{**base, "max_answer_tokens": None}, calibration={})
    held = [Problem("toy-1", "Add: 1 2 3 4", "10", "integer", "toy")]
    with pytest.raises(ValueError, match="calibration problem 'toy-cal-0' is also a reported problem"):
        apart_from([Problem("toy-cal-0", "Add: 1 2 3 4", "10", "integer", "toy")], held)
