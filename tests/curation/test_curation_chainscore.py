"""LIMO's rule-based chain score on hand-made chains: each criterion moves its own part of the score."""

from __future__ import annotations

import pytest

from s1lib.curation.chainscore import (
    ChainScoreConfig,
    best_chain,
    chain_criteria,
    chain_features,
    chain_score,
    count_keywords,
    pick_chains,
)

BASE = "We add the numbers one at a time and write the total after each step until none are left over here."

# (criterion that must be higher, chain with more of it, chain with less of it)
MORE = [
    ("verification", BASE + " Let me verify: check each sum again.", BASE + " We write each sum again for you."),
    ("exploration", BASE + " Perhaps we might try another order.", BASE + " We then use the very same order."),
    (
        "granularity",
        BASE + " Therefore the total holds, since we added all.",
        BASE + " The total holds and we added all.",
    ),
    ("elaborated", BASE + " " + BASE + " " + BASE, BASE),
]


@pytest.mark.parametrize(("criterion", "more", "less"), MORE, ids=[m[0] for m in MORE])
def test_a_chain_with_more_of_a_criterion_scores_higher_on_it(criterion, more, less):
    assert chain_criteria(more)[criterion] > chain_criteria(less)[criterion]
    if criterion != "elaborated":  # the others are rates: same length, so only this criterion differs
        others = {k: v for k, v in chain_criteria(more).items() if k != criterion}
        assert others == pytest.approx({k: v for k, v in chain_criteria(less).items() if k != criterion}, abs=0.02)
        assert chain_score(more) > chain_score(less)


@pytest.mark.parametrize(
    ("text", "words", "count"),
    [
        ("Check it. CHECK it. checkbox.", ["check"], 2),  # case-insensitive, whole words only
        ("Let me double-check.", ["check", "double-check"], 1),  # longest match, no overlap
        ("What if we try? what if not", ["what if"], 2),  # phrases
        ("perhaps-ish", ["perhaps"], 0),  # a hyphenated compound is another word
        ("", ["check"], 0),
    ],
)
def test_keywords_match_whole_words_and_phrases(text, words, count):
    assert count_keywords(text, words) == count


def test_keyword_criteria_are_rates_per_100_words():
    text = " ".join(["word"] * 48 + ["verify", "check"])
    assert chain_features(text)["verification"] == pytest.approx(4.0)  # 2 matches in 50 words
    assert chain_features(text)["elaborated"] == 50


def test_weights_decide_which_criterion_counts():
    verify, explore = MORE[0][1], MORE[1][1]
    only_verify = ChainScoreConfig(weight_elaborated=0, weight_exploration=0, weight_granularity=0)
    only_explore = ChainScoreConfig(weight_elaborated=0, weight_verification=0, weight_granularity=0)
    assert chain_score(verify, only_verify) > chain_score(explore, only_verify)
    assert chain_score(explore, only_explore) > chain_score(verify, only_explore)


def test_keyword_lists_are_settings():
    custom = ChainScoreConfig(verification_words=["recompute"])
    assert chain_features("we recompute and verify", custom)["verification"] == pytest.approx(25.0)


def test_score_is_bounded_and_empty_chain_scores_zero():
    assert chain_score("") == 0.0
    assert 0 < chain_score(MORE[0][1]) < 1


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("weight_verification", -1, "weight_verification must be a number >= 0"),
        ("verification_words", [], "verification_words must be a non-empty list"),
        ("length_scale", 0, "length_scale must be a number > 0"),
    ],
)
def test_bad_settings_name_the_option(option, value, message):
    with pytest.raises(ValueError, match=message):
        ChainScoreConfig(**{option: value})


def test_all_zero_weights_and_unknown_options_are_refused():
    with pytest.raises(ValueError, match="sum to 0"):
        ChainScoreConfig(weight_elaborated=0, weight_verification=0, weight_exploration=0, weight_granularity=0)
    with pytest.raises(ValueError, match="Unknown chain_score option"):
        ChainScoreConfig.from_any({"weight": 1})


def test_best_chain_is_the_highest_and_ties_keep_the_first():
    cands = [{"chain": MORE[0][2]}, {"chain": MORE[0][1]}, {"chain": MORE[0][1]}]
    assert best_chain(cands) is cands[1]
    assert best_chain([]) is None


def _rec(row_id, samples):
    attempts = {f"m#{j}": {"attempt": text, "correct": ok} for j, (text, ok) in enumerate(samples, 1)}
    return {"row_id": row_id, "question": "q", "thinking_trajectories": None, "attempts": attempts}


def test_pick_chains_keeps_the_best_right_chain_and_drops_questions_without_one():
    wrong_but_long = MORE[3][1] + " Perhaps verify, therefore check. \\boxed{8}"
    recs = [
        _rec("a", [(BASE + " \\boxed{7}", True), (MORE[0][1] + " \\boxed{7}", True), (wrong_but_long, False)]),
        _rec("b", [(wrong_but_long, False), ("no", None)]),
    ]
    kept, drops = pick_chains(recs, [("m", 3)])
    assert [r["row_id"] for r in kept] == ["a"] and [(d.row_id, d.reason) for d in drops] == [("b", "no_correct_chain")]
    assert kept[0]["thinking_trajectories"] == [MORE[0][1] + " \\boxed{7}"]
    assert kept[0]["attempt"] == "\\boxed{7}" and kept[0]["chain_source"] == "m#2" and kept[0]["chain_candidates"] == 2
