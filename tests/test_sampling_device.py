"""A sampled row draws from a generator on its logits' device (CUDA has no use for a CPU generator: torch raises),
and a seed reproduces the row whatever the batch holds."""

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
