"""Streaming in the background: :class:`StreamRunner` consumes one ``engine.stream`` in a thread and reports the
:class:`~s1lib.widgets.view.StreamView` (throttled), so the kernel stays responsive, a new run stops the previous one
first and Stop interrupts within a token."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from s1lib.forcing.policy import BudgetPolicy
from s1lib.forcing.trace import Event, SamplingConfig
from s1lib.widgets.view import StreamView

if TYPE_CHECKING:
    from s1lib.forcing.engine import Engine


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
