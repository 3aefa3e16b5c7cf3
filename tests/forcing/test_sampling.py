"""The sampler every backend shares: a generator on the logits' device (CUDA has no use for a CPU generator: torch
raises), a seed that reproduces a row whatever the batch holds, per-phase temperatures and min_p."""

from __future__ import annotations

import pytest
import torch

from s1lib.forcing import SamplingConfig
from s1lib.forcing.engine import Chooser

SAMPLED = SamplingConfig(temperature=0.8, top_p=0.9, top_k=20, seed=0)


def test_a_seeded_row_makes_its_generator_on_the_device_of_its_logits(monkeypatch):
    made: list[torch.device] = []

    class RecordingGenerator:  # stands in for a CUDA generator on a machine without one
        def __init__(self, device="cpu"):
            made.append(torch.device(device))
            self.device = torch.device(device)

        def manual_seed(self, seed):
            return self

    monkeypatch.setattr(torch, "Generator", RecordingGenerator)
    chooser = Chooser(SAMPLED, seed=3)
    assert chooser.generator_for(torch.device("cuda", 0)) is chooser.generator
    assert made == [torch.device("cuda", 0)]
    with pytest.raises(ValueError, match="stays on one device"):
        chooser.generator_for(torch.device("cpu"))
    assert Chooser(SamplingConfig(), seed=3).generator_for(torch.device("cuda", 0)) is None, "greedy draws nothing"


def test_on_cpu_the_generator_is_the_logits_device_and_a_seed_reproduces_the_row():
    logits = torch.randn(3, 200, generator=torch.Generator().manual_seed(1))
    chooser = Chooser(SAMPLED, seed=7)
    first = [chooser(logits[i % 3], frozenset(), None) for i in range(12)]
    assert chooser.generator.device == logits.device
    again = Chooser(SAMPLED, seed=7)
    assert [again(logits[i % 3], frozenset(), None) for i in range(12)] == first
    state = again.get_state()
    token = again(logits[0], frozenset(), None)
    again.set_state(state)  # a discarded decision rolled back draws the same number again
    assert again(logits[0], frozenset(), None) == token
    fresh = Chooser(SAMPLED, seed=7)
    fresh.set_state(fresh.get_state())  # nothing drawn yet: made afresh from the seed
    assert fresh(logits[0], frozenset(), None) == first[0]


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
