"""When the forcing processor lets go of a state, and what it refuses to start under: idle states under parallel
workers bounded by what vLLM can still resume, V2 with its worker in another process, batch-sharded sampling, a
finalizer that runs inside a loop over the states, and a driver that fails while collecting."""

from __future__ import annotations

import gc
import logging
from types import SimpleNamespace

import pytest
import torch
from doubles import POLICIES

from s1lib.backends import vllm_processor as fp
from s1lib.backends.vllm_freeing import params_tell_lifetime
from s1lib.backends.vllm_rows import LiveRows
from s1lib.forcing import SamplingConfig

pytestmark = pytest.mark.vllm


def config(world_size: int = 1, backend: str | None = "uni", max_num_seqs: int = 256, **parallel):
    """A vllm_config, as far as the processor reads it."""
    return SimpleNamespace(
        speculative_config=None,
        parallel_config=SimpleNamespace(world_size=world_size, distributed_executor_backend=backend, **parallel),
        scheduler_config=SimpleNamespace(max_num_seqs=max_num_seqs, policy="fcfs"),
    )


@pytest.fixture
def params_for(smollm_tokenizer):
    """An engine request's params under key ``key`` (kept out of the driver's registry)."""
    from vllm import SamplingParams

    compiled = POLICIES[1].compile(smollm_tokenizer)

    def make(key: str):
        forcing = fp.request_config(compiled, SamplingConfig(), 0, key)
        forcing["pid"] = -1  # another process's request: not put in REGISTRY
        return SamplingParams(temperature=0.0, max_tokens=64, extra_args={fp.EXTRA_KEY: forcing})

    return make


def test_idle_states_of_parallel_workers_are_bounded_by_what_vllm_can_resume(params_for, caplog, monkeypatch):
    """Tensor-parallel workers cannot tell an aborted request from a preempted one: they keep the idle states run
    most recently, at most ``max_num_seqs`` (vLLM admits no new request before its preempted ones, so it holds no
    more unfinished) and a budget of tokens, and log what they let go."""
    rows = LiveRows(config(world_size=2, max_num_seqs=3))
    assert not rows.track_params and rows.parked_limit == 3
    held = [rows.attach(params_for(f"r{i}"), [9, 8, 7, i], [], set()) for i in range(6)]
    for step in range(6):  # row i last ran at step i + 1
        rows.ran([held[step]])
    caplog.set_level(logging.INFO, logger="vllm.s1lib.forcing")
    rows.park({id(held[0])})  # r0 runs now; r1..r5 are idle
    assert sorted(rows.live) == ["r0", "r3", "r4", "r5"]
    assert "let go of 2 idle request states (idle 3 to 4 steps; kept the 3 run last, 12 tokens" in caplog.text
    monkeypatch.setattr(LiveRows, "PARKED_TOKENS", 8)  # two 4-token prompts
    rows.park(set())
    assert sorted(rows.live) == ["r4", "r5"]


def test_v2_with_its_worker_in_another_process_does_not_trust_params(params_for):
    """``--distributed-executor-backend mp`` (or ray) at world size 1: V2's worker frees a preempted request and is
    handed fresh params when it comes back, so the old params dying says nothing; the state must survive."""
    assert params_tell_lifetime(None, "v2") and params_tell_lifetime(config(), "v2")
    assert params_tell_lifetime(config(backend="mp"), "legacy"), "the legacy runner keeps a preempted request's params"
    for backend in ("mp", "ray", object):
        assert not params_tell_lifetime(config(backend=backend), "v2"), backend
    assert not params_tell_lifetime(config(world_size=2), "legacy")
    rows = LiveRows(config(backend="mp"), runner="v2")
    first = params_for("preempted")
    row = rows.attach(first, [9, 8], [], set())
    row.state.generated.extend([100, 200])
    del first
    gc.collect()
    assert "preempted" in rows.live, "a preempted request keeps its state although its params died"
    again = rows.attach(params_for("preempted"), [9, 8], [100, 200], set())  # re-added with its output so far
    assert again is row and row.error is None


def test_batch_sharded_sampling_is_refused_when_the_engine_starts():
    sharded = config(world_size=2, enable_batch_sharded_sampling=True)
    with pytest.raises(ValueError, match="--enable-batch-sharded-sampling"):
        fp.ForcingLogitsProcessor(sharded, torch.device("cpu"), False)
    with pytest.raises(ValueError, match="batch-sharded sampling"):
        fp.ForcingLogitsProcessorV2(sharded, None)
    fp.ForcingLogitsProcessor(config(world_size=2, enable_batch_sharded_sampling=False), torch.device("cpu"), False)


def test_a_finalizer_that_runs_inside_a_loop_over_the_states_is_deferred(params_for):
    """The garbage collector may run a params finalizer anywhere, also inside ``attach``'s loop over the states in
    the same thread (the lock is reentrant): the state is dropped once the loop is over, not in it."""
    rows = LiveRows()
    kept = {name: params_for("family") for name in ("first", "second", "third")}  # the params vLLM holds
    first = rows.attach(kept["first"], [1, 2], [], set())
    rows.attach(kept["second"], [1, 3], [], set())
    looked_at = first.sequence

    def collect_in_the_loop() -> list[int]:
        kept.pop("second", None)  # the second request's params die here: their finalizer runs in attach's loop
        gc.collect()
        return looked_at()

    first.sequence = collect_in_the_loop
    third = rows.attach(kept["third"], [1, 4], [], set())
    assert third is not None and third.error is None
    assert sorted(rows.live) == ["family", "family#2"], "the dead request's state went, after the loop"


def test_a_failed_collect_leaves_no_row_behind(smollm_tokenizer):
    """A prompt whose state came back failed raises; the other prompts' rows must not stay in the registry."""
    from s1lib.backends.vllm import VLLMEngine

    class FakeLLM:
        def generate(self, prompts, params, use_tqdm=False):
            outputs = []
            for n, p in enumerate(params):
                key = p.extra_args[fp.EXTRA_KEY]["key"]
                fp.REGISTRY[key] = SimpleNamespace(error="boom" if n == 0 else None, state=None)
                outputs.append(SimpleNamespace(outputs=[SimpleNamespace(token_ids=[])]))
            return outputs

    engine = VLLMEngine(FakeLLM(), smollm_tokenizer, "fake", 512, [smollm_tokenizer.eos_token_id])
    before = set(fp.REGISTRY)
    with pytest.raises(RuntimeError, match="prompt 0 failed in vLLM: boom"):
        engine.generate(["one", "two", "three"], POLICIES[1])
    assert set(fp.REGISTRY) == before, "the rows of the other prompts are gone too"
    engine.close()
