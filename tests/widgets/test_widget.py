"""The live budget widget without a browser: event rendering, the background runner, the ipywidgets wrapper."""

from __future__ import annotations

import time

import pytest
from doubles import FakeEngine

from s1lib.benches.widget import measure_stream
from s1lib.forcing.adaptive import AdaptiveStop, Probe
from s1lib.forcing.policy import BudgetPolicy
from s1lib.forcing.state import ForcedInsertion
from s1lib.forcing.trace import Event
from s1lib.widgets import (
    ADAPTIVE_CHOICES,
    IGNORE_CHOICES,
    STOP_MARK,
    BudgetForcingWidget,
    StreamRunner,
    StreamView,
    counter_text,
    policy_from_controls,
)


def _ins(kind: str) -> ForcedInsertion:
    return ForcedInsertion(kind, 0, (1,))


def scripted_events() -> list[Event]:
    """Thinking with a forced Wait, a forced end at the cap, a forced "Final Answer:", then an answer."""
    return [
        Event("token", 0, "2 < 3", phase="thinking", thinking_tokens=1),
        Event("forced", 0, "Wait", phase="thinking", insertion=_ins("wait"), thinking_tokens=2),
        Event("token", 0, " again", phase="thinking", thinking_tokens=3),
        Event("forced", 0, "<|im_start|>", phase="thinking", insertion=_ins("end"), thinking_tokens=3),
        Event("forced", 0, "answer", phase="thinking", thinking_tokens=3),
        Event("forced", 0, "\nFinal", phase="thinking", insertion=_ins("final_answer"), thinking_tokens=3),
        Event("forced", 0, " Answer:", phase="answer", thinking_tokens=3),
        Event("phase", 0, "", phase="answer", thinking_tokens=3),
        Event("token", 0, " 42", phase="answer", thinking_tokens=3, answer_tokens=1),
        Event("done", 0, "", phase="done", thinking_tokens=3, answer_tokens=1),
    ]


def test_stream_view_marks_each_forced_insertion_and_escapes_text():
    view = StreamView(budget=3)
    for event in scripted_events()[:3]:
        view.push(event)
    assert view.thinking_tokens == 3 and view.phase == "thinking"
    html = view.html()
    assert '<span class="s1-forced s1-forced-wait" title="forced Wait">Wait</span>' in html
    assert "2 &lt; 3" in html and "2 < 3" not in html.split("</style>")[1]
    assert 's1-forced-end"' not in html and view.answer is None  # no answer before done
    for event in scripted_events()[3:]:
        view.push(event)
    html = view.html()
    assert (
        '<span class="s1-forced s1-forced-end" title="forced end of thinking">&lt;|im_start|&gt;answer</span>' in html
    )
    assert 's1-forced-final_answer"' in html and "\nFinal Answer:</span>" in html
    assert '<span class="s1-answer-text"> 42</span>' in html
    assert view.forced_counts() == {"wait": 1, "end": 1, "final_answer": 1}
    assert view.answer == "42"
    assert '<span class="s1-answer">42</span>' in html
    assert '<div class="s1-counter">3 / 3 thinking tokens · 1 forced Wait · done</div>' in html


def test_suppression_without_ignore_string_is_marked_too():
    view = StreamView(budget=8)
    view.push(Event("token", 0, "So", thinking_tokens=1))
    view.push(Event("token", 0, " then", insertion=ForcedInsertion("wait", 1, ()), thinking_tokens=2))
    html = view.html()
    assert '<span class="s1-forced s1-forced-wait" title="forced Wait">⟲</span> then' in html
    assert view.forced_counts() == {"wait": 1} and view.text == "So⟲ then"


def _probe(thinking: int, answer: str | None, confidence: float, stop: bool = False) -> Probe:
    return Probe(thinking, thinking, "interval", (1, 2), 5, f"Final Answer: {answer}", answer, confidence, stop)


def test_probes_and_the_adaptive_stop_are_marked_where_they_ran():
    """A badge per probe (its answer and confidence), then the stop marker after the probe that ended thinking;
    neither is generated text, and the counter reports the probe tokens apart from the thinking tokens."""
    rule = AdaptiveStop(probe_every=2, agree=2)
    view = StreamView(budget=8, rule=rule)
    view.push(Event("token", 0, "4 < 9", thinking_tokens=2))
    view.push(Event("probe", 0, thinking_tokens=2, probe=_probe(2, None, 0.3)))
    view.push(Event("token", 0, " so 9", thinking_tokens=4))
    view.push(Event("probe", 0, thinking_tokens=4, probe=_probe(4, "9", 0.91)))
    assert not view.stopped_by_rule
    view.push(Event("token", 0, " and", thinking_tokens=6))
    view.push(Event("probe", 0, thinking_tokens=6, probe=_probe(6, "9", 0.97, stop=True)))
    view.push(Event("forced", 0, "<|im_start|>answer", insertion=_ins("end"), thinking_tokens=6))
    html = view.html().split("</style>")[1]
    assert html.count('class="s1-probe"') == 3
    assert ">probe @2: – (p=0.30)</span>" in html and ">probe @4: 9 (p=0.91)</span>" in html
    stop = html.index(f">{STOP_MARK}</span>")
    assert html.index(">probe @6: 9 (p=0.97)</span>") < stop < html.index("s1-forced-end")
    assert "the last 2 probes agree on &#x27;9&#x27;" in html  # the marker's tooltip names the rule
    assert view.text == "4 < 9 so 9 and<|im_start|>answer"  # badges are not generated text
    assert [p.thinking_tokens for p in view.probes] == [2, 4, 6] and view.stopped_by_rule
    assert view.counter() == "6 / 8 thinking tokens · 3 probes (15 probe tokens) · adaptive stop · thinking"


def test_counter_text():
    assert counter_text(37, 128) == "37 / 128 thinking tokens"
    assert counter_text(5, None) == "5 thinking tokens"


def test_policy_from_controls():
    policy = policy_from_controls(32, num_ignore=2, ignore="Hmm", min_thinking_tokens=100, max_answer_tokens=8)
    assert (policy.max_thinking_tokens, policy.num_ignore, policy.min_thinking_tokens) == (32, 2, 32)
    assert policy.ignore_list() == ["Hmm"] and policy.max_answer_tokens == 8
    assert policy_from_controls(8, 1, "none").ignore_list() == []
    assert set(IGNORE_CHOICES) == {"Wait", "Hmm", "Alternatively", "none"}
    with pytest.raises(ValueError, match="ignore must be one of"):
        policy_from_controls(8, 1, "Perhaps")
    assert policy_from_controls(8).adaptive is None and ADAPTIVE_CHOICES[0] == "off"
    consistent = policy_from_controls(64, adaptive="probe_consistency", probe_every=8, agree=3).adaptive
    assert (consistent.strategy, consistent.probe_every, consistent.agree) == ("probe_consistency", 8, 3)
    opened = policy_from_controls(64, adaptive="probe_consistency", probe_tokens=5, probe_opening=" \\boxed{").adaptive
    assert (opened.probe_tokens, opened.probe_opening) == (5, " \\boxed{")
    confident = policy_from_controls(64, 2, adaptive="answer_confidence", threshold=0.8).adaptive
    assert (confident.strategy, confident.threshold) == ("answer_confidence", 0.8)
    with pytest.raises(ValueError, match="needs num_ignore|num_ignore"):
        policy_from_controls(64, 0, adaptive="answer_confidence")  # it probes at suppressed ends: it needs Waits
    with pytest.raises(ValueError, match="adaptive must be one of"):
        policy_from_controls(64, adaptive="dynasor")
    # DEER at the model's own Waits: no forced Wait needed, but an ignore string to recognise one by
    own_waits = policy_from_controls(64, 0, adaptive="answer_confidence", probe_transitions=True)
    assert own_waits.adaptive.probe_transitions and own_waits.num_ignore == 0
    with pytest.raises(ValueError, match="probe_transitions"):
        policy_from_controls(64, 0, "none", adaptive="answer_confidence", probe_transitions=True)


def test_runner_streams_in_background_and_throttles_updates():
    updates: list[int] = []
    engine = FakeEngine(n=30, delay=0.005)
    runner = StreamRunner(engine, lambda view: updates.append(view.thinking_tokens), min_interval=0.02)
    start = time.perf_counter()
    view = runner.start("q", BudgetPolicy(max_thinking_tokens=64))
    assert time.perf_counter() - start < 0.1  # returns at once: the kernel stays free
    runner.join(10)
    assert view.done and not view.stopped and view.thinking_tokens == 30
    assert updates[0] == 1 and updates[-1] == 30  # first token and the end are always reported
    assert 2 <= len(updates) < 30
    assert runner.first_token_time is not None and runner.first_token_time >= runner.start_time


def test_runner_stop_interrupts_within_a_token_or_two_and_restart_stops_previous():
    engine = FakeEngine(n=1000, delay=0.01)
    runner = StreamRunner(engine, lambda view: None)
    first = runner.start("a", BudgetPolicy(max_thinking_tokens=2000))
    time.sleep(0.1)
    second = runner.start("b", BudgetPolicy(max_thinking_tokens=2000))  # restart: previous stopped first
    assert first.done and first.stopped and first.thinking_tokens < 100
    assert engine.started == 2
    time.sleep(0.1)
    at_stop = second.thinking_tokens
    runner.stop()
    runner.join(5)
    assert not runner.running
    assert second.stopped and second.thinking_tokens - at_stop <= 2
    assert "a" not in second.text  # nothing of the first run leaks into the second view


def test_runner_reports_engine_errors_in_the_view():
    class Broken(FakeEngine):
        def stream(self, prompt, policy, sampling=None):
            raise ValueError("prompt too long")

    runner = StreamRunner(Broken(), lambda view: None)
    view = runner.start("q", BudgetPolicy(max_thinking_tokens=4))
    runner.join(5)
    assert view.error == "ValueError: prompt too long" and "prompt too long" in view.html()


@pytest.fixture(scope="module")
def tiny_engine(tiny_model):
    from s1lib.backends.hf import HFEngine

    model, tokenizer = tiny_model
    return HFEngine(model, tokenizer)


def test_widget_on_a_real_engine_streams_to_the_cap(tiny_engine):
    widget = BudgetForcingWidget(tiny_engine, question="What is 2+3?", max_thinking_tokens=12, max_answer_tokens=4)
    widget.budget.value = 8  # moving the slider changes the next run
    widget.num_ignore.value = 0
    view = widget.run()
    widget.runner.join(60)
    assert view.done and view.budget == 8 and view.thinking_tokens == 8
    html = widget.output.value
    assert "8 / 8 thinking tokens" in html
    assert 's1-forced-end"' in html and 's1-forced-final_answer"' in html
    assert view.trace is not None and view.trace.thinking_tokens == 8 and view.trace.finish_reason != "stopped"


def test_widget_temperature_sliders_sample_each_phase(tiny_engine):
    """Both sliders at 0 are the paper's greedy decoding; the thinking slider samples the thinking alone, and the
    same controls repeat the same run (a fixed seed)."""
    from s1lib.widgets import sampling_from_controls

    assert sampling_from_controls().greedy
    assert sampling_from_controls(0.0, 0.8).temperature_for(thinking=True) == 0.8
    widget = BudgetForcingWidget(tiny_engine, question="What is 2+3?", max_thinking_tokens=16, max_answer_tokens=4)
    widget.num_ignore.value = 0

    def thinking() -> str:
        view = widget.run()
        widget.runner.join(60)
        assert view.done
        return view.trace.thinking_text

    greedy = thinking()
    widget.temperature_thinking.value = 1.5
    sampled = thinking()
    assert sampled != greedy and thinking() == sampled
    assert widget.sampling().temperature == 0.0 and widget.sampling().temperature_thinking == 1.5


def test_widget_with_an_adaptive_rule_marks_the_real_probes_and_the_stop(tiny_engine):
    """The rule turned on in the widget: one badge per probe the engine ran, and the stop marker where the trace says
    the rule ended thinking (agree=1: the first probe with an answer stops)."""
    widget = BudgetForcingWidget(tiny_engine, question="What is 2+3?", max_thinking_tokens=24, max_answer_tokens=4)
    widget.num_ignore.value = 0
    widget.adaptive.value = "probe_consistency"
    widget.probe_every.value = 4
    widget.agree.value = 1
    view = widget.run()
    widget.runner.join(60)
    trace = view.trace
    assert view.done and trace is not None and trace.probes
    html = widget.output.value
    assert html.count('class="s1-probe"') == len(trace.probes)
    for probe in trace.probes:
        assert f"probe @{probe.thinking_tokens}: " in html
    assert trace.thinking_end_reason == "adaptive" and trace.thinking_tokens < 24
    assert html.count(f">{STOP_MARK}</span>") == 1 and view.stopped_by_rule
    assert f"({trace.probe_tokens} probe tokens)" in html and f"{trace.thinking_tokens} / 24 thinking tokens" in html


def test_widget_checkbox_turns_on_probes_at_the_models_own_waits():
    widget = BudgetForcingWidget(FakeEngine(), adaptive="answer_confidence", num_ignore=0)
    with pytest.raises(ValueError, match="num_ignore"):
        widget.policy()  # confidence without Waits and without transition probes never probes
    widget.probe_transitions.value = True
    assert widget.policy().adaptive.probe_transitions and widget.probe_transitions in widget.box.children


def test_measure_stream_reports_latency_and_rate(tiny_engine):
    result = measure_stream(tiny_engine, policy=BudgetPolicy(max_thinking_tokens=16, max_answer_tokens=4))
    assert result["tokens"] > 16
    assert 0 < result["first_token_latency_s"] < 30
    assert result["raw_tok_per_s"] > 0 and result["stream_tok_per_s"] > 0 and result["rate_ratio"] > 0


def test_widget_buttons_run_restart_and_stop():
    engine = FakeEngine(n=1000, delay=0.01)
    widget = BudgetForcingWidget(engine, max_thinking_tokens=50, num_ignore=0, min_interval=0.0)
    widget.run_button.click()
    first = widget.runner.view
    time.sleep(0.1)
    widget.budget.value = 40
    widget.run_button.click()  # restart with the moved slider: the first stream is stopped first
    second = widget.runner.view
    assert first is not second and first.stopped and second.budget == 40
    time.sleep(0.1)
    widget.stop_button.click()
    widget.runner.join(5)
    assert second.stopped and "· stopped" in widget.output.value and "/ 40 thinking tokens" in widget.output.value
    assert engine.started == 2
