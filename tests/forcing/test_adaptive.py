"""The adaptive stop rule on a scripted backend: probe placement, the agreement and confidence rules, the minimum and
the cap, and what the trace records. The "model" plays back a script; the "backend" answers each probe from a table
keyed by the thinking tokens at the probe, and logs every request it got."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pytest
from doubles import IM_END, IM_START, PLAIN, ScriptedModel, ids

from s1lib.forcing.adaptive import AdaptiveStop, ProbeOutput, ProbeRequest
from s1lib.forcing.engine import EngineBase
from s1lib.forcing.policy import BudgetPolicy
from s1lib.forcing.state import ForcingState
from s1lib.forcing.trace import Trace

Answer = tuple[str, float | Sequence[float] | None]
"""A scripted probe's answer text and its token probabilities (one number: every token's; None: 0.5)."""


class ScriptedProber:
    """Answers probes from ``answers[thinking_tokens]`` (an empty answer elsewhere), one row at a time."""

    def __init__(self, tokenizer, answers: Mapping[int, Answer]):
        self.tokenizer = tokenizer
        self.answers = answers
        self.requests: list[ProbeRequest] = []

    def __call__(self, request: ProbeRequest) -> ProbeOutput:
        self.requests.append(request)
        text, probs = self.answers.get(request.thinking_tokens, ("", None))
        token_ids = tuple(ids(self.tokenizer, text)) if text else ()
        probs = (0.5 if probs is None else probs,) * len(token_ids) if not isinstance(probs, Sequence) else probs
        return ProbeOutput(token_ids, probs)


def run(policy: BudgetPolicy, tokenizer, script: Sequence[int], answers: Mapping[int, Answer], limit: int = 400):
    """Drive one row the way a backend does: probe when asked, hand the result back, then decide the token."""
    state = ForcingState(policy.compile(tokenizer))
    model, prober = ScriptedModel(script), ScriptedProber(tokenizer, answers)
    for _ in range(limit):
        if state.done:
            break
        request = state.probe_request(model)
        if request is not None:
            state.record_probe(request, prober(request))
        state.next_token(model)
    return state, prober


def consistency(**kwargs) -> AdaptiveStop:
    return AdaptiveStop(strategy="probe_consistency", **kwargs)


def confidence(**kwargs) -> AdaptiveStop:
    return AdaptiveStop(strategy="answer_confidence", **kwargs)


HIGH, LOW = 0.97, 0.5
WAIT = 33359  # "Wait": the default ignore string, one token
LONG_WAIT = "Alternatively, let me check"  # 5 tokens: a probe point inside it waits for its end

CASES = [
    # id, policy, script (the model's choices; PLAIN afterwards), probe answers, expected probe thinking tokens,
    # expected thinking tokens, expected end reason
    (
        "probes every 4, no agreement: the cap ends",
        BudgetPolicy(max_thinking_tokens=14, adaptive=consistency(probe_every=4, agree=2)),
        [],
        {4: (" 1", None), 8: (" 2", None), 12: (" 3", None)},
        [4, 8, 12],
        14,
        "cap",
    ),
    (
        "three agreeing probes stop",
        BudgetPolicy(max_thinking_tokens=100, adaptive=consistency(probe_every=4, agree=3)),
        [],
        {4: (" 1", None), 8: (" 2", None), 12: (" 2", None), 16: (" 2", None)},
        [4, 8, 12, 16],
        16,
        "adaptive",
    ),
    (
        "agreement must be consecutive",
        BudgetPolicy(max_thinking_tokens=100, adaptive=consistency(probe_every=4, agree=2)),
        [],
        {4: (" 7", None), 8: (" 1", None), 12: (" 7", None), 16: (" 7", None)},
        [4, 8, 12, 16],
        16,
        "adaptive",
    ),
    (
        "empty answers never agree",
        BudgetPolicy(max_thinking_tokens=13, adaptive=consistency(probe_every=4, agree=2)),
        [],
        {},
        [4, 8, 12],
        13,
        "cap",
    ),
    (
        "agree=1: the first answer stops",
        BudgetPolicy(max_thinking_tokens=100, adaptive=consistency(probe_every=5, agree=1)),
        [],
        {5: ("", None), 10: (" 42", None)},
        [5, 10],
        10,
        "adaptive",
    ),
    (
        "no probe before the minimum: the first is at the next multiple",
        BudgetPolicy(max_thinking_tokens=100, min_thinking_tokens=10, adaptive=consistency(probe_every=4, agree=1)),
        [],
        {4: (" 1", None), 8: (" 1", None), 12: (" 1", None)},
        [12],
        12,
        "adaptive",
    ),
    (
        "no probe at the cap",
        BudgetPolicy(max_thinking_tokens=8, adaptive=consistency(probe_every=4, agree=2)),
        [],
        {4: (" 1", None), 8: (" 1", None)},
        [4],
        8,
        "cap",
    ),
    (
        "a probe point inside a forced Wait waits for its end",
        BudgetPolicy(
            max_thinking_tokens=10, num_ignore=1, ignore_strings=LONG_WAIT, adaptive=consistency(probe_every=4)
        ),
        [PLAIN, PLAIN, PLAIN, IM_END],  # end attempt at 3: the 5-token Wait runs from 3 to 8
        {},
        [8],
        10,
        "cap",
    ),
    (
        "a natural end is not delayed by probes",
        BudgetPolicy(max_thinking_tokens=100, adaptive=consistency(probe_every=4, agree=2)),
        [PLAIN] * 6 + [IM_START],
        {4: (" 1", None)},
        [4],
        6,
        "natural",
    ),
    (
        "confident at a suppressed end attempt: stop instead of Wait",
        BudgetPolicy(max_thinking_tokens=100, num_ignore=2, adaptive=confidence(threshold=0.95)),
        [PLAIN] * 5 + [IM_END],
        {5: (" 42", HIGH)},
        [5],
        5,
        "adaptive",
    ),
    (
        "not confident: Wait, then confident at the next end attempt",
        BudgetPolicy(max_thinking_tokens=100, num_ignore=3, adaptive=confidence(threshold=0.95)),
        [PLAIN] * 3 + [IM_START] + [PLAIN] * 2 + [IM_END],  # attempts at 3 and (after "Wait") at 6
        {3: (" 1", LOW), 6: (" 2", HIGH)},
        [3, 6],
        6,
        "adaptive",
    ),
    (
        "the threshold is inclusive",
        BudgetPolicy(max_thinking_tokens=100, num_ignore=1, adaptive=confidence(threshold=0.5)),
        [PLAIN, IM_END],
        {1: (" 42", 0.5)},
        [1],
        1,
        "adaptive",
    ),
    (
        "no probe before the minimum, none once the end is allowed",
        BudgetPolicy(max_thinking_tokens=100, min_thinking_tokens=4, num_ignore=2, adaptive=confidence(threshold=0.95)),
        # attempt at 2: below the minimum (Wait, no probe); at 4: probed, not confident (Wait); at 6: allowed
        [PLAIN, PLAIN, IM_END, PLAIN, IM_END, PLAIN, IM_START],
        {2: (" 1", HIGH), 4: (" 1", LOW), 6: (" 1", HIGH)},
        [4],
        6,
        "natural",
    ),
    (
        "without probe_transitions the model's own Wait is no probe point, its end attempt is",
        BudgetPolicy(max_thinking_tokens=100, num_ignore=1, adaptive=confidence(threshold=0.95)),
        [PLAIN] * 3 + [WAIT] + [PLAIN] * 2 + [IM_START],
        {3: (" 7", HIGH), 6: (" 7", HIGH)},
        [6],
        6,
        "adaptive",
    ),
    (
        "probe_transitions: confident before the model's own Wait, so its re-check never starts",
        BudgetPolicy(max_thinking_tokens=100, adaptive=confidence(threshold=0.95, probe_transitions=True)),
        [PLAIN] * 3 + [WAIT] + [PLAIN] * 2 + [IM_START],
        {3: (" 7", HIGH)},
        [3],
        3,
        "adaptive",
    ),
    (
        "probe_transitions: not confident, the re-check runs; a suppressed end attempt is probed too",
        BudgetPolicy(
            max_thinking_tokens=100, num_ignore=1, adaptive=confidence(threshold=0.95, probe_transitions=True)
        ),
        [PLAIN] * 3 + [WAIT] + [PLAIN] * 2 + [IM_END] + [PLAIN, IM_START],  # Wait at 3, end attempt at 6
        {3: (" 7", LOW), 6: (" 7", HIGH)},
        [3, 6],
        6,
        "adaptive",
    ),
    (
        "confidence never probes at the cap",
        BudgetPolicy(max_thinking_tokens=3, num_ignore=2, adaptive=confidence(threshold=0.1)),
        [PLAIN, PLAIN, PLAIN, IM_END],
        {3: (" 1", HIGH)},
        [],
        3,
        "cap",
    ),
]


@pytest.mark.parametrize(("policy", "script", "answers", "probed_at", "thinking", "reason"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_probe_placement_and_stop(smollm_tokenizer, policy, script, answers, probed_at, thinking, reason):
    state, prober = run(policy, smollm_tokenizer, script, answers)
    assert [r.thinking_tokens for r in prober.requests] == probed_at
    assert [p.thinking_tokens for p in state.probes] == probed_at, "every probe is recorded"
    assert state.thinking_tokens == thinking
    assert state.thinking_end_reason == reason
    assert [p.stop for p in state.probes] == [reason == "adaptive" and i == len(probed_at) - 1
                                              for i in range(len(probed_at))]  # fmt: skip
    if reason == "adaptive":  # ended the way the cap ends: the delimiter, then the answer prefix
        end, prefix = ids(smollm_tokenizer, "<|im_start|>answer"), ids(smollm_tokenizer, "\nFinal Answer:")
        at = state.thinking_end_position
        assert state.generated[at : at + len(end) + len(prefix)] == end + prefix
        assert [(f.kind, f.reason) for f in state.insertions][-2:] == [("end", "adaptive"), ("final_answer", "")]


def test_probe_records_answer_cost_and_confidence(smollm_tokenizer):
    policy = BudgetPolicy(max_thinking_tokens=100, adaptive=consistency(probe_every=3, agree=2))
    state, prober = run(policy, smollm_tokenizer, [], {3: (" 42", (0.9, 0.8, 0.7)), 6: (" \\boxed{42}", None)})
    first, second = state.probes
    prefix = len(ids(smollm_tokenizer, "<|im_start|>answer")) + len(ids(smollm_tokenizer, "\nFinal Answer:"))
    assert first.answer == "42" and second.answer == "42", "the evaluation's extractor reads the probe"
    assert first.text == " 42" and first.token_ids == tuple(ids(smollm_tokenizer, " 42"))
    assert first.confidence == pytest.approx(0.8)
    assert first.num_tokens == prefix + 3
    assert state.probe_tokens == first.num_tokens + second.num_tokens
    assert state.thinking_tokens == 6, "probe tokens are not thinking tokens"
    assert [r.position for r in prober.requests] == [3, 6]
    assert all(r.prefix_ids == tuple(state.compiled.probe_prefix_ids) for r in prober.requests)
    trace = Trace.from_state(state, smollm_tokenizer, [5, 6])
    assert trace.probes == state.probes and trace.probe_tokens == state.probe_tokens
    recorded = json.loads(json.dumps(trace.to_dict()))
    assert [p["answer"] for p in recorded["probes"]] == ["42", "42"]
    assert recorded["probe_tokens"] == state.probe_tokens and recorded["thinking_end_reason"] == "adaptive"


def test_sampled_rows_draw_once_per_position(smollm_tokenizer):
    """answer_confidence asks for the model's choice before deciding; the decision must reuse it."""
    policy = BudgetPolicy(max_thinking_tokens=6, num_ignore=1, adaptive=confidence(threshold=0.99))
    script = [PLAIN, PLAIN, IM_END, PLAIN + 5, PLAIN + 6, PLAIN + 7]
    state, _ = run(policy, smollm_tokenizer, script, {2: (" 1", LOW)})
    wait = ids(smollm_tokenizer, "Wait")
    assert state.generated[:6] == [PLAIN, PLAIN, *wait, PLAIN + 5, PLAIN + 6, PLAIN + 7][:6]


def test_record_probe_takes_only_this_positions_probe(smollm_tokenizer):
    policy = BudgetPolicy(max_thinking_tokens=10, adaptive=consistency(probe_every=2))
    state = ForcingState(policy.compile(smollm_tokenizer))
    model = ScriptedModel([])
    state.next_token(model)
    state.next_token(model)
    request = state.probe_request(model)
    assert request is not None and request.position == 2
    state.next_token(model)
    with pytest.raises(RuntimeError, match="record_probe"):
        state.record_probe(request, ProbeOutput((), ()))


@pytest.mark.parametrize(
    ("kwargs", "field_name"),
    [
        ({"probe_every": 0}, "probe_every"),
        ({"probe_every": -4}, "probe_every"),
        ({"probe_every": 2.5}, "probe_every"),
        ({"agree": 0}, "agree"),
        ({"probe_tokens": 0}, "probe_tokens"),
        ({"threshold": 0.0}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": -0.2}, "threshold"),
        ({"strategy": "majority"}, "strategy"),
        ({"probe_opening": 7}, "probe_opening"),
        ({"probe_transitions": "yes"}, "probe_transitions"),
    ],
)
def test_bad_settings_name_the_field(kwargs, field_name):
    with pytest.raises(ValueError, match=rf"adaptive\.{field_name}"):
        AdaptiveStop(**kwargs)
    with pytest.raises(ValueError, match=rf"adaptive\.{field_name}"):
        BudgetPolicy(adaptive=kwargs)  # the dict form a sweep file or a request carries


def test_threshold_one_is_allowed():
    assert AdaptiveStop(threshold=1.0).threshold == 1.0


@pytest.mark.parametrize(
    ("kwargs", "field_name"),
    [
        ({"adaptive": confidence()}, "num_ignore"),
        ({"adaptive": consistency(), "thinking_phase": False}, "thinking phase"),
        ({"adaptive": "probe_consistency"}, "adaptive"),
        ({"adaptive": confidence(probe_transitions=True), "ignore_strings": None}, "probe_transitions"),
    ],
)
def test_policies_the_rule_cannot_use_are_rejected(kwargs, field_name):
    with pytest.raises(ValueError, match=field_name):
        BudgetPolicy(**kwargs)


def test_transition_probes_say_why_they_ran(smollm_tokenizer):
    """A probe before the model's own Wait is a "transition"; one at a suppressed end attempt an "end_attempt"."""
    rule = confidence(threshold=0.95, probe_transitions=True)
    assert rule.label() == "conf≥0.95 +waits" and BudgetPolicy(adaptive=rule).num_ignore == 0  # no Wait forced
    policy = BudgetPolicy(max_thinking_tokens=100, num_ignore=1, adaptive=rule)
    state, _ = run(policy, smollm_tokenizer, [PLAIN, WAIT, PLAIN, IM_END, PLAIN, IM_START], {1: (" 7", LOW)})
    assert [(p.thinking_tokens, p.trigger) for p in state.probes] == [(1, "transition"), (3, "end_attempt")]


def test_policy_round_trips_through_its_dict():
    from s1lib.backends.vllm_processor import compiled_from_config, request_config
    from s1lib.forcing.trace import SamplingConfig

    policy = BudgetPolicy(max_thinking_tokens=64, num_ignore=2, adaptive=confidence(threshold=0.9, probe_tokens=8))
    data = json.loads(json.dumps(policy.to_dict()))
    assert data["adaptive"] == {"strategy": "answer_confidence", "probe_every": 32, "probe_tokens": 8,
                                "probe_opening": "", "agree": 3, "probe_transitions": False,
                                "threshold": 0.9}  # fmt: skip
    assert BudgetPolicy(**data) == policy
    assert BudgetPolicy(**BudgetPolicy().to_dict()).adaptive is None
    assert policy.label() == "cap=64 wait×2 conf≥0.9"
    assert consistency(agree=3, probe_every=32).label() == "agree=3/32"

    class Tok:
        eos_token_id = 2
        unk_token_id = None

        def encode(self, text, add_special_tokens=False):
            return [ord(c) for c in text]

        def decode(self, token_ids):
            return "".join(chr(t) for t in token_ids)

    compiled = policy.compile(Tok())
    assert compiled_from_config(request_config(compiled, SamplingConfig(), 0, "k")).policy == policy


def test_a_backend_without_probes_says_so(smollm_tokenizer):
    class NoProbes(EngineBase):
        backend = "scripted"

        def __init__(self):
            self.tokenizer, self.eos_token_ids = smollm_tokenizer, [2]

    with pytest.raises(NotImplementedError, match="scripted backend cannot run BudgetPolicy.adaptive"):
        NoProbes().prepare(["hello"], BudgetPolicy(max_thinking_tokens=8, adaptive=consistency()))
    NoProbes().prepare(["hello"], BudgetPolicy(max_thinking_tokens=8))


def test_a_probe_ends_where_its_boxed_answer_closes(smollm_tokenizer):
    """The policy cuts a backend's longer probe after the closing brace: ids, probabilities and cost alike (a
    backend that decodes all ``probe_tokens``, like vLLM's probe requests, records what one that stops early does)."""
    rule = consistency(probe_every=3, agree=2, probe_opening=" \\boxed{")
    state, prober = run(
        BudgetPolicy(max_thinking_tokens=100, adaptive=rule),
        smollm_tokenizer,
        [],
        {3: ("42} and more text", (0.9, 0.7, 0.5, 0.1, 0.1, 0.1)), 6: ("4", 0.6)},
    )
    opening = ids(smollm_tokenizer, " \\boxed{")
    assert state.compiled.probe_prefix_ids[-len(opening) :] == tuple(opening), "the opening ends every probe prefix"
    assert all(r.complete is not None for r in prober.requests)
    first, second = state.probes[:2]
    closed = ids(smollm_tokenizer, "42}")
    assert first.token_ids == tuple(closed) and first.text == "42}"
    assert first.answer == "42" and first.confidence == pytest.approx(sum((0.9, 0.7, 0.5)[: len(closed)]) / len(closed))
    assert first.num_tokens == len(state.compiled.probe_prefix_ids) + len(closed)
    assert second.text == "4" and second.answer is None, "an unclosed box gives no answer"
    assert state.compiled.probe_complete(closed) and not state.compiled.probe_complete(closed[:-1])


def test_without_an_opening_the_models_own_box_ends_the_probe(smollm_tokenizer):
    state, _ = run(
        BudgetPolicy(max_thinking_tokens=100, adaptive=consistency(probe_every=3, agree=2)),
        smollm_tokenizer,
        [],
        {3: (" \\boxed{7} and so on", None)},
    )
    assert state.probes[0].text == " \\boxed{7}" and state.probes[0].answer == "7"
    assert AdaptiveStop(probe_opening=" \\boxed{").label() == "agree=3/32 open=\\boxed{"
