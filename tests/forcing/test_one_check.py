"""A call is tokenized and checked once, at the engine's one boundary (``prepare_many``), and every layer below
trusts the :class:`~s1lib.forcing.engine.Request` it made."""

from __future__ import annotations

import pytest

from s1lib.backends.hf import HFEngine
from s1lib.backends.prefix_sharing import iter_sweep
from s1lib.forcing import BudgetPolicy


@pytest.fixture
def counted(tiny_model, monkeypatch):
    """The tiny engine, counting how often prompts are tokenized and policies fitted to the context."""
    engine = HFEngine(*tiny_model)
    calls = {"encode": 0, "fits": 0}
    encode, fits = engine.encode_prompts, engine.check_fits

    def counting_encode(prompts):
        calls["encode"] += 1
        return encode(prompts)

    def counting_fits(policy, longest):
        calls["fits"] += 1
        return fits(policy, longest)

    monkeypatch.setattr(engine, "encode_prompts", counting_encode)
    monkeypatch.setattr(engine, "check_fits", counting_fits)
    return engine, calls


@pytest.mark.parametrize("share_prefix", [True, False], ids=["shared", "independent"])
def test_a_sweep_is_checked_once_whatever_its_batches(counted, share_prefix):
    engine, calls = counted
    prompts = [engine.prompt_for(q) for q in ("What is 2+3?", "What is 7*6?", "Spell cat.")]
    policies = [BudgetPolicy(max_thinking_tokens=c, max_answer_tokens=3) for c in (4, 8)]
    batches = list(iter_sweep(engine, prompts, policies, batch_size=2, share_prefix=share_prefix))
    assert len(batches) == 2 and all(len(b.traces) == 2 for b in batches)
    assert calls == {"encode": 1, "fits": len(policies)}


def test_a_request_keeps_its_rows_checked(counted):
    engine, calls = counted
    (request,) = engine.prepare_many(["a", "bb", "ccc"], [BudgetPolicy(max_thinking_tokens=4)], seeds=[5, 6, 7])
    part = request.rows([2, 0])
    assert part.prompt_ids == [request.prompt_ids[2], request.prompt_ids[0]] and part.seeds == [7, 5]
    assert part.compiled is request.compiled and calls == {"encode": 1, "fits": 1}
    with pytest.raises(ValueError, match="batch_size"):
        engine.run(part, batch_size=0)
