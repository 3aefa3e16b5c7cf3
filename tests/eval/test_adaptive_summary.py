"""The calibrated rule's report (s1lib.eval.adaptive_summary), on hand-built sweeps whose figures are known."""

from __future__ import annotations

import pytest

from s1lib.eval.adaptive_summary import adaptive_summary, hindsight_share, summary_lines
from s1lib.eval.calibrated_stop import CALIBRATED_METHOD
from s1lib.eval.efficiency import efficiency
from s1lib.eval.metrics import paired_difference_interval
from s1lib.eval.store import summarize

FIXED = "budget forcing"
RULE = "calibrated cap=64 agree=3/16"


def _record(setting: str, method: str, i: int, correct: bool, thinking: int, **extra) -> dict:
    return {
        "setting": setting, "method": method, "problem_id": f"p{i}", "sample": 0,
        "status": "correct" if correct else "wrong", "correct": correct, "thinking_tokens": thinking,
        "answer_tokens": 3, "probe_tokens": extra.pop("probe_tokens", 0), "budget": [0, 64], **extra,
    }  # fmt: skip


def sweep(rule_thinking: int = 30, rule_right: int = 9, with_rule: bool = True) -> tuple[dict, list[dict]]:
    """Ten problems. cap=16: 3 right at 16 tokens; cap=32: 8 right at 32; cap=64: 9 right at 60 tokens, whose first
    correct answer sits at half the thinking on every right row, where every row's final answer settles; the rule:
    ``rule_right`` right at ``rule_thinking`` tokens with 12 probe tokens each."""
    records = []
    for i in range(10):
        records.append(_record("cap=16", FIXED, i, i < 3, 16))
        records.append(_record("cap=32", FIXED, i, i < 8, 32))
        records.append(
            _record("cap=64", FIXED, i, i < 9, 60, first_correct_position=0.5 if i < 9 else None, settled_position=0.5)
        )
        if with_rule:
            records.append(_record(RULE, CALIBRATED_METHOD, i, i < rule_right, rule_thinking, probe_tokens=12))
    order = ["cap=16", "cap=32", "cap=64"] + ([RULE] if with_rule else [])
    results = summarize(records, order)
    caps = {"cap=16": 16, "cap=32": 32, "cap=64": 64, RULE: 64}
    for s in results["settings"]:
        s["method"] = CALIBRATED_METHOD if s["setting"] == RULE else FIXED
        s["policy"] = {"max_thinking_tokens": caps[s["setting"]]}
    results["calibration"] = {
        "problems": 200, "method": "fixed-sequence testing", "cap": 64, "chosen": "agree=3/16" if with_rule else None,
        "target": {"max_accuracy_drop": 0.05, "confidence": 0.9, "procedure": "fixed_sequence"},
    }  # fmt: skip
    return results, records


@pytest.mark.parametrize(
    ("rule_thinking", "rule_right", "matched", "saving", "delta"),
    [
        (30, 9, "cap=64", 0.5, 0.0),  # as accurate as the full budget at half its thinking
        (30, 8, "cap=32", 1 - 30 / 32, 0.0),  # one point down: cap=32 reaches that accuracy
        (40, 8, "cap=32", 1 - 40 / 32, 0.0),  # dearer than the fixed budget of equal accuracy: a negative saving
        (20, 10, "cap=64", 1 - 20 / 60, 0.1),  # more accurate than any fixed budget: the most accurate one
    ],
)
def test_the_saving_is_against_the_cheapest_fixed_budget_of_equal_accuracy(
    rule_thinking, rule_right, matched, saving, delta
):
    results, records = sweep(rule_thinking, rule_right)
    summary = adaptive_summary(results, records)
    assert summary["calibrated"] and summary["setting"] == RULE
    assert summary["matched_fixed"]["setting"] == matched
    assert summary["matched_fixed"]["reaches"] == (rule_right <= 9)
    assert summary["token_saving"] == pytest.approx(saving)
    assert summary["accuracy_delta"]["difference"] == pytest.approx(delta)
    assert summary["probe_overhead"] == pytest.approx(12 / rule_thinking)
    assert summary["saving_vs_full"] == pytest.approx(1 - rule_thinking / 60)
    # Every row of the full budget has half its 60 tokens after its final answer settled; the nine right rows
    # after their first correct answer.
    assert summary["hindsight_bound"] == pytest.approx(0.5)
    assert summary["hindsight_first_correct"] == pytest.approx(9 * 30 / 600)
    assert summary["saving_over_hindsight"] == pytest.approx((1 - rule_thinking / 60) / 0.5)


def test_the_accuracy_deltas_carry_the_paired_interval():
    results, records = sweep(30, 8)
    summary = adaptive_summary(results, records)
    expected = paired_difference_interval([i < 8 for i in range(10)], [i < 9 for i in range(10)])
    vs_full = summary["accuracy_vs_full"]
    assert vs_full["difference"] == pytest.approx(-0.1)
    assert (vs_full["ci_low"], vs_full["ci_high"]) == pytest.approx((expected.low, expected.high))
    assert vs_full["ci_low"] < vs_full["difference"] < vs_full["ci_high"]
    lines = summary_lines(summary)
    assert lines[0].startswith(f"reported: {RULE} (calibrated on 200 problems apart: fixed-sequence testing)")
    assert "token saving 6%, accuracy +0 points" in lines[1] and "accuracy -10 points" in lines[2]
    assert "hindsight bound 50%" in lines[2]


def test_without_a_calibration_nothing_is_summarised_and_without_a_certified_rule_the_full_budget_is():
    results, records = sweep()
    del results["calibration"]
    assert adaptive_summary(results, records) is None and summary_lines(None) == []
    results, records = sweep(with_rule=False)
    summary = adaptive_summary(results, records)
    assert not summary["calibrated"] and summary["setting"] == "cap=64"
    assert summary["chosen_by"] == "calibration certified no rule: the full budget"
    assert summary["saving_vs_full"] == 0 and summary["probe_overhead"] == 0


def test_a_calibrated_cap_without_its_fixed_budget_is_refused():
    results, records = sweep()
    results["calibration"]["cap"] = 128
    with pytest.raises(ValueError, match="no fixed budget at the calibrated cap 128"):
        adaptive_summary(results, records)


def _share(rows: list[dict], after: str = "first_correct") -> float | None:
    return hindsight_share(efficiency(rows), sum(r["thinking_tokens"] for r in rows) / len(rows), after)


def test_the_hindsight_share_counts_unlocated_thinking_as_spent_before_the_answer():
    rows = [
        {"thinking_tokens": 100, "first_correct_position": 0.25},
        {"thinking_tokens": 100, "first_correct_position": None},
    ]
    assert _share(rows) == pytest.approx(75 / 200)
    assert _share([{"thinking_tokens": 0, "first_correct_position": 0.5}]) is None
    assert _share([{"thinking_tokens": 10}]) is None


def test_the_settled_share_counts_wrong_rows_whose_answer_settled_too():
    rows = [
        {"thinking_tokens": 100, "first_correct_position": 0.25, "settled_position": 0.25},
        {"thinking_tokens": 100, "first_correct_position": None, "settled_position": 0.5},  # wrong, but settled
        {"thinking_tokens": 100, "first_correct_position": None, "settled_position": None},
    ]
    assert _share(rows, "settled") == pytest.approx((75 + 50) / 300)
    assert _share(rows) == pytest.approx(75 / 300)
    assert _share([{"thinking_tokens": 10, "first_correct_position": 0.5}], "settled") is None  # stored before
