"""Baselines: the reference's exact prompt texts, rejection sampling within a budget, seeded majority voting."""

from __future__ import annotations

import pytest

from s1lib.backends.hf import HFEngine
from s1lib.eval.metrics import vote_metrics
from s1lib.forcing import BudgetPolicy, SamplingConfig
from s1lib.forcing.baselines import (
    class_conditional_suffix,
    fits,
    rejection_sample,
    sample_many,
    sample_seed,
    step_conditional_suffix,
    token_conditional_suffix,
)


@pytest.fixture(scope="module")
def tiny_engine(tiny_model):
    return HFEngine(*tiny_model)


def test_prompt_texts_are_the_reference_ones(tiny_engine):
    assert token_conditional_suffix(4096) == "\n\nThink for up to 4096 tokens."
    assert step_conditional_suffix(64) == "\n\nThink for up to 64 steps."
    assert class_conditional_suffix("short") == (
        "\n\nAnswer after a short amount of thinking. Do not spend excessive time double-checking your work."
    )
    assert class_conditional_suffix("long").startswith("\n\nAnswer after a long amount of thinking. If you feel")
    assert class_conditional_suffix("long").endswith("absolutely sure that you have the correct answer.")
    prompt = tiny_engine.prompt_for("What is 2+2?", suffix=token_conditional_suffix(2048))
    assert "What is 2+2?\n\nThink for up to 2048 tokens." in prompt
    with pytest.raises(ValueError, match="positive"):
        token_conditional_suffix(0)
    with pytest.raises(ValueError, match="long"):
        class_conditional_suffix("medium")


def test_sample_seeds_are_distinct():
    seeds = {sample_seed(0, i, j) for i in range(50) for j in range(64)}
    assert len(seeds) == 50 * 64


def test_rejection_sampling_reports_tries_and_fit(tiny_engine):
    prompts = [tiny_engine.prompt_for(q) for q in ("What is 7 + 5?", "Count to three.")]
    policy = BudgetPolicy(max_answer_tokens=2)

    def provoke_end_sometimes(input_ids, scores):
        scores = scores.clone()
        scores[input_ids[:, -1] % 3 == 0, 1] += 6.0  # <|im_start|> likely but not certain: some tries fit
        return scores

    results = rejection_sample(tiny_engine, prompts, budget=3, policy=policy, max_tries=6, batch_size=2,
                               extra_processors=[provoke_end_sometimes])  # fmt: skip
    assert len(results) == 2
    for r in results:
        assert 1 <= r.tries <= 6
        assert r.fit == fits(r.trace, 3)
        assert r.trace.thinking_tokens <= 4  # each try is capped at budget + 1
        if r.fit:
            assert r.trace.thinking_tokens <= 3 and r.trace.thinking_end_reason == "natural"
        else:
            assert r.tries == 6
    assert any(r.tries > 1 for r in results) or all(r.fit for r in results)
    with pytest.raises(ValueError, match="greedy"):
        rejection_sample(tiny_engine, prompts, 3, sampling=SamplingConfig(temperature=0))


def test_sample_many_is_seeded_and_diverse(tiny_engine):
    prompts = [tiny_engine.prompt_for("What is 7 + 5?")]
    policy = BudgetPolicy(max_thinking_tokens=6, max_answer_tokens=2)
    first = sample_many(tiny_engine, prompts, 3, policy, batch_size=3)
    again = sample_many(tiny_engine, prompts, 3, policy, batch_size=1)
    assert [t.generated_ids for t in first[0]] == [t.generated_ids for t in again[0]]
    assert len({tuple(t.generated_ids) for t in first[0]}) > 1


def test_vote_metrics():
    samples = [[("5", True), ("4", False), ("5", True), ("4", False)], [("1", False), (None, False), ("2", True),
                                                                         ("1", False)]]  # fmt: skip
    out = vote_metrics(samples)
    assert set(out) == {"maj@1", "cov@1", "maj@2", "cov@2", "maj@4", "cov@4"}
    assert out["maj@4"] == 0.5 and out["cov@4"] == 1.0 and out["maj@1"] == 0.5
