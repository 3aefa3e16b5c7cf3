"""Pure rendering of a stream: ``engine.stream`` events → HTML, without any widget library (Jupyter and marimo both
show it). Each forced insertion ("Wait", the forced end of thinking, "Final Answer:") is a coloured span with a CSS
class (``s1-forced-wait``, ``s1-forced-end``, ``s1-forced-final_answer``); an adaptive rule's probes are badges at
the point they ran (``s1-probe``: "probe @64: 42 (p=0.91)"), the probe that ended thinking followed by
``s1-adaptive-stop`` ("stopped: answer settled")."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from s1lib.eval.grading import extract_answer
from s1lib.forcing.adaptive import AdaptiveStop, Probe, StopStrategy
from s1lib.forcing.state import InsertionKind
from s1lib.forcing.trace import Event, EventKind, Trace
from s1lib.named import Named

DEMO_QUESTION = "Largest of: 47 83 12 95 38"
"""The notebooks' default question. For the model the demo fine-tunes it is answered wrongly at 8 thinking tokens
(the running maximum has read one number when the cap forces the answer) and rightly from about 32 (95), so
dragging the budget slider changes the answer."""

SUPPRESSED_MARK = "⟲"
"""Shown where an end of thinking was suppressed with ignore string ``none`` (no text was inserted there)."""

STOP_MARK = "stopped: answer settled"
"""Shown after the probe whose answer ended thinking (the rule, not the cap or the model, stopped it)."""

FORCED_LABELS = {
    InsertionKind.WAIT: "forced Wait",
    InsertionKind.END: "forced end of thinking",
    InsertionKind.FINAL_ANSWER: "forced Final Answer",
}


class SegmentKind(Named):
    """What a run of streamed text is."""

    THINKING = "thinking"  # model text before the end of thinking
    ANSWER = "answer"  # model text after it
    FORCED = "forced"  # one forced insertion (its InsertionKind in Segment.insertion)
    PROBE = "probe"  # a probe's badge, off the sequence
    ADAPTIVE_STOP = "adaptive_stop"  # the marker after the probe that ended thinking


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
    if rule.strategy == StopStrategy.ANSWER_CONFIDENCE:
        return f"answer_confidence: p={probe.confidence:.2f} >= {rule.threshold:g}, thinking ended"
    return f"probe_consistency: the last {rule.agree} probes agree on {probe.answer!r}, thinking ended"


@dataclass
class Segment:
    """A run of streamed text: model text (``thinking``/``answer``), one forced insertion (``forced``, its kind in
    ``insertion``), or a marker that is not part of the sequence (``probe``, ``adaptive_stop``: no ``text``, so
    :attr:`StreamView.text` stays the generated text)."""

    kind: SegmentKind
    text: str = ""
    insertion: InsertionKind | None = None
    probe: Probe | None = None
    title: str = ""

    @property
    def forced(self) -> bool:
        return self.kind == SegmentKind.FORCED

    def html(self) -> str:
        if self.kind == SegmentKind.PROBE and self.probe is not None:
            p = self.probe
            title = html.escape(f"{p.trigger} probe, {p.num_tokens} probe tokens: {p.text!r}", quote=True)
            return f'<span class="s1-probe" title="{title}">{html.escape(probe_badge(p))}</span>'
        if self.kind == SegmentKind.ADAPTIVE_STOP:
            return f'<span class="s1-adaptive-stop" title="{html.escape(self.title, quote=True)}">{STOP_MARK}</span>'
        text = html.escape(self.text)
        if self.forced:
            title = FORCED_LABELS.get(self.insertion, str(self.insertion))
            return f'<span class="s1-forced s1-forced-{self.insertion}" title="{title}">{text}</span>'
        if self.kind == SegmentKind.ANSWER:
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
        if event.kind == EventKind.DONE:
            self.done = True
            self.trace = event.trace
            self.phase = "done"
            self.stopped = event.trace is not None and event.trace.finish_reason == "stopped"
            return
        if event.kind == EventKind.PHASE:
            self.phase = event.phase
            return
        if event.kind == EventKind.PROBE:  # off the sequence: a badge where it ran, a stop marker if it ended thinking
            if event.probe is not None:
                self.segments.append(Segment(SegmentKind.PROBE, probe=event.probe))
                if event.probe.stop:
                    self.segments.append(Segment(SegmentKind.ADAPTIVE_STOP, title=stop_title(self.rule, event.probe)))
            return
        if event.kind == EventKind.TOKEN and event.insertion is not None and event.insertion.kind == InsertionKind.WAIT:
            # Suppressed without an ignore string: nothing was inserted, so mark the spot itself.
            self.segments.append(Segment(SegmentKind.FORCED, SUPPRESSED_MARK, insertion=InsertionKind.WAIT))
        if event.kind == EventKind.FORCED:
            if event.insertion is not None:
                self.segments.append(Segment(SegmentKind.FORCED, event.text, insertion=event.insertion.kind))
                return
            last = self.segments[-1] if self.segments else None
            if last is not None and last.forced:  # the rest of a multi-token insertion
                last.text += event.text
                return
        kind = SegmentKind.ANSWER if self.phase == "answer" else SegmentKind.THINKING
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
                counts[str(s.insertion)] = counts.get(str(s.insertion), 0) + 1
        return counts

    @property
    def probes(self) -> list[Probe]:
        """The probes seen so far, in order."""
        return [s.probe for s in self.segments if s.probe is not None]

    @property
    def stopped_by_rule(self) -> bool:
        return any(s.kind == SegmentKind.ADAPTIVE_STOP for s in self.segments)

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
