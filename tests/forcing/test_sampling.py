"""The sampler every backend shares: a seed that reproduces a row whatever the batch holds (Gumbel-max with noise hashed
from the seed and the draw count, no generator, so batched and single draws agree), per-phase temperatures, top-k,
top-p and min_p."""

from __future__ import annotations

import pytest
import torch

from s1lib.forcing import SamplingConfig
from s1lib.forcing.engine import Chooser
from s1lib.forcing.sampling import draw_rows

SAMPLED = SamplingConfig(temperature=0.8, top_p=0.9, top_k=20, seed=0)


def test_a_row_draws_the_same_alone_or_in_any_batch():
    """A seeded row's draw depends on its seed, its draw counter and its logits only: drawn alone, in a batch, or in
    another batch in another order, rows with different settings get the same tokens (no generator: CUDA too)."""
    settings = [
        SAMPLED,
        SamplingConfig(temperature=1.0, seed=0),
        SamplingConfig(temperature=0.7, min_p=0.05, seed=0),
        SamplingConfig(temperature=1.2, top_p=0.5, seed=0),
        SamplingConfig(temperature=0.0, temperature_thinking=0.9, top_k=5, seed=0),
        SamplingConfig(temperature=0.6, top_k=50, top_p=0.95, min_p=0.02, seed=0),
    ]
    logits = torch.randn(len(settings), 3000, generator=torch.Generator().manual_seed(2)) * 3
    thinking = [True, False, True, False, False, True]

    def alone():
        return [
            Chooser(s, seed=10 + i)(logits[i], frozenset(), None, t) for i, (s, t) in enumerate(zip(settings, thinking))
        ]

    order = [4, 1, 5, 0, 3]
    batch = draw_rows([Chooser(settings[i], seed=10 + i) for i in order], logits[order], [thinking[i] for i in order])
    expected = alone()
    assert expected == alone()
    assert batch.tolist() == [expected[i] for i in order]
    assert expected[4] == int(logits[4].argmax()), "temperature 0 in the answer: the argmax"


def test_a_seed_reproduces_the_row_and_a_rollback_draws_again():
    logits = torch.randn(3, 200, generator=torch.Generator().manual_seed(1))
    chooser = Chooser(SAMPLED, seed=7)
    first = [chooser(logits[i % 3], frozenset(), None) for i in range(12)]
    assert len(set(first)) > 1
    again = Chooser(SAMPLED, seed=7)
    assert [again(logits[i % 3], frozenset(), None) for i in range(12)] == first
    assert [Chooser(SAMPLED, seed=8)(logits[i % 3], frozenset(), None) for i in range(12)] != first
    state = again.get_state()
    token = again(logits[0], frozenset(), None)
    again.set_state(state)  # a discarded decision rolled back draws the same number again
    assert again(logits[0], frozenset(), None) == token
    fresh = Chooser(SAMPLED, seed=7)
    fresh.set_state(fresh.get_state())
    assert fresh(logits[0], frozenset(), None) == first[0]
    torch.manual_seed(5)
    unseeded = Chooser(SAMPLED)(logits[0], frozenset(), None)
    torch.manual_seed(5)
    assert Chooser(SAMPLED)(logits[0], frozenset(), None) == unseeded, "torch.manual_seed reproduces unseeded rows"


def test_an_offered_draw_is_taken_once_at_its_counter_and_phase():
    logits = torch.randn(2, 500, generator=torch.Generator().manual_seed(3))
    chooser = Chooser(SAMPLED, seed=1)
    alone = Chooser(SAMPLED, seed=1)(logits[0], frozenset(), None, True)
    chooser.offer(alone, thinking=False)
    assert chooser(logits[0], frozenset(), None, True) == alone, "another phase: drawn afresh, the same token"
    chooser.offer(-1, thinking=True)
    chooser.draws += 1  # a draw made since (by a caller that did not take the offer)
    assert chooser(logits[0], frozenset(), None, True) != -1, "an offer of an earlier counter is not taken"
    chooser.offer(123, thinking=True)
    assert chooser(logits[0], frozenset({5}), None, True) != 123, "a banned draw is drawn afresh"
    chooser.offer(123, thinking=True)
    chooser.withdraw()
    assert chooser(logits[0], frozenset(), None, True) != 123


def test_the_draws_follow_the_distribution():
    """Gumbel-max with hashed noise: the frequencies are the filtered softmax's."""
    logits = torch.log(torch.tensor([0.5, 0.25, 0.15, 0.07, 0.03]))
    chooser = Chooser(SamplingConfig(temperature=1.0, seed=0), seed=0)
    counts = torch.bincount(torch.tensor([chooser(logits, frozenset(), None) for _ in range(4000)]), minlength=5)
    assert torch.allclose(counts / 4000, logits.exp(), atol=0.03)
    nucleus = Chooser(SamplingConfig(temperature=1.0, top_p=0.8, seed=0), seed=0)
    assert {nucleus(logits, frozenset(), None) for _ in range(300)} == {0, 1, 2}, "0.5 + 0.25 < 0.8: three kept"
    top2 = Chooser(SamplingConfig(temperature=1.0, top_k=2, seed=0), seed=0)
    assert {top2(logits, frozenset({0}), None) for _ in range(300)} == {1, 2}, "banned first, then the top 2"


def test_each_phase_samples_at_its_own_temperature():
    flat = torch.zeros(50)
    flat[7] = 0.5  # the argmax, by a little
    per_phase = Chooser(SamplingConfig(temperature=0.0, temperature_thinking=1.0, seed=1), seed=1)
    assert not per_phase.sampling.greedy
    answers = {per_phase(flat, frozenset(), None, thinking=False) for _ in range(30)}
    thoughts = {per_phase(flat, frozenset(), None, thinking=True) for _ in range(30)}
    assert answers == {7}, "the answer is greedy: temperature 0"
    assert len(thoughts) > 5, "the thinking samples at temperature_thinking"
    both = Chooser(SamplingConfig(temperature=1.0, seed=1), seed=1)
    assert len({both(flat, frozenset(), None, thinking=False) for _ in range(30)}) > 5, "None: one temperature"
    assert SamplingConfig(temperature=0.7, temperature_thinking=0.0).temperature_for(thinking=True) == 0.0


def test_min_p_drops_what_is_far_below_the_top_token():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    chooser = Chooser(SamplingConfig(temperature=1.0, min_p=0.4, seed=0), seed=0)
    drawn = {chooser(logits, frozenset(), None) for _ in range(300)}
    assert drawn == {0, 1}, "0.15 and 0.05 are below 0.4 x 0.5"


@pytest.mark.parametrize(
    ("values", "field"),
    [({"min_p": 1.0}, "min_p"), ({"min_p": -0.1}, "min_p"), ({"temperature_thinking": -1.0}, "temperature_thinking")],
)
def test_bad_sampling_values_name_the_field(values, field):
    with pytest.raises(ValueError, match=f"SamplingConfig.{field}"):
        SamplingConfig(**values)


@pytest.mark.model
def test_a_per_phase_temperature_changes_only_its_phase(tiny_model):
    """On the tiny model: sampling only the answer leaves the thinking greedy (token for token), sampling only the
    thinking changes it; a seed reproduces both."""
    from doubles import end_provoker

    from s1lib.backends.hf import HFEngine
    from s1lib.forcing import BudgetPolicy

    engine = HFEngine(*tiny_model)
    policy = BudgetPolicy(max_thinking_tokens=24, num_ignore=1, max_answer_tokens=12)
    prompts = [engine.prompt_for(q) for q in ("What is 7 + 5?", "How many r are in raspberry?", "2 + 2?")]

    def run(sampling=None):
        return engine.generate(prompts, policy, sampling, batch_size=3, extra_processors=[end_provoker])

    greedy = run()
    answer_only = run(SamplingConfig(temperature=1.5, temperature_thinking=0.0, seed=4))
    thinking_only = run(SamplingConfig(temperature=0.0, temperature_thinking=1.5, seed=4))
    assert [t.thinking_text for t in answer_only] == [t.thinking_text for t in greedy]
    assert [t.answer_text for t in answer_only] != [t.answer_text for t in greedy]
    assert [t.thinking_text for t in thinking_only] != [t.thinking_text for t in greedy]
    again = run(SamplingConfig(temperature=0.0, temperature_thinking=1.5, seed=4))
    assert [t.generated_ids for t in again] == [t.generated_ids for t in thinking_only]


def test_a_draw_does_not_move_with_the_last_bits_of_the_logits():
    """Batching changes a row's logits in their last bits (padding, other kernels); the draw must not follow them,
    even over a nearly flat distribution of 49,152 tokens (a tiny random model's), where an inverse CDF flips."""
    logits = torch.randn(64, 49_152, generator=torch.Generator().manual_seed(4)) * 0.1
    nudged = logits * (1 + 1e-6)
    choosers = [Chooser(SamplingConfig(temperature=1.0, seed=0), seed=s) for s in range(64)]
    same = draw_rows(choosers, logits, [False] * 64) == draw_rows(choosers, nudged, [False] * 64)
    assert int(same.sum()) >= 63


def test_the_noise_is_uniform_and_differs_between_draws():
    from s1lib.forcing.sampling import draw_key, gumbel_noise

    keys = torch.tensor([draw_key(7, n) for n in range(4)])
    noise = gumbel_noise(keys, 20_000)
    u = torch.exp(-torch.exp(-noise))  # back to the uniforms
    assert abs(float(u.mean()) - 0.5) < 0.01 and abs(float(u.var()) - 1 / 12) < 0.005
    assert float(torch.corrcoef(u)[0, 1:].abs().max()) < 0.05, "draws of one row are not correlated"
    assert torch.equal(noise, gumbel_noise(keys, 20_000)), "a pure function of key and token"
