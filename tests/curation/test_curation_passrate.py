"""LIMO's pass-rate band: k of N sampled attempts right, at the band's edges; sampling, caching, resuming."""

from __future__ import annotations

import pytest

from s1lib.curation.answer_cache import AnswerCache
from s1lib.curation.passrate import PassBand, band_reason, run_pass_bands, sample_names
from s1lib.toy import toy_sampler
from s1lib.toy.solver import solve_probability

FINE = PassBand("fine", samples=32, min_correct=1, max_correct=3)  # LIMO: R1-Distill-Qwen-32B, 1-3 of 32
COARSE = PassBand("coarse", samples=4, min_correct=0, max_correct=0)  # Qwen2.5-Math-7B: solved at all -> dropped


@pytest.mark.parametrize(
    ("band", "right", "ungradable", "reason"),
    [
        (FINE, 0, 0, "too_hard:fine"),
        (FINE, 1, 0, None),  # the lower edge is kept
        (FINE, 3, 0, None),  # the upper edge is kept
        (FINE, 4, 0, "too_easy:fine"),
        (FINE, 32, 0, "too_easy:fine"),
        (FINE, 0, 1, "ungradable:fine"),  # one ungradable attempt could have put it in the band
        (FINE, 4, 5, "too_easy:fine"),  # ungradable attempts cannot make it harder
        (COARSE, 0, 0, None),
        (COARSE, 1, 0, "too_easy:coarse"),
        (PassBand("all", 4, 4, 4), 3, 0, "too_hard:all"),
    ],
)
def test_band_edges(band, right, ungradable, reason):
    assert band_reason(right, ungradable, band) == reason


@pytest.mark.parametrize(
    "values",
    [{"samples": 0}, {"min_correct": 4, "max_correct": 3}, {"max_correct": 33}, {"min_correct": -1}],
)
def test_impossible_bands_are_refused(values):
    with pytest.raises(ValueError, match="pass_bands"):
        PassBand.from_any({"model": "m", **values})


def _records(counts: dict[str, int]) -> list[dict]:
    return [{"row_id": q, "question": q, "answer": "1", "answer_kind": "integer"} for q in counts]


def scripted(right: dict[str, int]):
    """An attempt_fn whose first right[q] samples of question q (in a call) are right, the rest wrong."""
    calls = []

    def fn(questions):
        calls.append(len(questions))
        seen: dict[str, int] = {}
        out = []
        for q in questions:
            seen[q] = seen.get(q, 0) + 1
            out.append("\\boxed{1}" if seen[q] <= right[q] else "\\boxed{2}")
        return out

    fn.calls = calls
    return fn


def test_bands_run_in_order_on_survivors_and_count_every_sample(tmp_path):
    coarse_right = {"easy": 2, "a": 0, "b": 0, "c": 0}
    fine_right = {"easy": 32, "a": 0, "b": 2, "c": 9}
    coarse, fine = scripted(coarse_right), scripted(fine_right)
    cache = AnswerCache(tmp_path / "attempts.jsonl")
    kept, drops, stats = run_pass_bands(
        _records(coarse_right), [COARSE, FINE], {"coarse": coarse, "fine": fine}, cache, batch_size=2
    )
    assert [r["row_id"] for r in kept] == ["b"]
    assert {d.row_id: d.reason for d in drops} == {
        "easy": "too_easy:coarse",
        "a": "too_hard:fine",
        "c": "too_easy:fine",
    }
    assert kept[0]["pass_counts"] == {"coarse": [0, 4], "fine": [2, 32]}
    assert sum(coarse.calls) == 4 * 4 and sum(fine.calls) == 3 * 32  # the fine band samples survivors only
    assert stats["fine"]["kept"] == 1 and set(kept[0]["attempts"]) == set(
        sample_names("coarse", 4) + sample_names("fine", 32)
    )
    again, fresh = scripted(fine_right), scripted(coarse_right)  # a resumed run: everything from the cache
    kept2, _, stats2 = run_pass_bands(_records(coarse_right), [COARSE, FINE], {"coarse": fresh, "fine": again}, cache)
    assert [r["row_id"] for r in kept2] == ["b"] and fresh.calls == again.calls == []
    assert stats2["fine"]["cached"] == 3 * 32


def test_a_model_returning_too_few_answers_fails_loudly():
    with pytest.raises(RuntimeError, match="returned 1 answers for 4 prompts"):
        run_pass_bands(_records({"a": 0}), [COARSE], {"coarse": lambda qs: ["x"]})


def test_toy_sampler_samples_repeats_independently_and_reproducibly():
    q = "Add: 1 2 3 4 5 6"  # 6 items: right with probability 1/4 for max_items 4
    answers = toy_sampler(4)([q] * 200)
    right = sum(a.endswith("\\boxed{21}.") for a in answers)
    assert 30 < right < 70 and solve_probability(6, 4) == 0.25
    assert toy_sampler(4)([q] * 200) == answers != toy_sampler(4, seed=1)([q] * 200)
    assert all("\\boxed{21}" in a for a in toy_sampler(6)([q] * 5))
