"""The one OpenAI-compatible client: retries with backoff on 429/5xx/connection errors, Retry-After, clear errors."""

from __future__ import annotations

import email.utils

import pytest
from fake_openai import FakeOpenAI

from s1lib.openai_client import ApiClient, ApiError, retry_after_seconds


class Sleeps(list):
    """An injected sleep that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(base_url: str, **kwargs) -> tuple[ApiClient, Sleeps]:
    sleeps = Sleeps()
    return ApiClient(base_url, sleep=sleeps, **kwargs), sleeps


def test_retries_429_and_503_with_exponential_backoff_then_succeeds():
    with FakeOpenAI(lambda body: "Hello", failures=[(429, "slow down"), (503, "warming up")]) as server:
        api, sleeps = client(server.base_url, api_key="sk-1", backoff=0.5, jitter=0.0)
        assert api.chat("m", "Hi") == "Hello"
    assert len(server.requests) == 3 and sleeps == [0.5, 1.0]
    assert {r["auth"] for r in server.requests} == {"Bearer sk-1"}
    assert server.requests[0]["path"] == "/v1/chat/completions" and server.requests[0]["prompt"] == "Hi"


def test_jitter_stretches_each_wait_within_its_bound():
    api, _ = client("http://unused", backoff=1.0, jitter=0.25, max_wait=3.0)
    waits = [api.wait(retry) for retry in (0, 1, 2) for _ in range(20)]
    assert all(1.0 <= w <= 1.25 for w in waits[:20]) and all(2.0 <= w <= 2.5 for w in waits[20:40])
    assert all(w == 3.0 for w in waits[40:])  # 4 s and more are capped by max_wait
    assert len(set(waits[:20])) > 1


def test_retry_after_is_honoured_and_capped():
    failures = [(429, "rate limited", {"Retry-After": "7"}), (503, "busy", {"Retry-After": "120"})]
    with FakeOpenAI(lambda body: "ok", failures=failures) as server:
        api, sleeps = client(server.base_url, backoff=0.01, max_wait=30.0)
        assert api.chat("m", "Hi") == "ok"
    assert sleeps == [7.0, 30.0]
    assert (
        retry_after_seconds("3.5") == 3.5 and retry_after_seconds("soon") is None and retry_after_seconds(None) is None
    )
    date = email.utils.formatdate(1_000_010, usegmt=True)
    assert retry_after_seconds(date, now=1_000_000) == 10.0


def test_gives_up_after_the_bound_naming_url_status_and_body():
    with FakeOpenAI(lambda body: (503, "the model is overloaded, try later")) as server:
        api, sleeps = client(server.base_url, max_retries=3)
        with pytest.raises(ApiError) as info:
            api.chat("m", "Hi")
    error = info.value
    assert len(server.requests) == 4 and len(sleeps) == 3
    assert (error.status, error.attempts, error.url) == (503, 4, server.base_url + "/chat/completions")
    message = str(error)
    assert message.startswith(server.base_url + "/chat/completions: HTTP 503: ")
    assert "the model is overloaded" in message and message.endswith("failed after 4 attempts")


def test_other_statuses_are_not_retried():
    with FakeOpenAI(lambda body: (401, "invalid api key")) as server:
        api, sleeps = client(server.base_url)
        with pytest.raises(ApiError, match="HTTP 401: .*invalid api key") as info:
            api.chat("m", "Hi")
    assert len(server.requests) == 1 and sleeps == [] and info.value.status == 401 and not info.value.retryable


def test_connection_errors_are_retried_then_named():
    with FakeOpenAI(lambda body: "never") as server:
        url = server.base_url
    api, sleeps = client(url, max_retries=2)  # the server is gone: connection refused
    with pytest.raises(ApiError, match=r"cannot connect .*failed after 3 attempts") as info:
        api.get("/models")
    assert info.value.status is None and len(sleeps) == 2


def test_get_and_post_json():
    with FakeOpenAI(lambda body: "done", models=[{"id": "served", "max_model_len": 2048}]) as server:
        api, _ = client(server.base_url.removesuffix("/v1"))
        assert api.get("/v1/models")["data"] == [{"id": "served", "max_model_len": 2048}]
        reply = api.post("/v1/completions", {"model": "served", "prompt": [1, 2, 3]})
    assert reply["choices"][0]["text"] == "done"
    assert [(r["method"], r["path"]) for r in server.requests] == [("GET", "/v1/models"), ("POST", "/v1/completions")]
    assert server.requests[0]["auth"] is None and server.requests[1]["prompt"] == [1, 2, 3]


def test_bad_retry_bound_is_rejected():
    with pytest.raises(ValueError, match="max_retries"):
        ApiClient("http://x", max_retries=-1)
