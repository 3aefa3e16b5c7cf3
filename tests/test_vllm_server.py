"""The OpenAI-compatible path: a real ``vllm serve`` subprocess, the multi-call client, the same tokens as the
single pass of the transformers backend (greedy, float32)."""

from __future__ import annotations

import pytest

from s1lib.forcing import BudgetPolicy
from s1lib.forcing.hf import HFEngine
from s1lib.forcing.vllm_server import LocalServer, ServerConfig, ServerError, ServerForcingClient

pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.model]


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
