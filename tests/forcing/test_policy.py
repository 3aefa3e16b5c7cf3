"""Unit tests of the forcing state machine, driven by a scripted "model" over a small tokenizer built in the tests
(``doubles.small_tokenizer``: ChatML's special ids, one token per character), so they need no model files."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from doubles import IM_END, IM_START, PLAIN, ScriptedModel, ids
from doubles import small_tokenizer as build_small_tokenizer

from s1lib.forcing.policy import BudgetPolicy
from s1lib.forcing.state import ForcingState, Phase


@pytest.fixture(scope="module")
def small_tokenizer():
    return build_small_tokenizer()


def run(policy: BudgetPolicy, tokenizer, script: Sequence[int], limit: int = 500) -> ForcingState:
    state = ForcingState(policy.compile(tokenizer))
    model = ScriptedModel(script)
    for _ in range(limit):
        if state.done:
            break
        state.next_token(model)
    return state


def kinds(state: ForcingState) -> list[str]:
    return [f.kind for f in state.insertions]


def test_cap_forces_delimiter_and_final_answer(small_tokenizer):
    state = run(BudgetPolicy(max_thinking_tokens=5), small_tokenizer, [PLAIN] * 5 + [IM_END])
    end_ids, prefix_ids = ids(small_tokenizer, "<|im_start|>answer"), ids(small_tokenizer, "\nFinal Answer:")
    assert state.thinking_tokens == 5
    assert state.generated[5 : 5 + len(end_ids) + len(prefix_ids)] == end_ids + prefix_ids
    assert kinds(state) == ["end", "final_answer"]
    assert state.insertions[0].position == 5 and state.insertions[1].position == 5 + len(end_ids)
    assert state.thinking_end_reason == "cap"
    assert state.finish_reason == "stop" and state.generated[-1] == IM_END


def test_natural_end_appends_delimiter_only(small_tokenizer):
    state = run(BudgetPolicy(max_thinking_tokens=50), small_tokenizer, [PLAIN, PLAIN, IM_START, PLAIN, IM_END])
    end_ids = ids(small_tokenizer, "<|im_start|>answer")
    assert state.generated[: 2 + len(end_ids)] == [PLAIN, PLAIN, *end_ids]
    assert state.thinking_tokens == 2 and state.thinking_end_reason == "natural"
    assert "final_answer" not in kinds(state)
    # The model began the delimiter itself, so nothing is recorded as forced.
    assert state.insertions == []
    assert state.answer_tokens == 1


def test_eos_during_thinking_is_replaced_by_the_delimiter(small_tokenizer):
    state = run(BudgetPolicy(), small_tokenizer, [PLAIN, IM_END, PLAIN, IM_END])
    end_ids = ids(small_tokenizer, "<|im_start|>answer")
    assert state.generated[1 : 1 + len(end_ids)] == end_ids
    assert kinds(state) == ["end"] and state.insertions[0].reason == "natural"


def test_num_ignore_suppresses_end_and_appends_wait(small_tokenizer):
    wait = ids(small_tokenizer, "Wait")
    script = [PLAIN, IM_START, PLAIN, IM_END, PLAIN, IM_START, PLAIN, IM_END]
    state = run(BudgetPolicy(num_ignore=2), small_tokenizer, script)
    assert kinds(state)[:2] == ["wait", "wait"]
    assert state.generated[1 : 1 + len(wait)] == wait
    assert state.num_suppressed == 2
    # Third end attempt (IM_START) is allowed: natural end, no "Final Answer:".
    assert state.thinking_end_reason == "natural" and "final_answer" not in kinds(state)
    # Forced Waits count as thinking tokens: PLAIN, Wait, PLAIN, Wait, PLAIN.
    assert state.thinking_tokens == 3 + 2 * len(wait)


def test_budget_is_counted_across_wait_rounds(small_tokenizer):
    # The reference gave each round the full budget; ours caps the total.
    script = ([PLAIN] * 4 + [IM_START]) * 10
    state = run(BudgetPolicy(max_thinking_tokens=12, num_ignore=6), small_tokenizer, script)
    assert state.thinking_tokens == 12
    assert state.thinking_end_reason == "cap"
    assert kinds(state).count("wait") == 2 and kinds(state)[-2:] == ["end", "final_answer"]


def test_final_answer_forced_at_cap_even_with_rounds_left(small_tokenizer):
    state = run(BudgetPolicy(max_thinking_tokens=3, num_ignore=5), small_tokenizer, [PLAIN] * 10 + [IM_END])
    assert kinds(state) == ["end", "final_answer"]
    assert state.num_suppressed == 0


def test_cap_cuts_a_multi_token_ignore_string(small_tokenizer):
    alt = ids(small_tokenizer, "Hold on, let me check")
    assert len(alt) >= 2, "needs a multi-token ignore string"
    state = run(
        BudgetPolicy(max_thinking_tokens=2, num_ignore=1, ignore_strings="Hold on, let me check"),
        small_tokenizer,
        [PLAIN, IM_START, PLAIN, PLAIN, IM_END],
    )
    assert state.thinking_tokens == 2
    assert state.generated[:2] == [PLAIN, alt[0]]
    assert kinds(state) == ["wait", "end", "final_answer"]


def test_min_thinking_tokens_suppresses_until_reached(small_tokenizer):
    wait = ids(small_tokenizer, "Wait")
    script = [IM_START] * 3 + [PLAIN] * 20 + [IM_START, IM_END]
    state = run(BudgetPolicy(min_thinking_tokens=6), small_tokenizer, script)
    assert state.thinking_tokens >= 6
    assert kinds(state).count("wait") == 3
    assert state.generated[: 3 * len(wait)] == wait * 3


def test_ignore_strings_cycle(small_tokenizer):
    words = ["Wait", "Hmm", "Alternatively"]
    state = run(BudgetPolicy(num_ignore=4, ignore_strings=words), small_tokenizer, [IM_START] * 5 + [IM_END])
    texts = [small_tokenizer.decode(list(f.token_ids)) for f in state.insertions if f.kind == "wait"]
    assert texts == ["Wait", "Hmm", "Alternatively", "Wait"]


def test_no_ignore_string_takes_next_best_token(small_tokenizer):
    policy = BudgetPolicy(num_ignore=2, ignore_strings=None)
    state = ForcingState(policy.compile(small_tokenizer))
    model = ScriptedModel([IM_START, IM_END, IM_START, IM_END, IM_START])
    for _ in range(3):
        state.next_token(model)
    # Two suppressions: each asked again with the end tokens banned and got PLAIN+1.
    assert state.generated[:2] == [PLAIN + 1, PLAIN + 1]
    assert state.num_suppressed == 2 and all(f.token_ids == () for f in state.insertions[:2])
    assert IM_START in model.calls[1] and IM_END in model.calls[1]
    assert state.thinking_end_reason == "natural"


def test_max_answer_tokens(small_tokenizer):
    state = run(BudgetPolicy(max_answer_tokens=3), small_tokenizer, [IM_START] + [PLAIN] * 10)
    assert state.answer_tokens == 3 and state.finish_reason == "length"
    assert state.generated[-1] == IM_END


def test_zero_budget_answers_at_once(small_tokenizer):
    state = run(BudgetPolicy(max_thinking_tokens=0), small_tokenizer, [PLAIN, IM_END])
    assert state.thinking_tokens == 0 and kinds(state) == ["end", "final_answer"]


def test_multi_token_delimiters(small_tokenizer):
    end_ids = ids(small_tokenizer, "</think>")
    assert len(end_ids) > 1, "</think> is several tokens for SmolLM2"
    # Natural end: the model chooses the first token, the rest is completed.
    state = run(BudgetPolicy(delimiters="think-tags"), small_tokenizer, [PLAIN, end_ids[0], PLAIN, IM_END])
    assert state.generated[1 : 1 + len(end_ids)] == end_ids and state.thinking_tokens == 1
    assert state.phase is Phase.DONE and state.answer_tokens == 1
    # Cap with a custom pair of strings.
    policy = BudgetPolicy(max_thinking_tokens=2, delimiters=("<reasoning>", "</reasoning>"))
    state = run(policy, small_tokenizer, [PLAIN] * 5 + [IM_END])
    custom_end = ids(small_tokenizer, "</reasoning>")
    assert state.generated[2 : 2 + len(custom_end)] == custom_end
    assert kinds(state) == ["end", "final_answer"]


def test_without_a_thinking_phase_the_model_answers_at_once(small_tokenizer):
    """An instruction model's plain answer: its first token is the answer's, nothing is forced, even <|im_start|>."""
    policy = BudgetPolicy(thinking_phase=False, max_answer_tokens=4)
    state = run(policy, small_tokenizer, [PLAIN, IM_START, PLAIN, PLAIN, PLAIN, PLAIN])
    assert state.generated == [PLAIN, IM_START, PLAIN, PLAIN, IM_END] and state.insertions == []
    assert state.thinking_tokens == 0 and state.answer_tokens == 4 and state.finish_reason == "length"
    assert (state.thinking_end_position, state.answer_start_position, state.thinking_end_reason) == (0, 0, "none")
    assert policy.compile(small_tokenizer).max_new_tokens() == 5 and policy.label() == "no thinking"
    ended = run(BudgetPolicy(thinking_phase=False), small_tokenizer, [PLAIN, IM_END])
    assert ended.generated == [PLAIN, IM_END] and ended.finish_reason == "stop"
    assert BudgetPolicy(**policy.to_dict()) == policy


@pytest.mark.parametrize(
    ("kwargs", "field_name"),
    [
        ({"thinking_phase": False, "max_thinking_tokens": 10}, "max_thinking_tokens"),
        ({"thinking_phase": False, "min_thinking_tokens": 3}, "min_thinking_tokens"),
        ({"thinking_phase": False, "num_ignore": 1}, "num_ignore"),
        ({"thinking_phase": "no"}, "thinking_phase"),
        ({"max_thinking_tokens": -1}, "max_thinking_tokens"),
        ({"min_thinking_tokens": -5}, "min_thinking_tokens"),
        ({"num_ignore": -1}, "num_ignore"),
        ({"max_answer_tokens": -2}, "max_answer_tokens"),
        ({"min_thinking_tokens": 10, "max_thinking_tokens": 5}, "min_thinking_tokens"),
        ({"num_ignore": 2, "ignore_strings": []}, "ignore_strings"),
        ({"ignore_strings": ["Wait", ""]}, "ignore_strings"),
        ({"delimiters": "nope"}, "delimiters"),
        ({"max_thinking_tokens": 2.5}, "max_thinking_tokens"),
    ],
)
def test_invalid_settings_name_the_field(kwargs, field_name):
    with pytest.raises(ValueError, match=field_name):
        BudgetPolicy(**kwargs)


def test_budget_larger_than_context_is_rejected():
    policy = BudgetPolicy(max_thinking_tokens=8000)
    with pytest.raises(ValueError, match="max_thinking_tokens.*context of 8192"):
        policy.validate(context_length=8192, prompt_length=300)
    policy.validate(context_length=8192, prompt_length=100)


def test_unencodable_delimiter_is_rejected():
    class EmptyTokenizer:
        eos_token_id = 2
        unk_token_id = None

        def encode(self, text, add_special_tokens=False):
            return [] if "think" in text else [5]

    with pytest.raises(ValueError, match="think_start"):
        BudgetPolicy().compile(EmptyTokenizer())


def test_label_and_dict_round_trip():
    policy = BudgetPolicy(max_thinking_tokens=100, num_ignore=2)
    assert policy.label() == "cap=100 wait×2"
    assert BudgetPolicy(**policy.to_dict()) == policy
