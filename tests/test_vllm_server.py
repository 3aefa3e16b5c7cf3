"""The OpenAI-compatible path: a real ``vllm serve`` subprocess, the multi-call client, the same tokens as the
single pass of the transformers backend (greedy, float32); and, without vLLM, the client's HTTP retries against the
fake server."""

from __future__ import annotations

import pytest
from fake_openai import FakeOpenAI

from s1lib.forcing import BudgetPolicy
from s1lib.forcing.hf import HFEngine
from s1lib.forcing.serve import LocalServer
from s1lib.forcing.vllm_server import ServerConfig, ServerError, ServerForcingClient


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
