"""The one engine contract: every backend is an ``Engine``, checks a call the same way, and streams the same
events; the served-endpoint client honours ``batch_size`` (concurrent prompts) and refuses what it cannot run."""

from __future__ import annotations

import pytest
from doubles import TinyServer, end_provoker

from s1lib.backends.endpoint import ServerForcingClient
from s1lib.backends.hf import HFEngine
from s1lib.backends.vllm import VLLMEngine
from s1lib.forcing import BudgetPolicy
from s1lib.forcing.engine import Engine, EngineBase

WAITS = BudgetPolicy(max_thinking_tokens=30, num_ignore=2, max_answer_tokens=5)


@pytest.fixture(scope="module")
def tiny_engine(tiny_model):
    return HFEngine(*tiny_model)


@pytest.mark.parametrize("backend", [HFEngine, VLLMEngine, ServerForcingClient])
def test_every_backend_implements_the_contract(backend):
    assert issubclass(backend, EngineBase)
    for name in ("prompt_for", "encode_prompts", "check_fits", "generate", "stream", "stop"):
        assert callable(getattr(backend, name)), name
    # generate and stream are the base's: the backends implement only _generate/_stream
    assert backend.generate is EngineBase.generate and backend.stream is EngineBase.stream
    assert backend._generate is not EngineBase._generate and backend._stream is not EngineBase._stream


def test_instances_are_engines(tiny_engine):
    assert isinstance(tiny_engine, Engine)
    assert isinstance(TinyServer(tiny_engine), Engine)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda e, p: e.generate(p, WAITS, seeds=[1, 2, 3]), "seeds has 3 entries"),
        (lambda e, p: e.generate(p, WAITS, batch_size=0), "batch_size must be an integer >= 1"),
        (lambda e, p: e.generate(["", *p], WAITS), r"prompts\[0\] is empty"),
        (lambda e, p: e.generate(p, BudgetPolicy(max_thinking_tokens=5000)), "context"),
        (lambda e, p: list(e.stream(p[0], BudgetPolicy(max_thinking_tokens=5000))), "context"),
    ],
)
def test_bad_calls_fail_alike_on_every_backend(tiny_engine, call, message):
    prompts = [tiny_engine.prompt_for("How many r are in raspberry?", WAITS)]
    for engine in (tiny_engine, TinyServer(tiny_engine)):
        with pytest.raises(ValueError, match=message):
            call(engine, prompts)


def test_server_refuses_local_processors(tiny_engine):
    client = TinyServer(tiny_engine)
    with pytest.raises(ValueError, match="vllm-server backend cannot run extra_processors"):
        client.generate([tiny_engine.prompt_for("2+2?", WAITS)], WAITS, extra_processors=[end_provoker])
    assert client.calls == 0, "refused before any call"


def test_server_runs_batch_size_prompts_at_once_with_the_same_traces(tiny_engine):
    questions = ["How many r are in raspberry?", "What is 7 + 5?", "Largest of: 47 83 12"]
    prompts = [tiny_engine.prompt_for(q, WAITS) for q in questions]
    alone = TinyServer(tiny_engine).generate(prompts, WAITS)
    together = TinyServer(tiny_engine).generate(prompts, WAITS, batch_size=3)
    assert [t.to_dict() for t in together] == [t.to_dict() for t in alone]
    assert [t.prompt for t in together] == prompts


def test_server_stream_gives_the_events_of_its_trace(tiny_engine):
    client = TinyServer(tiny_engine)
    prompt = tiny_engine.prompt_for("How many r are in raspberry?", WAITS)
    events = list(client.stream(prompt, WAITS))
    done = events[-1]
    assert done.kind == "done"
    assert done.trace.to_dict() == client.generate([prompt], WAITS)[0].to_dict()
    tokens = [e.token_id for e in events if e.kind in ("token", "forced")]
    assert tokens == done.trace.generated_ids
    inserted = [e.insertion.kind for e in events if e.insertion is not None]
    assert inserted == [f.kind for f in done.trace.forced] and "wait" in inserted
    phases = [e.phase for e in events if e.kind == "phase"]
    assert phases[-1] == "done" and "answer" in phases
