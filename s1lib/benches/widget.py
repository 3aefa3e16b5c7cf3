"""``s1 bench widget``: the live widget's first-token latency and stream rate, measured side by side with plain
generation through the same runner the widget uses."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from s1lib.forcing.policy import BudgetPolicy
from s1lib.widgets import StreamRunner, StreamView

if TYPE_CHECKING:
    from s1lib.forcing.engine import Engine


def _in_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a worker thread, like the stream's own worker: torch's speed differs between the main
    thread and others under CPU contention (measured: 10x slower on the main thread at load 10 on 2 cores)."""
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(fn()))
    worker.start()
    worker.join()
    if not result:
        raise RuntimeError("the raw generation failed (see the traceback above)")
    return result[0]


def _render_only(view: StreamView) -> None:
    view.html()  # the widget's per-update cost, without a front end


def measure_stream(
    engine: Engine,
    question: str = "How many r are in the word raspberry?",
    policy: BudgetPolicy | None = None,
    repeats: int = 1,
) -> dict[str, float]:
    """First-token latency after Run and streamed-vs-raw decode rate, through the same runner the widget uses.

    Raw decoding is ``engine.generate`` on the same prompt and policy (greedy, so both make the same tokens), in a
    worker thread as the stream is. One warm-up generation runs first; each figure is the best of ``repeats``.
    Targets: latency ≤ 0.5 s, rate ratio ≥ 0.9.
    """
    policy = policy or BudgetPolicy(max_thinking_tokens=64, min_thinking_tokens=48, max_answer_tokens=16)
    prompt = engine.prompt_for(question, policy)
    _in_thread(lambda: engine.generate([prompt], policy))  # warm-up
    raw_times, stream_times, latencies, tokens = [], [], [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        trace = _in_thread(lambda: engine.generate([prompt], policy)[0])
        raw_times.append(time.perf_counter() - t0)
        tokens = len(trace.generated_ids)
        runner = StreamRunner(engine, _render_only)
        runner.start(question, policy)
        runner.join(600)
        assert runner.start_time is not None and runner.end_time is not None
        if runner.first_token_time is None:
            raise RuntimeError("the stream produced no token")
        latencies.append(runner.first_token_time - runner.start_time)
        stream_times.append(runner.end_time - runner.start_time)
    raw, streamed = min(raw_times), min(stream_times)
    return {
        "tokens": tokens,
        "first_token_latency_s": round(min(latencies), 4),
        "raw_tok_per_s": round(tokens / raw, 2),
        "stream_tok_per_s": round(tokens / streamed, 2),
        "rate_ratio": round(raw / streamed, 3),
    }


def run_bench(json_output: bool = False, model: str = "default") -> dict[str, float]:
    """``s1 bench widget``: the widget's first-token latency and stream rate on the embedded model."""
    from s1lib.backends.hf import HFEngine

    result = measure_stream(HFEngine.from_name(model), repeats=2)
    if json_output:
        print(json.dumps(result))
    else:
        print(
            f"widget stream: first token {result['first_token_latency_s'] * 1000:.0f} ms after Run (target ≤ 500), "
            f"{result['stream_tok_per_s']:.1f} tok/s streamed vs {result['raw_tok_per_s']:.1f} raw "
            f"(ratio {result['rate_ratio']:.2f}, target ≥ 0.9) over {result['tokens']} tokens"
        )
    return result
