"""The transformers backend against an oracle: a straightforward re-implementation of the reference's multi-call loop.

The oracle re-submits the whole id sequence after each "Wait" (a fresh ``generate`` per round, no cache kept),
with the budget counted across rounds (our fix). Our single pass must be token-identical for greedy decoding.
"""

from __future__ import annotations

import threading

import pytest
import torch
from doubles import end_provoker

from s1lib.backends.hf import HFEngine
from s1lib.forcing import BudgetPolicy, SamplingConfig

QUESTIONS = [
    "How many r are in the word raspberry?",
    "What is 7 + 5?",
    "Name a prime number larger than ten and explain briefly why it is prime.",
    "Count the letters: a b c d e f g.",
]


def greedy_continue(model, ids: list[int], max_new: int, stop_ids: list[int], extra) -> tuple[list[int], bool]:
    """One reference "call": greedy continuation from scratch (re-prefill), stopping before a stop token."""
    if max_new <= 0:
        return [], False
    from transformers import LogitsProcessorList

    out = model.generate(
        input_ids=torch.tensor([ids]),
        attention_mask=torch.ones(1, len(ids), dtype=torch.long),
        do_sample=False,
        max_new_tokens=max_new,
        eos_token_id=stop_ids,
        pad_token_id=0,
        logits_processor=LogitsProcessorList(extra),
        temperature=None,
        top_p=None,
        top_k=None,
    )[0, len(ids) :].tolist()
    for i, token in enumerate(out):
        if token in stop_ids:
            return out[:i], True
    return out, False


def reference_loop(engine: HFEngine, prompt: str, policy: BudgetPolicy, extra=()) -> list[int]:
    """The reference's multi-call budget forcing, ids-level, with the budget counted across rounds."""
    tok, model = engine.tokenizer, engine.model
    compiled = engine.compile(policy)
    end_ids, prefix_ids = compiled.think_end_ids, compiled.answer_prefix_ids
    stop_ids = sorted(compiled.end_attempt_ids)
    cap = policy.max_thinking_tokens
    ids = tok.encode(prompt, add_special_tokens=False)
    start = len(ids)
    used, capped = 0, True
    for round_index in range(policy.num_ignore + 1):
        remaining = cap - used
        if remaining <= 0:
            break
        out, stopped = greedy_continue(model, ids, remaining, stop_ids, list(extra))
        ids += out
        used += len(out)
        if not stopped:
            break
        if round_index == policy.num_ignore:
            capped = False
            break
        wait = compiled.ignore_ids[round_index % len(compiled.ignore_ids)][: cap - used]
        ids += wait
        used += len(wait)
    ids += end_ids + (prefix_ids if capped else [])
    answer, _ = greedy_continue(model, ids, policy.max_answer_tokens, sorted(compiled.eos_token_ids), list(extra))
    ids += answer
    ids.append(min(compiled.eos_token_ids))  # ours closes the turn at the answer cap too
    return ids[start:]


POLICIES = [
    BudgetPolicy(max_thinking_tokens=16, max_answer_tokens=8),
    BudgetPolicy(max_thinking_tokens=40, num_ignore=2, max_answer_tokens=8),
    BudgetPolicy(max_thinking_tokens=24, num_ignore=6, max_answer_tokens=6),  # every row hits the cap early
    BudgetPolicy(
        max_thinking_tokens=60, num_ignore=3, ignore_strings=["Wait", "Hmm", "Alternatively"], max_answer_tokens=8
    ),
]


@pytest.fixture(scope="module")
def tiny_engine(tiny_model):
    return HFEngine(*tiny_model)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.label())
def test_single_pass_matches_reference_loop_tiny(tiny_engine, policy):
    prompts = [tiny_engine.prompt_for(q, policy) for q in QUESTIONS]
    traces = tiny_engine.generate(prompts, policy, extra_processors=[end_provoker], batch_size=1)
    saw_wait = False
    for prompt, trace in zip(prompts, traces):
        expected = reference_loop(tiny_engine, prompt, policy, [end_provoker])
        assert trace.generated_ids == expected
        assert trace.thinking_tokens <= policy.max_thinking_tokens
        saw_wait |= trace.num_waits > 0
    if policy.num_ignore:
        assert saw_wait, "the oracle test must exercise forced Waits"


def test_every_row_hits_cap_before_last_round(tiny_engine):
    """The reference crashed with an empty request list here; every trace must still get an answer phase."""
    policy = BudgetPolicy(max_thinking_tokens=5, num_ignore=6, max_answer_tokens=4)
    traces = tiny_engine.generate([tiny_engine.prompt_for(q) for q in QUESTIONS], policy)
    for trace in traces:
        assert trace.thinking_tokens == 5
        assert [f.kind for f in trace.forced][-2:] == ["end", "final_answer"]
        assert trace.answer_text.startswith("\nFinal Answer:")


def test_batch_equals_alone_tiny(tiny_engine):
    policy = BudgetPolicy(max_thinking_tokens=30, num_ignore=2, max_answer_tokens=6)
    prompts = [tiny_engine.prompt_for(q) for q in QUESTIONS]
    assert len({len(tiny_engine.tokenizer.encode(p)) for p in prompts}) > 1, "prompts must differ in length"
    batched = tiny_engine.generate(prompts, policy, extra_processors=[end_provoker], batch_size=4)
    for prompt, trace in zip(prompts, batched):
        alone = tiny_engine.generate([prompt], policy, extra_processors=[end_provoker])[0]
        assert trace.generated_ids == alone.generated_ids
        assert [f.to_dict() for f in trace.forced] == [f.to_dict() for f in alone.forced]
        assert trace.prompt == prompt


def test_sampling_is_seeded_and_batch_independent(tiny_engine):
    policy = BudgetPolicy(max_thinking_tokens=12, max_answer_tokens=4)
    sampling = SamplingConfig(temperature=1.0, top_p=0.9, seed=7)
    prompts = [tiny_engine.prompt_for(q) for q in QUESTIONS[:3]]
    first = tiny_engine.generate(prompts, policy, sampling, batch_size=3)
    again = tiny_engine.generate(prompts, policy, sampling, batch_size=1)
    assert [t.generated_ids for t in first] == [t.generated_ids for t in again]
    other = tiny_engine.generate(prompts, policy, SamplingConfig(temperature=1.0, seed=8), batch_size=3)
    assert [t.generated_ids for t in first] != [t.generated_ids for t in other]


def test_stream_events_rebuild_the_trace(tiny_engine):
    policy = BudgetPolicy(max_thinking_tokens=20, num_ignore=2, max_answer_tokens=5)
    prompt = tiny_engine.prompt_for(QUESTIONS[0])
    events = list(tiny_engine.stream(prompt, policy))
    done = events[-1]
    assert done.kind == "done" and done.trace is not None
    token_ids = [e.token_id for e in events if e.kind in ("token", "forced")]
    assert token_ids == done.trace.generated_ids
    marked = [e.insertion.kind for e in events if e.insertion is not None]
    assert marked == [f.kind for f in done.trace.forced]
    phases = [e.phase for e in events if e.kind == "phase"]
    assert phases == ["answer", "done"]
    counters = [e.thinking_tokens for e in events if e.kind in ("token", "forced")]
    assert counters == sorted(counters) and max(counters) == done.trace.thinking_tokens
    text = "".join(e.text for e in events if e.kind in ("token", "forced"))
    assert text.startswith(done.trace.thinking_text)


def test_stop_interrupts_within_a_token_and_engine_stays_usable(tiny_engine):
    policy = BudgetPolicy(max_thinking_tokens=1000, min_thinking_tokens=900, max_answer_tokens=5)
    prompt = tiny_engine.prompt_for(QUESTIONS[0])
    seen = 0
    done = None
    for event in tiny_engine.stream(prompt, policy):
        if event.kind in ("token", "forced"):
            seen += 1
            if seen == 10:
                threading.Timer(0, tiny_engine.stop).start()
        if event.kind == "done":
            done = event.trace
    assert done is not None and done.finish_reason == "stopped"
    assert len(done.generated_ids) <= 13
    again = tiny_engine.generate([prompt], BudgetPolicy(max_thinking_tokens=4, max_answer_tokens=2))[0]
    assert again.thinking_tokens == 4


def test_without_thinking_phase_is_plain_chat_generation(tiny_engine):
    """thinking_phase=False: the plain chat prompt, and exactly what transformers' greedy generate produces."""
    policy = BudgetPolicy(thinking_phase=False, max_answer_tokens=12)
    prompt = tiny_engine.prompt_for(QUESTIONS[1], policy)
    assert prompt.endswith("<|im_start|>assistant\n") and "think" not in prompt
    assert tiny_engine.prompt_for(QUESTIONS[1]).endswith("<|im_start|>assistant\n<|im_start|>think")
    trace = tiny_engine.generate([prompt], policy)[0]
    ids = tiny_engine.tokenizer.encode(prompt, add_special_tokens=False)
    eos = sorted(tiny_engine.compile(policy).eos_token_ids)
    answer, stopped = greedy_continue(tiny_engine.model, ids, 12, eos, [])
    assert trace.generated_ids[: len(answer)] == answer and len(trace.generated_ids) == len(answer) + 1
    assert trace.finish_reason == ("stop" if stopped else "length") and trace.forced == []
    assert trace.thinking_tokens == 0 and trace.thinking_text == "" and trace.answer_text == trace.text


def test_generate_rejects_budget_beyond_context(tiny_engine):
    with pytest.raises(ValueError, match="context"):
        tiny_engine.generate([tiny_engine.prompt_for("x")], BudgetPolicy(max_thinking_tokens=5000))


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.parametrize("policy", [POLICIES[1], POLICIES[3]], ids=lambda p: p.label())
def test_single_pass_matches_reference_loop_embedded(embedded_model, policy):
    engine = HFEngine(*embedded_model)
    prompts = [engine.prompt_for(q, policy) for q in QUESTIONS[:2]]
    traces = engine.generate(prompts, policy, batch_size=2)
    for prompt, trace in zip(prompts, traces):
        assert trace.generated_ids == reference_loop(engine, prompt, policy)
    assert sum(t.num_waits for t in traces) > 0, "SmolLM2 ends at once, so Waits must be forced"


@pytest.mark.model
@pytest.mark.slow
def test_batch_equals_alone_embedded(embedded_model):
    engine = HFEngine(*embedded_model)
    policy = BudgetPolicy(max_thinking_tokens=32, num_ignore=2, max_answer_tokens=8)
    prompts = [engine.prompt_for(q) for q in QUESTIONS]
    batched = engine.generate(prompts, policy, batch_size=4)
    for prompt, trace in zip(prompts, batched):
        alone = engine.generate([prompt], policy)[0]
        assert trace.generated_ids == alone.generated_ids
