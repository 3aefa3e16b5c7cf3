"""Prefix-shared sweeps must be token-identical to independent runs of every setting (greedy decoding)."""

from __future__ import annotations

import pytest
from doubles import end_provoker

from s1lib.backends.hf import HFEngine
from s1lib.backends.prefix_sharing import SweepStats, envelope_policy, generate_sweep, group_key, replay
from s1lib.forcing import BudgetPolicy, SamplingConfig

QUESTIONS = [
    "How many r are in the word raspberry?",
    "What is 7 + 5?",
    "Name a prime number larger than ten and explain briefly why it is prime.",
]


GRID = [
    BudgetPolicy(max_thinking_tokens=6, max_answer_tokens=4),
    BudgetPolicy(max_thinking_tokens=14, min_thinking_tokens=14, max_answer_tokens=4),
    BudgetPolicy(max_thinking_tokens=24, num_ignore=1, max_answer_tokens=3),
    BudgetPolicy(max_thinking_tokens=24, num_ignore=3, max_answer_tokens=4),
    BudgetPolicy(max_thinking_tokens=20, num_ignore=2, ignore_strings=None, max_answer_tokens=3),  # banned choices
    BudgetPolicy(max_thinking_tokens=20, num_ignore=2, ignore_strings=["Hmm", "Wait"], max_answer_tokens=3),
]


@pytest.fixture(scope="module")
def tiny_engine(tiny_model):
    return HFEngine(*tiny_model)


def _same(shared, independent):
    for traces_a, traces_b in zip(shared, independent, strict=True):
        for a, b in zip(traces_a, traces_b, strict=True):
            assert a.generated_ids == b.generated_ids
            assert a.to_dict() == b.to_dict()


@pytest.mark.parametrize("batch_size", [1, 3])
def test_shared_sweep_is_token_identical_to_independent_runs_tiny(tiny_engine, batch_size):
    prompts = [tiny_engine.prompt_for(q) for q in QUESTIONS[:3]]
    stats = SweepStats()
    shared = generate_sweep(
        tiny_engine, prompts, GRID, batch_size=batch_size, extra_processors=[end_provoker], stats=stats
    )
    independent = [
        tiny_engine.generate(prompts, p, batch_size=batch_size, extra_processors=[end_provoker]) for p in GRID
    ]
    _same(shared, independent)
    assert any(t.num_waits for traces in independent for t in traces), "the grid must exercise forced Waits"
    assert any(t.thinking_end_reason == "natural" for traces in independent for t in traces)
    assert stats.groups == 3 and stats.branches > 0
    assert stats.shared_tokens < sum(len(t.generated_ids) for traces in independent for t in traces)


def test_sampling_falls_back_to_independent_runs(tiny_engine):
    prompts = [tiny_engine.prompt_for(q) for q in QUESTIONS[:2]]
    sampling = SamplingConfig(temperature=1.0, seed=3)
    stats = SweepStats()
    shared = generate_sweep(tiny_engine, prompts, GRID[:2], sampling, batch_size=2, stats=stats)
    independent = [tiny_engine.generate(prompts, p, sampling, batch_size=2) for p in GRID[:2]]
    _same(shared, independent)
    assert stats.shared_tokens == 0 and stats.independent_tokens > 0


def test_an_engine_without_the_capability_runs_every_policy_independently(tiny_engine, monkeypatch):
    """Sharing is a flag on the engine (``Engine.shares_prefixes``), never a question of which backend it is."""
    prompts = [tiny_engine.prompt_for(q) for q in QUESTIONS[:2]]
    monkeypatch.setattr(tiny_engine, "shares_prefixes", False)
    stats = SweepStats()
    alone = generate_sweep(tiny_engine, prompts, GRID[:3], batch_size=2, stats=stats)
    assert stats.groups == 0 and stats.shared_tokens == 0 and stats.independent_tokens > 0
    monkeypatch.undo()
    _same(alone, generate_sweep(tiny_engine, prompts, GRID[:3], batch_size=2))


def test_envelope_and_groups():
    env = envelope_policy(GRID[:4])
    assert (env.max_thinking_tokens, env.min_thinking_tokens, env.num_ignore, env.max_answer_tokens) == (24, 14, 3, 4)
    assert envelope_policy([GRID[0], BudgetPolicy()]).max_thinking_tokens is None
    assert group_key(GRID[0]) == group_key(GRID[3]) != group_key(GRID[4])
    with pytest.raises(ValueError, match="do not share"):
        envelope_policy([GRID[0], GRID[4]])


def test_replay_branches_at_the_cap(smollm_tokenizer):
    """Pure state-machine replay: a cap-3 state follows the recorded row, then forces the delimiter at 3."""
    big = BudgetPolicy(max_thinking_tokens=10).compile(smollm_tokenizer)
    small = BudgetPolicy(max_thinking_tokens=3).compile(smollm_tokenizer)
    row = [100, 101, 102, 103, 104]
    result = replay(small, row, row)
    assert result.shared == 3 and not result.complete
    assert result.state.generated[:3] == row[:3] and result.state.generated[3] == small.think_end_ids[0]
    # A choice beyond the recorded row needs the live model: the state stops right there.
    longer = replay(BudgetPolicy(max_thinking_tokens=8).compile(smollm_tokenizer), row, row)
    assert longer.shared == 5 and len(longer.state.generated) == 5 and not longer.complete
    assert big.policy.max_thinking_tokens == 10


@pytest.mark.model
@pytest.mark.slow
def test_shared_sweep_is_token_identical_embedded(embedded_model):
    engine = HFEngine(*embedded_model)
    grid = [
        BudgetPolicy(max_thinking_tokens=8, min_thinking_tokens=8, max_answer_tokens=3),
        BudgetPolicy(max_thinking_tokens=24, min_thinking_tokens=24, max_answer_tokens=3),
        BudgetPolicy(max_thinking_tokens=24, num_ignore=1, max_answer_tokens=3),
        BudgetPolicy(max_thinking_tokens=24, num_ignore=2, max_answer_tokens=3),
    ]
    prompts = [engine.prompt_for(q) for q in QUESTIONS[:2]]
    shared = generate_sweep(engine, prompts, grid, batch_size=2)
    independent = [engine.generate(prompts, p, batch_size=2) for p in grid]
    _same(shared, independent)
    assert sum(t.num_waits for traces in independent for t in traces) > 0
