"""Overthinking and efficiency figures from hand-built samples with known positions."""

from __future__ import annotations

import pytest

from s1lib import viz
from s1lib.answers import answer_candidates
from s1lib.eval.efficiency import efficiency, first_correct_position, settled_position
from s1lib.eval.grading import compare

THINKING = "7 + 5: first 11? \\boxed{11}. Wait, check again: Answer: 12\nso it is \\boxed{12} for sure"
ANSWER = "<|im_start|>answer\nFinal Answer: \\boxed{12}"


def test_answer_candidates_are_the_extraction_rules_in_order():
    found = answer_candidates(THINKING)
    assert [a for _, a in found] == ["11", "12", "12"]
    assert [THINKING[:end].endswith(text) for end, text in zip([e for e, _ in found], ["11}", "12", "12}"])] == [
        True, True, True,
    ]  # fmt: skip
    assert answer_candidates("Answer: \\boxed{3}") == [(len("Answer: \\boxed{3}"), "3")], "a boxed line counts once"


@pytest.mark.parametrize(
    ("completion", "gold", "expected_end"),
    [
        (THINKING + ANSWER, "12", THINKING.index("Answer: 12") + len("Answer: 12")),
        (THINKING + ANSWER, "11", THINKING.index("{11}") + len("{11}")),
        (THINKING + ANSWER, "99", None),
        ("no answer while thinking" + ANSWER, "12", None),
        (THINKING, "12", THINKING.index("Answer: 12") + len("Answer: 12")),  # never closed: all of it is thinking
    ],
)
def test_the_first_correct_answer_in_the_thinking(completion, gold, expected_end):
    position = first_correct_position(completion, gold, "integer", "s1", lambda g, a, k: compare(g, a, k))
    thinking = completion.split("<|im_start|>answer")[0].strip()
    assert position == (None if expected_end is None else pytest.approx(expected_end / len(thinking), abs=0.02))


@pytest.mark.parametrize(
    ("thinking", "final", "expected_end"),
    [
        (THINKING, "12", THINKING.index("Answer: 12") + len("Answer: 12")),  # 11 first, then 12 for good
        (THINKING, "11", None),  # the thinking moved on from 11: it never settled there
        ("Answer: 5.\nWait, check.\nAnswer: 5.", "5", len("Answer: 5.")),  # an answer line ends at its line's end
        ("Answer: 5.\nWait.\nAnswer: 6.\nNo: Answer: 5.", "5", len("Answer: 5.\nWait.\nAnswer: 6.\nNo: Answer: 5.")),
        ("no answer while thinking", "12", None),
        (THINKING, None, None),  # no final answer: nothing to settle on
    ],
)
def test_where_the_final_answer_settles_in_the_thinking(thinking, final, expected_end):
    position = settled_position(thinking + ANSWER, final, "integer", "s1", lambda g, a, k: compare(g, a, k))
    assert position == (None if expected_end is None else pytest.approx(expected_end / len(thinking.strip()), abs=0.02))


def record(thinking_tokens, position, reason="natural"):
    return {"thinking_tokens": thinking_tokens, "first_correct_position": position, "thinking_end_reason": reason}


def test_efficiency_of_a_setting():
    records = [record(100, 0.25, "cap"), record(40, 0.5), record(60, None, None), record(80, None, "cap")]
    out = efficiency(records)
    assert out["cut_by_cap_rate"] == 0.5 and out["never_closed_rate"] == 0.25
    assert out["first_correct_in_thinking_rate"] == 0.5
    assert out["first_correct_position"] == pytest.approx(0.375)
    assert out["tokens_before_first_correct"] == pytest.approx((25 + 20) / 2)
    assert out["tokens_after_first_correct"] == pytest.approx((75 + 20) / 2)
    old = efficiency([{"thinking_tokens": 5, "thinking_end_reason": "cap"}])  # stored before positions existed
    assert old["first_correct_in_thinking_rate"] is None and old["cut_by_cap_rate"] == 1.0


def test_the_overthinking_figure_stacks_before_and_after():
    settings = [
        {"setting": "cap=8", "efficiency": efficiency([record(8, 0.5)])},
        {"setting": "cap=64", "efficiency": efficiency([record(64, 0.25), record(30, None)])},
    ]
    fig = viz.overthinking(settings)
    before, after = fig.data
    assert list(before.x) == ["cap=8", "cap=64"] and list(before.y) == [4.0, 16.0] and list(after.y) == [4.0, 48.0]
    assert fig.layout.barmode == "stack"
