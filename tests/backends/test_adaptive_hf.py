"""The transformers backend's probes: one batched branch off ``generate``'s cache, checked against probes computed one
row at a time from scratch (the row's ids re-run with no cache and no padding).

The model is the tiny random Llama with larger weights (``initializer_range`` 0.2 instead of 0.02): at 0.02 its
attention is nearly uniform, so it repeats one token whatever the context and a probe at the wrong positions or
behind the wrong mask gives nearly the same probabilities (measured: 0.04 % apart for a one-position shift, 89 % at
0.2), and the comparison could not fail."""

from __future__ import annotations

import pytest
import torch
from doubles import CLOSE_BRACE, OPEN_BRACE, SEVEN, answer_writer, end_provoker, save_tiny_llama

from s1lib.backends.hf import HFEngine
from s1lib.backends.hf_probes import CacheProbes
from s1lib.forcing import BudgetPolicy
from s1lib.forcing.adaptive import AdaptiveStop

QUESTIONS = [
    "How many r are in the word raspberry?",
    "What is 7 + 5?",
    "Name a prime number larger than ten and explain briefly why it is prime.",
    "Count the letters: a b c d e f g.",
]

CONSISTENCY = BudgetPolicy(
    max_thinking_tokens=30, max_answer_tokens=4, adaptive=AdaptiveStop(probe_every=6, probe_tokens=5, agree=2)
)
CONFIDENCE = BudgetPolicy(
    max_thinking_tokens=30,
    num_ignore=4,
    max_answer_tokens=4,
    adaptive=AdaptiveStop(strategy="answer_confidence", probe_tokens=4, threshold=0.999),
)
CASES = [(CONSISTENCY, ()), (CONFIDENCE, (end_provoker,))]  # the provoker makes the random model try to end


@pytest.fixture(scope="module")
def engine(tmp_path_factory, smollm_tokenizer):
    from s1lib.models import load_model

    folder = save_tiny_llama(tmp_path_factory.mktemp("sharp-tiny-llama"), smollm_tokenizer, initializer_range=0.2)
    return HFEngine(*load_model(str(folder), dtype="float32"))


@pytest.fixture
def probe_batches(monkeypatch):
    """How many rows each batched probe call held."""
    sizes: list[int] = []
    call = CacheProbes.__call__

    def spy(self, input_ids, requests):
        sizes.append(len(requests))
        return call(self, input_ids, requests)

    monkeypatch.setattr(CacheProbes, "__call__", spy)
    return sizes


def probe_from_scratch(
    engine: HFEngine, context: list[int], prefix, max_tokens: int, extra, complete=None
) -> tuple[list[int], float]:
    """One probe alone: the full id sequence re-run at every token (no cache to branch, no padding), ending at end
    of sequence or where ``complete`` says the answer closed."""
    ids, out, probs = [*context, *prefix], [], []
    eos = set(engine.eos_token_ids)
    with torch.inference_mode():
        for _ in range(max_tokens):
            logits = engine.model(input_ids=torch.tensor([ids])).logits[:, -1].float()
            for processor in extra:
                logits = processor(torch.tensor([ids]), logits)
            token = int(logits.argmax())
            if token in eos:
                break
            probs.append(float(torch.softmax(logits, dim=-1)[0, token]))
            out.append(token)
            ids.append(token)
            if complete is not None and complete(out):
                break
    return out, sum(probs) / len(probs) if probs else 0.0


@pytest.mark.parametrize(("policy", "extra"), CASES, ids=["probe_consistency", "answer_confidence"])
def test_batched_probes_equal_one_row_at_a_time(engine, probe_batches, policy, extra):
    prompts = [engine.prompt_for(q) for q in QUESTIONS]
    assert len({len(engine.tokenizer.encode(p)) for p in prompts}) > 1, "rows must be padded differently"
    traces = engine.generate(prompts, policy, extra_processors=list(extra), batch_size=4)
    assert max(probe_batches) > 1, "some probes must run together in one batch"
    compiled = engine.compile(policy)
    checked = 0
    for trace in traces:
        for probe in trace.probes:
            context = trace.prompt_ids + trace.generated_ids[: probe.position]
            ids, confidence = probe_from_scratch(
                engine, context, compiled.probe_prefix_ids, policy.adaptive.probe_tokens, extra, compiled.probe_complete
            )
            assert list(probe.token_ids) == ids
            assert probe.confidence == pytest.approx(confidence, rel=1e-3, abs=1e-9)
            assert probe.num_tokens == len(compiled.probe_prefix_ids) + len(ids)
            checked += 1
        assert trace.probe_tokens == sum(p.num_tokens for p in trace.probes)
    assert checked >= len(QUESTIONS)
    alone = [engine.generate([p], policy, extra_processors=list(extra))[0] for p in prompts]
    assert [t.generated_ids for t in traces] == [t.generated_ids for t in alone]
    assert [[p.token_ids for p in t.probes] for t in traces] == [[p.token_ids for p in t.probes] for t in alone]


def test_probes_leave_the_sequence_untouched(engine):
    """A rule that never stops (agreement of 100 probes) must give the fixed policy's tokens exactly."""
    never = CONSISTENCY.replace(adaptive=AdaptiveStop(probe_every=4, probe_tokens=6, agree=100))
    prompts = [engine.prompt_for(q) for q in QUESTIONS]
    probed = engine.generate(prompts, never, batch_size=4)
    fixed = engine.generate(prompts, never.replace(adaptive=None), batch_size=4)
    assert all(len(t.probes) == 30 // 4 for t in probed)
    assert [t.generated_ids for t in probed] == [t.generated_ids for t in fixed]
    assert all(t.thinking_tokens == f.thinking_tokens == 30 for t, f in zip(probed, fixed))


@pytest.mark.parametrize(
    ("policy", "extra"),
    [
        (CONSISTENCY.replace(adaptive=AdaptiveStop(probe_every=7, probe_tokens=3, agree=1)), ()),
        (CONFIDENCE.replace(adaptive=AdaptiveStop(strategy="answer_confidence", threshold=1e-9)), (end_provoker,)),
    ],
    ids=["probe_consistency", "answer_confidence"],
)
def test_a_stop_ends_thinking_like_the_cap(engine, policy, extra):
    prompts = [engine.prompt_for(q) for q in QUESTIONS]
    traces = engine.generate(prompts, policy, extra_processors=list(extra), batch_size=4)
    stopped = [(p, t) for p, t in zip(prompts, traces) if t.thinking_end_reason == "adaptive"]
    assert stopped, "the rule must stop some row early"
    for prompt, trace in stopped:
        assert trace.probes[-1].stop and trace.probes[-1].thinking_tokens == trace.thinking_tokens
        capped = policy.replace(adaptive=None, max_thinking_tokens=trace.thinking_tokens)
        assert trace.generated_ids == engine.generate([prompt], capped, extra_processors=list(extra))[0].generated_ids


def test_stream_marks_each_probe_before_its_position(engine):
    policy = CONSISTENCY.replace(adaptive=AdaptiveStop(probe_every=5, probe_tokens=3, agree=2))
    events = list(engine.stream(engine.prompt_for(QUESTIONS[1]), policy))
    trace = events[-1].trace
    assert trace is not None and trace.probes
    probes = [(sum(e.kind in ("token", "forced") for e in events[:i]), e.probe) for i, e in enumerate(events)
              if e.kind == "probe"]  # fmt: skip
    assert [p for _, p in probes] == trace.probes
    assert [at for at, _ in probes] == [p.position for p in trace.probes]
    assert [e.token_id for e in events if e.kind in ("token", "forced")] == trace.generated_ids
    if trace.thinking_end_reason == "adaptive":
        ends = [e for e in events if e.insertion is not None and e.insertion.kind == "end"]
        assert ends[-1].insertion.reason == "adaptive"


def test_a_probe_stops_decoding_once_its_answer_closes(engine, smollm_tokenizer, probe_batches):
    """With Dynasor's opening the probe decodes "7}" and stops there, though the model would go on."""
    assert smollm_tokenizer.encode(" \\boxed{7}")[-3:] == [OPEN_BRACE, SEVEN, CLOSE_BRACE]
    policy = CONSISTENCY.replace(
        adaptive=AdaptiveStop(probe_every=6, probe_tokens=6, agree=2, probe_opening=" \\boxed{")
    )
    prompts = [engine.prompt_for(q) for q in QUESTIONS]
    traces = engine.generate(prompts, policy, extra_processors=[answer_writer], batch_size=4)
    assert max(probe_batches) > 1
    compiled = engine.compile(policy)
    for trace in traces:
        assert [p.answer for p in trace.probes] == ["7", "7"] and trace.thinking_end_reason == "adaptive"
        for probe in trace.probes:
            assert probe.text == "7}" and probe.num_tokens == len(compiled.probe_prefix_ids) + 2
            context = trace.prompt_ids + trace.generated_ids[: probe.position]
            ids, confidence = probe_from_scratch(
                engine, context, compiled.probe_prefix_ids, 6, [answer_writer], compiled.probe_complete
            )
            assert list(probe.token_ids) == ids
            assert probe.confidence == pytest.approx(confidence, rel=1e-3, abs=1e-9)
            longer, _ = probe_from_scratch(engine, context, compiled.probe_prefix_ids, 6, [answer_writer])
            assert len(longer) == 6, "the model itself would not have ended the probe there"


NEVER_STOPS = CONSISTENCY.replace(adaptive=AdaptiveStop(probe_every=3, probe_tokens=5, agree=100))


def first_answer_token(engine: HFEngine, token: int):
    """Makes every probe start its answer with ``token`` (then the random model goes its own way)."""
    last = engine.compile(NEVER_STOPS).probe_prefix_ids[-1]

    def steer(input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        scores = scores.clone()
        scores[input_ids[:, -1] == last, token] += 1e4
        return scores

    return steer


@pytest.mark.parametrize(
    ("opening", "steering", "held"),
    [("", None, "rarely"), ("", "first token", "part-way"), (" \\boxed{", "answer", "always")],
)
def test_drafted_probes_equal_undrafted_ones(engine, opening, steering, held):
    """Each row's previous probe drafts its next one: the probes are the same token for token either way, and a
    draft that holds saves forward passes. The random model's probes rarely repeat; steered to start with "7" they
    repeat part-way; steered to answer "7}" after an opened box they repeat whole."""
    policy = NEVER_STOPS.replace(adaptive=AdaptiveStop(probe_every=3, probe_tokens=5, agree=100, probe_opening=opening))
    extra = {None: [], "first token": [first_answer_token(engine, SEVEN)], "answer": [answer_writer]}[steering]
    prompts = [engine.prompt_for(q) for q in QUESTIONS]
    runs = {}
    for drafts in (True, False):
        engine.probe_drafts, engine.probe_stats = drafts, {}
        try:
            traces = engine.generate(prompts, policy, extra_processors=extra, batch_size=4)
        finally:
            engine.probe_drafts = True
        runs[drafts] = traces, engine.probe_stats
    (drafted, stats), (plain, plain_stats) = runs[True], runs[False]
    assert [t.generated_ids for t in drafted] == [t.generated_ids for t in plain]
    for a, b in zip(drafted, plain):
        assert [p.token_ids for p in a.probes] == [p.token_ids for p in b.probes]
        assert [p.confidence for p in a.probes] == pytest.approx([p.confidence for p in b.probes], rel=1e-4)
    assert plain_stats.get("drafted", 0) == 0 and stats["drafted"] > 0
    if held == "always":
        assert stats["accepted"] == stats["drafted"] and stats["forwards"] < plain_stats["forwards"]
    elif held == "part-way":
        assert len(drafted[0].probes) <= stats["accepted"] < stats["drafted"]
    else:
        assert stats["accepted"] < stats["drafted"] / 4
