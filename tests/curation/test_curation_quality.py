"""Formatting rules (table-driven) and missing-feature reasons."""

from __future__ import annotations

import pytest

from s1lib.curation.quality import (
    DEFAULT_RULES,
    FormatRule,
    filter_format,
    filter_missing,
    missing_reason,
    rule_from_config,
)


@pytest.mark.parametrize(
    ("question", "source", "rule"),
    [
        ("Look at [asy]draw((0,0)--(1,1));[/asy] and find x.", "MATH", "asy_figure"),
        ("Look at [asy]draw((0,0)--(1,1));[/asy] and find x.", "qq8933/AIME_1983_2024", None),
        ("See ![Image](http://x/y.png) above.", "MATH", "image_link"),
        ("p1. Show that x>0. p2. Find y.", "aops", "p_enumeration"),
        ("Problem p12. is here", "aops", "p_enumeration"),
        ("Use step1. then go", "aops", None),
        ("**1.** Find x.", "aops", "bold_with_digits"),
        ("**Problem 3** Find x.", "aops", None),  # the reference regex allows no space inside
        ("**Bold** words only", "aops", None),
        ("Compute $2^{10}$ exactly.", "MATH", None),
    ],
)
def test_reference_rules(question, source, rule):
    rec = {"row_id": "r", "question": question, "source_type": source}
    kept, drops = filter_format([rec], DEFAULT_RULES)
    assert (drops[0].reason if drops else None) == (f"format:{rule}" if rule else None)
    assert len(kept) + len(drops) == 1


def test_user_rules_regex_and_callable():
    rules = [rule_from_config({"name": "url", "regex": r"https?://"}), FormatRule("too_short", lambda q: len(q) < 5)]
    recs = [
        {"row_id": str(i), "question": q, "source_type": "s"} for i, q in enumerate(["see http://a", "hi", "fine q"])
    ]
    kept, drops = filter_format(recs, rules)
    assert [d.reason for d in drops] == ["format:url", "format:too_short"] and kept[0]["row_id"] == "2"
    with pytest.raises(ValueError, match="bad regex"):
        rule_from_config({"name": "bad", "regex": "("})


def _full(**over):
    rec = {
        "row_id": "r",
        "question": "q",
        "solution": "s",
        "thinking_trajectories": ["t"],
        "trace_grade": True,
        "domain": "05",
        "trace_length": 10,
    }
    rec.update(over)
    return rec


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({}, None),
        ({"thinking_trajectories": None}, "no_trace"),
        ({"thinking_trajectories": [""]}, "no_trace"),
        ({"solution": None}, "no_solution"),
        ({"trace_grade": None}, "no_grade"),
        ({"trace_grade": False}, None),
        ({"domain": None}, "no_domain"),
        ({"trace_length": None}, "no_length"),
        ({"solution": None, "domain": None}, "no_solution"),
    ],
)
def test_missing_reasons(over, reason):
    assert missing_reason(_full(**over)) == reason


def test_missing_each_reason_reported_and_configurable():
    recs = [_full(row_id="a", solution=None), _full(row_id="b", domain=None), _full(row_id="c")]
    kept, drops = filter_missing(recs)
    assert [r["row_id"] for r in kept] == ["c"]
    assert [d.reason for d in drops] == ["no_solution", "no_domain"]
    _, drops = filter_missing(recs, required=["no_domain"])
    assert [d.row_id for d in drops] == ["b"]
    with pytest.raises(ValueError):
        filter_missing(recs, required=["no_colour"])
