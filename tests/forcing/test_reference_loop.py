"""The reference's multi-call loop (what the forcing benchmarks compare against): its rounds on a scripted backend,
and the same greedy tokens as our single-pass engine on the embedded model."""

from __future__ import annotations

import pytest

from s1lib.forcing import BudgetPolicy
from s1lib.forcing.reference_loop import reference_multicall


def _scripted(compiled, script):
    """A backend where the row whose prompt ends in ``m`` gives ``script[m][k]`` = (new tokens, stopped) in its k-th
    round (cut to its budget); the tokens of the c-th call are ``500 + c``."""
    calls, rounds = [], {m: 0 for m in script}

    def think(rows, budgets, stop_ids):
        assert set(stop_ids) == compiled.end_attempt_ids
        out = []
        for row, budget in zip(rows, budgets):
            n, stopped = script[row[1]][rounds[row[1]]]
            rounds[row[1]] += 1
            out.append(([500 + len(calls)] * min(n, budget), stopped))
        calls.append(budgets)
        return out

    def answer(rows):
        return [[900, 2] for _ in rows]

    return think, answer, calls


def test_rounds_budget_and_waits(smollm_tokenizer):
    policy = BudgetPolicy(max_thinking_tokens=10, num_ignore=2, max_answer_tokens=4)
    compiled = policy.compile(smollm_tokenizer)
    wait, w = compiled.ignore_ids[0], len(compiled.ignore_ids[0])
    script = {
        9: [(3, True), (2, True), (1, True)],  # stops each round; the third stop is final (2 Waits spent)
        8: [(20, False)],  # never stops: capped in round one
        7: [(0, True), (0, True), (0, True)],  # stops at once each round
    }
    think, answer, calls = _scripted(compiled, script)
    out = reference_multicall([[1, 9], [1, 8], [1, 7]], compiled, think, answer)
    # the budget counts across rounds, Waits included; the capped row leaves the active set
    assert calls == [[10, 10, 10], [10 - 3 - w, 10 - w], [10 - 5 - 2 * w, 10 - 2 * w]]
    end, prefix = compiled.think_end_ids, compiled.answer_prefix_ids
    assert out[0] == [500] * 3 + wait + [501] * 2 + wait + [502] + end + [900, 2]
    assert out[1] == [500] * 10 + end + prefix + [900, 2]  # capped: "Final Answer:" is forced
    assert out[2] == wait + wait + end + [900, 2]


def test_empty_request_list_ends_the_loop(smollm_tokenizer):
    """Every row used its budget in round one: the reference crashed on the empty list; here the loop ends."""
    compiled = BudgetPolicy(max_thinking_tokens=4, num_ignore=3, max_answer_tokens=2).compile(smollm_tokenizer)
    think, answer, calls = _scripted(compiled, {5: [(9, False)], 6: [(9, False)]})
    out = reference_multicall([[1, 5], [1, 6]], compiled, think, answer)
    assert len(calls) == 1 and all(o[:4] == [500] * 4 for o in out)


@pytest.mark.slow
@pytest.mark.model
def test_same_tokens_as_our_engine(embedded_model):
    """Greedy, one row at a time (no padding): the reference's rounds and our single pass decode the same ids."""
    from s1lib.backends.hf import HFEngine
    from s1lib.benches.forcing import reference_multicall as on_transformers

    engine = HFEngine(*embedded_model)
    policy = BudgetPolicy(max_thinking_tokens=24, num_ignore=2, max_answer_tokens=6)
    waits = 0
    for question in ["How many r are in the word raspberry?", "What is 7 + 5?"]:
        ids = engine.encode_prompts([engine.prompt_for(question, policy)])
        ours = engine.generate(ids, policy)[0]
        assert on_transformers(engine, ids, policy)[0] == ours.generated_ids
        waits += ours.num_waits
    assert waits > 0, "the comparison must exercise forced Waits"
