"""Long decoding is never silent: the active progress prints heartbeat lines with the tokens decoded so far."""

from __future__ import annotations

import io

from s1lib import progress
from s1lib.progress import LineProgress, beat


def test_beats_count_tokens_and_print_only_after_a_quiet_while(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(progress.time, "perf_counter", lambda: now[0])
    out = io.StringIO()
    bar = LineProgress(4, "sweep toy", unit="samples", stream=out)  # starts at 0.0
    beat(100)  # nothing active: nothing counted or printed
    with bar.active():
        for at in (1.0, 5.0, 10.5, 11.0, 22.0):  # lines at 10.5 (quiet since the start) and 22.0 (since 10.5)
            now[0] = at
            beat(8)
    beat(8)  # after the block: not counted
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and bar.tokens == 40
    assert lines[0] == "sweep toy: 0/4 samples · decoding, 24 tokens so far · 0:10 elapsed · ETA ?"
    assert lines[1].startswith("sweep toy: 0/4 samples · decoding, 40 tokens so far · 0:22 elapsed")


def test_the_innermost_active_progress_gets_the_beats():
    outer, inner = LineProgress(1, "outer", stream=io.StringIO()), LineProgress(1, "inner", stream=io.StringIO())
    with outer.active():
        with inner.active():
            beat(3)
        beat(2)
    assert (outer.tokens, inner.tokens) == (2, 3)


def test_transformers_decoding_beats_the_active_progress(tiny_model, monkeypatch):
    from s1lib.backends.hf import HFEngine
    from s1lib.forcing import BudgetPolicy

    monkeypatch.setattr(progress, "BEAT_SECONDS", 0.0)
    engine = HFEngine(*tiny_model)
    out = io.StringIO()
    bar = LineProgress(2, "decode", unit="problems", stream=out)
    with bar.active():
        policy = BudgetPolicy(max_thinking_tokens=6, max_answer_tokens=4)
        traces = engine.generate(["What is 2 + 2?", "What is 3 + 4?"], policy)
    decided = sum(len(t.generated_ids) for t in traces)
    assert bar.tokens > 0 and decided <= bar.tokens <= 2 * max(len(t.generated_ids) for t in traces)
    assert "decoding," in out.getvalue()
