"""The OpenAI-compatible path: a real ``vllm serve`` subprocess, the multi-call client, the same tokens as the
single pass of the transformers backend (greedy, float32); and, without vLLM, the client's HTTP retries against the
fake server."""

from __future__ import annotations

import pytest
from fake_openai import FakeOpenAI

from s1lib.backends.endpoint import ServerConfig, ServerError, ServerForcingClient
from s1lib.backends.hf import HFEngine
from s1lib.forcing import BudgetPolicy
from s1lib.serve.server import LocalServer


@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.model
def test_server_multi_call_matches_single_pass(default_model_dir, embedded_model, tmp_path):
    hf = HFEngine(*embedded_model)
    policy = BudgetPolicy(max_thinking_tokens=20, num_ignore=2, max_answer_tokens=6)
    prompts = [hf.prompt_for(q) for q in ("How many r are in the word raspberry?", "What is 7 + 5?")]
    expected = hf.generate(prompts, policy, batch_size=2)
    server = LocalServer(
        default_model_dir, dtype="float32", max_model_len=2048, enforce_eager=True, log_path=tmp_path / "serve.log"
    )
    with server:
        client = ServerForcingClient(ServerConfig(base_url=server.base_url), hf.tokenizer, hf.eos_token_ids)
        traces = client.generate(prompts, policy)
        assert client.context_length == 2048  # read from /v1/models
        with pytest.raises(ValueError, match="context of 2048"):
            client.generate(prompts[:1], BudgetPolicy(max_thinking_tokens=3000))
        plain = BudgetPolicy(thinking_phase=False, max_answer_tokens=10)  # an instruction model's answer
        plain_prompts = [client.prompt_for(q, plain) for q in ("What is 7 + 5?",)]
        assert client.generate(plain_prompts, plain)[0].to_dict() == hf.generate(plain_prompts, plain)[0].to_dict()
    assert server.process.poll() is not None, "the server must be shut down"
    for a, b in zip(traces, expected):
        assert a.generated_ids == b.generated_ids
        assert a.to_dict() == b.to_dict()
    assert sum(t.num_waits for t in traces) > 0
    assert client.calls >= 2 * (policy.num_ignore + 2) - 2  # thinking rounds plus one answer call per prompt
    with pytest.raises(ServerError, match="cannot connect"):
        client.generate(prompts[:1], policy)


# -- HTTP retries of the client (no vLLM: the fake OpenAI-compatible server) ----------------------------------------
class _NoEosTokenizer:
    eos_token_id = None


def _server_client(server: FakeOpenAI) -> ServerForcingClient:
    return ServerForcingClient(
        ServerConfig(base_url=server.base_url.removesuffix("/v1"), api_key="tok"), _NoEosTokenizer()
    )


def test_requests_retry_429_and_503_then_succeed_honouring_retry_after():
    sleeps: list[float] = []
    failures = [(503, "loading the model"), (429, "too many requests", {"Retry-After": "5"})]
    with FakeOpenAI(lambda body: "ok", failures=failures, models=[{"id": "served", "max_model_len": 512}]) as server:
        client = _server_client(server)
        assert client._request("/v1/models", sleep=sleeps.append)["data"][0]["id"] == "served"
        reply = client._request("/v1/completions", {"model": "served", "prompt": [1, 2]}, sleep=sleeps.append)
    assert reply["choices"][0]["text"] == "ok"
    assert [r["method"] for r in server.requests] == ["GET", "GET", "GET", "POST"]
    assert len(sleeps) == 2 and sleeps[1] == 5.0
    assert {r["auth"] for r in server.requests} == {"Bearer tok"}


def test_requests_give_up_after_the_bound_with_a_server_error():
    sleeps: list[float] = []
    with FakeOpenAI(lambda body: (500, "CUDA out of memory")) as server:
        client = _server_client(server)
        with pytest.raises(ServerError, match=r"/v1/completions: HTTP 500: .*CUDA out of memory.*after 3 attempts"):
            client._request("/v1/completions", {"prompt": [1]}, sleep=sleeps.append)
        url = server.base_url
    assert len(server.requests) == 3 and len(sleeps) == 2
    gone = ServerForcingClient(ServerConfig(base_url=url.removesuffix("/v1")), _NoEosTokenizer())
    with pytest.raises(ServerError, match="cannot connect"):
        gone._request("/v1/models", sleep=sleeps.append)


# -- single-call mode: the server forced the sequence; the client replays it (no vLLM: scripted sequences) --------
PLAIN, IM_START, IM_END = 1000, 1, 2  # an ordinary token, the delimiter's first token, end of sequence


def _served(policy: BudgetPolicy, tokenizer, script: list[int]):
    """What ``s1 serve`` would emit for a model that plays ``script`` (the state machine itself, one pass), and the
    model's most likely token at each position (what vLLM's raw logprobs report)."""
    from doubles import ScriptedModel

    from s1lib.forcing.state import ForcingState

    state = ForcingState(policy.compile(tokenizer, [IM_END]))
    model = ScriptedModel(script)
    top: dict[int, int] = {}

    def choose(banned: frozenset[int]) -> int:
        token = model(banned)
        top.setdefault(len(state.generated), token)  # a second call at a position is the next-best token
        return token

    while not state.done:
        state.next_token(choose)
    return state, [top.get(i, PLAIN + 7) for i in range(len(state.generated))]


P, S, E = PLAIN, IM_START, IM_END
SINGLE_CALL_CASES = {  # name: (policy, the model's script, whether the sequence alone tells which Waits were forced)
    "capped": (BudgetPolicy(max_thinking_tokens=6), [P] * 9 + [E], True),
    "natural end": (BudgetPolicy(max_thinking_tokens=20), [P, P, P, S, P, E], True),
    "two waits": (BudgetPolicy(max_thinking_tokens=40, num_ignore=2), [P, S, P, E, P, S, P, E], True),
    "no string": (BudgetPolicy(num_ignore=2, ignore_strings=None), [P, S, P, E, P, S, P, E], True),
    "answer cap": (BudgetPolicy(max_thinking_tokens=2, max_answer_tokens=3), [P] * 9, True),
    "minimum": (BudgetPolicy(min_thinking_tokens=8), [P, E, P, S, P] * 3 + [S, E], False),
    "cap in a wait": (BudgetPolicy(max_thinking_tokens=3, num_ignore=1), [P, P, S, P, P, P, P, P, E], False),
    "model's own wait": (BudgetPolicy(num_ignore=1), [P, "Wait", P, S, P, "Wait", P, E, P, E], False),
}


def _script(tokenizer, script: list) -> list[int]:
    encode = tokenizer.encode
    return [t for item in script for t in (encode(item, add_special_tokens=False) if isinstance(item, str) else [item])]


@pytest.mark.parametrize("reading", ["greedy", "inferred"])
@pytest.mark.parametrize("case", SINGLE_CALL_CASES)
def test_single_call_replay_recovers_the_servers_trace(smollm_tokenizer, case, reading):
    """Greedy requests are read exactly (the model's choice is its most likely token); otherwise the counts are
    exact and the insertions too whenever the sequence alone tells which Waits were forced."""
    policy, script, inferable = SINGLE_CALL_CASES[case]
    served, top_ids = _served(policy, smollm_tokenizer, _script(smollm_tokenizer, script))
    compiled = policy.compile(smollm_tokenizer, [IM_END])
    steps: list = []
    replayed = ServerForcingClient._replay_single(
        compiled, list(served.generated), steps, top_ids if reading == "greedy" else None
    )
    assert replayed.generated == served.generated and len(steps) == len(served.generated)
    for name in ("thinking_tokens", "answer_tokens", "thinking_end_reason", "finish_reason"):
        assert getattr(replayed, name) == getattr(served, name), name
    if reading == "greedy" or inferable:
        assert [(f.kind, f.position) for f in replayed.insertions] == [(f.kind, f.position) for f in served.insertions]
        assert replayed.num_suppressed == served.num_suppressed


def test_single_call_replay_refuses_a_sequence_the_policy_cannot_make(smollm_tokenizer):
    policy = BudgetPolicy(max_thinking_tokens=40, num_ignore=1)
    compiled = policy.compile(smollm_tokenizer, [IM_END])
    unforced = [PLAIN, PLAIN, *compiled.think_end_ids, PLAIN, IM_END]  # ended at once: the end was not suppressed
    with pytest.raises(ServerError, match="started by s1 serve"):
        ServerForcingClient._replay_single(compiled, unforced, None)
    with pytest.raises(ServerError, match="started by s1 serve"):  # the greedy reading fails, then the inferred one
        ServerForcingClient._replay_single(compiled, unforced, None, list(unforced))


def test_single_call_sends_the_policy_in_vllm_xargs():
    from s1lib.backends.vllm_request import served_xargs

    xargs = served_xargs(BudgetPolicy(max_thinking_tokens=64, ignore_strings=None, delimiters=("<think>", "</think>")))
    assert xargs == {
        "max_thinking_tokens": 64, "min_thinking_tokens": 0, "num_ignore": 0, "ignore_strings": "none",
        "answer_prefix": "\nFinal Answer:", "delimiters": ["<think>", "</think>"],
    }  # fmt: skip
    from s1lib.backends.vllm_processor import served_policy

    assert served_policy(xargs) == BudgetPolicy(
        **{**xargs, "ignore_strings": None, "delimiters": ("<think>", "</think>")}
    )
    with pytest.raises(ValueError, match="mode"):
        ServerConfig(mode="one-call")


def test_a_local_server_logs_vllms_info_lines_even_after_trl_was_imported(monkeypatch):
    """Importing TRL sets VLLM_LOGGING_LEVEL=ERROR in this process; a LocalServer started after it logged only
    HTTP lines, so the soak test in test_serve.py saw no state counts under the full suite. The server's level is
    its own (INFO), its output unbuffered; `s1 serve` keeps the caller's environment."""
    import trl  # noqa: F401  (its import sets the variable when vLLM is installed)

    from s1lib.serve.server import serving_env

    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)
    monkeypatch.setenv("VLLM_LOGGING_LEVEL", "ERROR")
    server = LocalServer("HuggingFaceTB/SmolLM2-135M-Instruct", port=1)  # a hub id: nothing is loaded here
    assert server.log_level == "INFO"
    env = serving_env(server.log_level)
    assert env["VLLM_LOGGING_LEVEL"] == "INFO" and env["PYTHONUNBUFFERED"] == "1"
    assert serving_env()["VLLM_LOGGING_LEVEL"] == "ERROR"
