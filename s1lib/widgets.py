"""The live thinking-budget widget: watch budget forcing happen token by token.

Three layers, so Jupyter and marimo share everything but the controls:

- pure rendering (:class:`StreamView`, :func:`counter_text`, :func:`policy_from_controls`): ``engine.stream``
  events → HTML pieces, where each forced insertion ("Wait", the forced end of thinking, "Final Answer:") is a
  coloured span with a CSS class (``s1-forced-wait``, ``s1-forced-end``, ``s1-forced-final_answer``), and an
  adaptive rule's probes are badges at the point they ran (``s1-probe``: "probe @64: 42 (p=0.91)"), the probe that
  ended thinking followed by ``s1-adaptive-stop`` ("stopped: answer settled");
- :class:`StreamRunner`: consumes one stream in a background thread and calls ``on_update(view)`` (throttled), so
  the kernel stays responsive, a new run stops the previous one first and Stop interrupts within a token;
- :class:`BudgetForcingWidget` (ipywidgets, Jupyter) on top; the marimo notebook uses the first two directly.

:func:`measure_stream` times what a user feels: first-token latency after Run and stream rate vs raw decoding.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from s1lib.eval.grading import extract_answer
from s1lib.forcing.adaptive import STRATEGIES, AdaptiveStop, Probe
from s1lib.forcing.policy import BudgetPolicy
from s1lib.forcing.trace import Event, SamplingConfig, Trace

if TYPE_CHECKING:
    from s1lib.forcing.engine import Engine

IGNORE_CHOICES: dict[str, list[str] | None] = {
    "Wait": ["Wait"],
    "Hmm": ["Hmm"],
    "Alternatively": ["Alternatively"],
    "none": None,
}
"""The ignore-string dropdown: what replaces a suppressed end of thinking (``none`` = no string, just continue)."""

DEMO_QUESTION = "Largest of: 47 83 12 95 38"
"""The notebooks' default question. For the model the demo fine-tunes it is answered wrongly at 8 thinking tokens
(the running maximum has read one number when the cap forces the answer) and rightly from about 32 (95), so
dragging the budget slider changes the answer."""

SUPPRESSED_MARK = "⟲"
"""Shown where an end of thinking was suppressed with ignore string ``none`` (no text was inserted there)."""

ADAPTIVE_CHOICES = ("off", *STRATEGIES)
"""The adaptive-stop dropdown: no rule, or one of :data:`~s1lib.forcing.adaptive.STRATEGIES`."""

STOP_MARK = "stopped: answer settled"
"""Shown after the probe whose answer ended thinking (the rule, not the cap or the model, stopped it)."""

FORCED_LABELS = {"wait": "forced Wait", "end": "forced end of thinking", "final_answer": "forced Final Answer"}

CSS = """
<style>
.s1-widget { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; }
.s1-stream { white-space: pre-wrap; border: 1px solid #ddd; border-radius: 4px; padding: 8px; min-height: 4em;
  max-height: 28em; overflow-y: auto; background: #fafafa; color: #222; }
.s1-answer-text { color: #0b5394; }
.s1-forced { border-radius: 3px; padding: 0 2px; font-weight: bold; }
.s1-forced-wait { background: #ffe599; color: #7f6000; }
.s1-forced-end { background: #d9d2e9; color: #351c75; }
.s1-forced-final_answer { background: #cfe2f3; color: #073763; }
.s1-probe { border: 1px solid #93c47d; border-radius: 8px; padding: 0 4px; margin: 0 2px; font-size: 11px;
  background: #d9ead3; color: #274e13; white-space: nowrap; }
.s1-adaptive-stop { border-radius: 3px; padding: 0 4px; margin: 0 2px; font-weight: bold; background: #274e13;
  color: #fff; white-space: nowrap; }
.s1-counter { margin-top: 4px; color: #444; }
.s1-extracted { margin-top: 4px; font-weight: bold; }
.s1-error { color: #b00; }
</style>
"""


def sampling_from_controls(
    temperature: float = 0.0, temperature_thinking: float = 0.0, seed: int = 0
) -> SamplingConfig:
    """The SamplingConfig of the widget's two temperature sliders: the thinking's and the answer's (both 0: greedy,
    the paper's setting). A seed makes a sampled run repeat when Run is pressed again."""
    return SamplingConfig(temperature=float(temperature), temperature_thinking=float(temperature_thinking), seed=seed)


def policy_from_controls(
    max_thinking_tokens: int,
    num_ignore: int = 0,
    ignore: str = "Wait",
    min_thinking_tokens: int = 0,
    max_answer_tokens: int = 64,
    adaptive: str = "off",
    probe_every: int = 16,
    agree: int = 2,
    threshold: float = 0.95,
    probe_tokens: int = 20,
    probe_opening: str = "",
    probe_transitions: bool = False,
) -> BudgetPolicy:
    """The BudgetPolicy for the widget's control values (clamping min thinking to the cap instead of failing).

    ``adaptive`` turns on a stop rule (:data:`ADAPTIVE_CHOICES`); ``probe_every`` and ``agree`` set
    probe_consistency, ``threshold`` and ``probe_transitions`` answer_confidence (which probes at suppressed ends,
    so it needs Waits, and with ``probe_transitions`` also where the model itself starts the ignore string);
    ``probe_tokens`` and ``probe_opening`` shape every probe (AdaptiveStop's fields; not controls)."""
    if ignore not in IGNORE_CHOICES:
        raise ValueError(f"ignore must be one of {list(IGNORE_CHOICES)}, got {ignore!r}")
    if adaptive not in ADAPTIVE_CHOICES:
        raise ValueError(f"adaptive must be one of {list(ADAPTIVE_CHOICES)}, got {adaptive!r}")
    cap = int(max_thinking_tokens)
    rule = None
    if adaptive != "off":
        rule = AdaptiveStop(
            strategy=adaptive, probe_every=int(probe_every), agree=int(agree), threshold=threshold,
            probe_tokens=int(probe_tokens), probe_opening=probe_opening, probe_transitions=bool(probe_transitions),
        )  # fmt: skip
    return BudgetPolicy(
        max_thinking_tokens=cap,
        num_ignore=int(num_ignore),
        min_thinking_tokens=min(int(min_thinking_tokens), cap),
        ignore_strings=IGNORE_CHOICES[ignore],
        max_answer_tokens=int(max_answer_tokens),
        adaptive=rule,
    )


def counter_text(thinking_tokens: int, budget: int | None) -> str:
    """``"37 / 128 thinking tokens"`` (``"37 thinking tokens"`` without a budget)."""
    return (
        f"{thinking_tokens} / {budget} thinking tokens" if budget is not None else f"{thinking_tokens} thinking tokens"
    )


def probe_badge(probe: Probe) -> str:
    """``"probe @64: 42 (p=0.91)"``: where the probe ran, the answer it read (``–`` when none), its confidence."""
    answer = probe.answer if probe.answer else "–"
    return f"probe @{probe.thinking_tokens}: {answer} (p={probe.confidence:.2f})"


def stop_title(rule: AdaptiveStop | None, probe: Probe) -> str:
    """The stop marker's tooltip: which rule ended thinking, and why."""
    if rule is None:
        return f"the adaptive rule ended thinking at {probe.thinking_tokens} tokens"
    if rule.strategy == "answer_confidence":
        return f"answer_confidence: p={probe.confidence:.2f} >= {rule.threshold:g}, thinking ended"
    return f"probe_consistency: the last {rule.agree} probes agree on {probe.answer!r}, thinking ended"


@dataclass
class Segment:
    """A run of streamed text: model text (``kind`` ``thinking``/``answer``), one forced insertion, or a marker that
    is not part of the sequence (``probe``, ``adaptive_stop``: no ``text``, so :attr:`StreamView.text` stays the
    generated text)."""

    kind: str
    text: str = ""
    forced: bool = False
    probe: Probe | None = None
    title: str = ""

    def html(self) -> str:
        if self.kind == "probe" and self.probe is not None:
            p = self.probe
            title = html.escape(f"{p.trigger} probe, {p.num_tokens} probe tokens: {p.text!r}", quote=True)
            return f'<span class="s1-probe" title="{title}">{html.escape(probe_badge(p))}</span>'
        if self.kind == "adaptive_stop":
            return f'<span class="s1-adaptive-stop" title="{html.escape(self.title, quote=True)}">{STOP_MARK}</span>'
        text = html.escape(self.text)
        if self.forced:
            title = FORCED_LABELS.get(self.kind, self.kind)
            return f'<span class="s1-forced s1-forced-{self.kind}" title="{title}">{text}</span>'
        if self.kind == "answer":
            return f'<span class="s1-answer-text">{text}</span>'
        return text


@dataclass
class StreamView:
    """The state of one streamed generation, built from events; renders to HTML without any widget library."""

    budget: int | None = None
    rule: AdaptiveStop | None = None
    segments: list[Segment] = field(default_factory=list)
    thinking_tokens: int = 0
    answer_tokens: int = 0
    num_events: int = 0
    phase: str = "thinking"
    done: bool = False
    stopped: bool = False
    error: str | None = None
    trace: Trace | None = None

    def push(self, event: Event) -> None:
        """Add one ``engine.stream`` event."""
        self.num_events += 1
        self.thinking_tokens = event.thinking_tokens
        self.answer_tokens = event.answer_tokens
        if event.kind == "done":
            self.done = True
            self.trace = event.trace
            self.phase = "done"
            self.stopped = event.trace is not None and event.trace.finish_reason == "stopped"
            return
        if event.kind == "phase":
            self.phase = event.phase
            return
        if event.kind == "probe":  # off the sequence: a badge where it ran, and the stop marker if it ended thinking
            if event.probe is not None:
                self.segments.append(Segment("probe", probe=event.probe))
                if event.probe.stop:
                    self.segments.append(Segment("adaptive_stop", title=stop_title(self.rule, event.probe)))
            return
        if event.kind == "token" and event.insertion is not None and event.insertion.kind == "wait":
            # Suppressed without an ignore string: nothing was inserted, so mark the spot itself.
            self.segments.append(Segment("wait", SUPPRESSED_MARK, forced=True))
        if event.kind == "forced":
            if event.insertion is not None:
                self.segments.append(Segment(event.insertion.kind, event.text, forced=True))
                return
            last = self.segments[-1] if self.segments else None
            if last is not None and last.forced:  # the rest of a multi-token insertion
                last.text += event.text
                return
        kind = "answer" if self.phase == "answer" else "thinking"
        if self.segments and not self.segments[-1].forced and self.segments[-1].kind == kind:
            self.segments[-1].text += event.text
        else:
            self.segments.append(Segment(kind, event.text))
        if event.phase != self.phase and event.phase in ("answer", "done"):
            self.phase = event.phase

    @property
    def text(self) -> str:
        """Everything generated so far, as plain text."""
        return "".join(s.text for s in self.segments)

    def forced_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for s in self.segments:
            if s.forced:
                counts[s.kind] = counts.get(s.kind, 0) + 1
        return counts

    @property
    def probes(self) -> list[Probe]:
        """The probes seen so far, in order."""
        return [s.probe for s in self.segments if s.probe is not None]

    @property
    def stopped_by_rule(self) -> bool:
        return any(s.kind == "adaptive_stop" for s in self.segments)

    @property
    def answer(self) -> str | None:
        """The extracted final answer (only once the stream is done)."""
        if not self.done:
            return None
        return extract_answer(self.trace.text if self.trace is not None else self.text)

    def counter(self) -> str:
        text = counter_text(self.thinking_tokens, self.budget)
        waits = self.forced_counts().get("wait", 0)
        if waits:
            text += f" · {waits} forced Wait{'s' if waits > 1 else ''}"
        probes = self.probes
        if probes:  # their tokens are never thinking tokens: shown apart
            cost = sum(p.num_tokens for p in probes)
            text += f" · {len(probes)} probe{'s' if len(probes) > 1 else ''} ({cost} probe tokens)"
        if self.stopped_by_rule:
            text += " · adaptive stop"
        return text + f" · {'stopped' if self.stopped else self.phase}"

    def html(self) -> str:
        """The whole widget body: streamed text with marked insertions, the counter, the answer when done."""
        body = "".join(s.html() for s in self.segments)
        parts = [
            CSS,
            '<div class="s1-widget">',
            f'<div class="s1-stream">{body}</div>',
            f'<div class="s1-counter">{html.escape(self.counter())}</div>',
        ]
        if self.error:
            parts.append(f'<div class="s1-error">{html.escape(self.error)}</div>')
        if self.done:
            answer = self.answer
            shown = html.escape(answer) if answer is not None else "(no answer extracted)"
            parts.append(f'<div class="s1-extracted">Answer: <span class="s1-answer">{shown}</span></div>')
        parts.append("</div>")
        return "".join(parts)


def idle_html(message: str = "Press Run to generate.") -> str:
    return f'{CSS}<div class="s1-widget"><div class="s1-stream">{html.escape(message)}</div></div>'


class StreamRunner:
    """Runs ``engine.stream`` in a background thread and reports a :class:`StreamView` to ``on_update``.

    ``start`` stops a running stream first (and waits for it), so a new Run restarts cleanly; ``stop`` makes the
    engine end within a token. Updates are throttled to one per ``min_interval`` seconds, plus the first token
    and the end, which are always reported at once.
    """

    def __init__(
        self,
        engine: Engine,
        on_update: Callable[[StreamView], None],
        min_interval: float = 0.05,
        thread_factory: Callable[..., threading.Thread] = threading.Thread,
    ):
        self.engine = engine
        self.thread_factory = thread_factory  # marimo passes mo.Thread, whose output reaches the calling cell
        self.on_update = on_update
        self.min_interval = min_interval
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self.view: StreamView | None = None
        self.first_token_time: float | None = None
        self.start_time: float | None = None
        self.end_time: float | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, question: str, policy: BudgetPolicy, sampling: SamplingConfig | None = None) -> StreamView:
        self.stop(wait=True)
        cancel = threading.Event()
        self._cancel = cancel
        view = StreamView(budget=policy.max_thinking_tokens, rule=policy.adaptive)
        self.view = view
        self.start_time = time.perf_counter()
        self.first_token_time = self.end_time = None
        self._thread = self.thread_factory(
            target=self._consume, args=(question, policy, sampling, view, cancel), name="s1-widget", daemon=True
        )
        self._thread.start()
        return view

    def _consume(
        self,
        question: str,
        policy: BudgetPolicy,
        sampling: SamplingConfig | None,
        view: StreamView,
        cancel: threading.Event,
    ) -> None:
        last = 0.0
        stream: Iterator[Event] | None = None
        try:
            stream = self.engine.stream(self.engine.prompt_for(question, policy), policy, sampling)
            for event in stream:
                view.push(event)
                now = time.perf_counter()
                first = self.first_token_time is None and event.kind in ("token", "forced")
                if first:
                    self.first_token_time = now
                if first or event.kind == "done" or now - last >= self.min_interval:
                    self.on_update(view)
                    last = now
                if cancel.is_set():
                    break
        except Exception as exc:  # shown in the widget instead of dying silently in a thread
            view.error = f"{type(exc).__name__}: {exc}"
        finally:
            if stream is not None and hasattr(stream, "close"):
                stream.close()  # stops and joins the engine's worker
            if not view.done:
                view.done = view.stopped = True
                view.phase = "stopped"
            self.end_time = time.perf_counter()
            self.on_update(view)

    def stop(self, wait: bool = False, timeout: float = 30.0) -> None:
        """Interrupt the running stream (within a token); ``wait`` blocks until its thread ended."""
        self._cancel.set()
        if self.running:
            self.engine.stop()
        if wait and self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"the previous stream did not stop within {timeout} s")

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


class BudgetForcingWidget:
    """The Jupyter widget: budget controls, an adaptive stop rule (off by default), a question, Run/Stop, and the
    live marked stream.

    Display it with ``widget`` as a cell's last expression (or ``display(widget.box)``).
    """

    def __init__(
        self,
        engine: Engine,
        question: str = "How many r are in the word raspberry?",
        max_thinking_tokens: int = 64,
        max_budget: int = 1024,
        num_ignore: int = 1,
        ignore: str = "Wait",
        min_thinking_tokens: int = 0,
        max_answer_tokens: int = 32,
        min_interval: float = 0.05,
        adaptive: str = "off",
        probe_every: int = 16,
        agree: int = 2,
        threshold: float = 0.95,
        probe_tokens: int = 20,
        probe_opening: str = "",
        probe_transitions: bool = False,
        temperature: float = 0.0,
        temperature_thinking: float = 0.0,
    ):
        import ipywidgets as w

        self.engine = engine
        self.max_answer_tokens = max_answer_tokens
        self.probe_shape = {"probe_tokens": probe_tokens, "probe_opening": probe_opening}
        style = {"description_width": "150px"}
        layout = w.Layout(width="520px")
        self.budget = w.IntSlider(
            value=max_thinking_tokens, min=0, max=max_budget, step=1, description="Max thinking tokens",
            style=style, layout=layout,
        )  # fmt: skip
        self.num_ignore = w.IntSlider(
            value=num_ignore, min=0, max=8, description="Waits (num_ignore)", style=style, layout=layout
        )
        self.min_thinking = w.IntSlider(
            value=min_thinking_tokens, min=0, max=max_budget, description="Min thinking tokens", style=style,
            layout=layout,
        )  # fmt: skip
        self.ignore = w.Dropdown(options=list(IGNORE_CHOICES), value=ignore, description="Ignore string", style=style)
        self.adaptive = w.Dropdown(
            options=list(ADAPTIVE_CHOICES), value=adaptive, description="Adaptive stop", style=style
        )
        self.probe_every = w.IntSlider(
            value=probe_every, min=1, max=max(256, probe_every), description="Probe every (tokens)", style=style,
            layout=layout,
        )  # fmt: skip
        self.agree = w.IntSlider(value=agree, min=1, max=8, description="Agreeing probes", style=style, layout=layout)
        self.threshold = w.FloatSlider(
            value=threshold, min=0.5, max=1.0, step=0.01, description="Confidence ≥", style=style, layout=layout
        )
        self.probe_transitions = w.Checkbox(
            value=probe_transitions, description="Also probe at the model's own Waits (DEER)", style=style
        )
        self.temperature_thinking = w.FloatSlider(
            value=temperature_thinking, min=0.0, max=1.5, step=0.05, description="Thinking temperature",
            style=style, layout=layout,
        )  # fmt: skip
        self.temperature = w.FloatSlider(
            value=temperature, min=0.0, max=1.5, step=0.05, description="Answer temperature", style=style,
            layout=layout,
        )  # fmt: skip
        self.question = w.Textarea(value=question, description="Question", style=style, layout=w.Layout(width="520px"))
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.stop_button = w.Button(description="Stop", button_style="warning", icon="stop")
        self.output = w.HTML(value=idle_html())
        for widget, cls in (
            (self.budget, "s1-budget"),
            (self.num_ignore, "s1-num-ignore"),
            (self.adaptive, "s1-adaptive"),
            (self.run_button, "s1-run"),
            (self.stop_button, "s1-stop"),
            (self.output, "s1-output"),
        ):
            widget.add_class(cls)
        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())
        self.runner = StreamRunner(engine, self._update, min_interval)
        self.box = w.VBox(
            [
                self.question,
                self.budget,
                self.num_ignore,
                self.min_thinking,
                self.ignore,
                self.adaptive,
                w.HBox([self.probe_every, self.agree]),
                self.threshold,
                self.probe_transitions,
                w.HBox([self.temperature_thinking, self.temperature]),
                w.HBox([self.run_button, self.stop_button]),
                self.output,
            ]
        )

    def policy(self) -> BudgetPolicy:
        return policy_from_controls(
            self.budget.value, self.num_ignore.value, self.ignore.value, self.min_thinking.value,
            self.max_answer_tokens, self.adaptive.value, self.probe_every.value, self.agree.value, self.threshold.value,
            probe_transitions=self.probe_transitions.value, **self.probe_shape,
        )  # fmt: skip

    def sampling(self) -> SamplingConfig:
        return sampling_from_controls(self.temperature.value, self.temperature_thinking.value)

    def _update(self, view: StreamView) -> None:
        self.output.value = view.html()

    def run(self) -> StreamView:
        """Stop any running stream, then start one with the current controls (returns at once)."""
        try:
            policy = self.policy()
        except ValueError as exc:
            self.output.value = idle_html(str(exc))
            raise
        return self.runner.start(self.question.value, policy, self.sampling())

    def stop(self) -> None:
        self.runner.stop()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.box)
