"""The optional LLM judge against a tiny OpenAI-compatible server on 127.0.0.1 (no real API calls)."""

from __future__ import annotations

import pytest
from fake_openai import FakeOpenAI

from s1lib.eval.benchmarks import Problem
from s1lib.eval.grading import GradingConfig, MathVerifier, grade
from s1lib.eval.judge import EQUIVALENCE_PROMPT, JudgeConfig, JudgeError, LLMJudge, parse_yes_no


def config(base_url: str, **kwargs) -> JudgeConfig:
    return JudgeConfig(base_url=base_url, api_key_env="S1_TEST_JUDGE_KEY", retry_wait=0.01, timeout=5, **kwargs)


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("Yes", True),
        ("No", False),
        ("The expressions differ.\n\nNo.", False),
        ("Reasoning...\n**Yes**", True),
        ("Reasoning\nVerdict: yes", True),
        ("Final answer: No\n\n", False),
        ("Yes\nbut then I reconsidered", None),
        ("No idea", None),
        ("Yes, but only if x > 0", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_yes_no_reads_only_the_last_line(text, verdict):
    assert parse_yes_no(text) is verdict


def test_equivalence_request_and_verdicts(monkeypatch):
    monkeypatch.setenv("S1_TEST_JUDGE_KEY", "sk-test-123")
    with FakeOpenAI.from_queue([(200, "Yes"), (200, "Thinking...\nNo")]) as server:
        judge = LLMJudge(config(server.base_url, model="judge-mini"))
        assert judge.equivalent("\\frac{1}{2}", "0.5") is True
        assert judge.equivalent("\\frac{1}{2}", "2") is False
    first = server.requests[0]
    assert first["path"] == "/v1/chat/completions"
    assert first["auth"] == "Bearer sk-test-123"
    assert first["body"]["model"] == "judge-mini" and first["body"]["temperature"] == 0.0
    prompt = first["body"]["messages"][0]["content"]
    assert prompt.endswith("Expression 1: \\frac{1}{2}\n    Expression 2: 0.5")  # gold first
    assert prompt.startswith(EQUIVALENCE_PROMPT.split("\n")[0])
    assert judge.calls == 2


def test_grader_prompt_and_retry_on_server_error(monkeypatch):
    monkeypatch.setenv("S1_TEST_JUDGE_KEY", "k")
    with FakeOpenAI.from_queue([(503, ""), (200, "The attempt gets 12, the solution 12.\nYes")]) as server:
        verdict = LLMJudge(config(server.base_url)).grade_attempt("What is 3*4?", "3*4 = 12", "It is 12")
    assert verdict.correct is True and "12" in verdict.reason
    assert len(server.requests) == 2
    content = server.requests[1]["body"]["messages"][0]["content"]
    assert "What is 3*4?" in content and "3*4 = 12" in content and "It is 12" in content


def test_errors_are_clear(monkeypatch):
    monkeypatch.delenv("S1_TEST_JUDGE_KEY", raising=False)
    with pytest.raises(JudgeError, match="S1_TEST_JUDGE_KEY is not set"):
        LLMJudge(config("http://127.0.0.1:9/v1")).chat("hi")
    monkeypatch.setenv("S1_TEST_JUDGE_KEY", "k")
    with FakeOpenAI.from_queue([(401, "")]) as server, pytest.raises(JudgeError, match="HTTP 401"):
        LLMJudge(config(server.base_url)).chat("hi")
    with FakeOpenAI.from_queue([]) as server:
        url = server.base_url
    with pytest.raises(JudgeError, match="failed"):  # server gone: connection refused, after retries
        LLMJudge(config(url, max_retries=1)).chat("hi")


def test_no_key_mode_for_local_servers_and_grade_fallback():
    with FakeOpenAI.from_queue([(200, "Yes")]) as server:
        judge = LLMJudge(JudgeConfig(base_url=server.base_url, api_key_env=None, timeout=5))
        verifier = MathVerifier(GradingConfig(timeout=30))
        problem = Problem("p", "q", "\\frac{1}{2}", "math", "toy")
        result = grade(problem, "<|im_start|>answer\nAnswer: one half", verifier=verifier, judge=judge)
        verifier.close()
    assert server.requests[0]["auth"] is None
    assert (result.correct, result.judged_by, result.status) == (True, "llm", "correct")


def test_rate_limits_are_retried_honouring_retry_after(monkeypatch):
    monkeypatch.setenv("S1_TEST_JUDGE_KEY", "k")
    sleeps: list[float] = []
    failures = [(429, "rate limited", {"Retry-After": "4"}), (503, "busy")]
    with FakeOpenAI(lambda body: "Yes", failures=failures) as server:
        judge = LLMJudge(config(server.base_url), sleep=sleeps.append)
        assert judge.equivalent("1/2", "0.5") is True
    assert len(server.requests) == 3 and len(sleeps) == 2 and sleeps[0] == 4.0
    assert judge.calls == 1


def test_gives_up_after_max_retries_with_a_clear_error(monkeypatch):
    monkeypatch.setenv("S1_TEST_JUDGE_KEY", "k")
    sleeps: list[float] = []
    with FakeOpenAI(lambda body: (429, "quota exceeded")) as server:
        judge = LLMJudge(config(server.base_url, max_retries=2), sleep=sleeps.append)
        with pytest.raises(JudgeError, match=r"/chat/completions: HTTP 429: .*quota exceeded.*failed after 3 attempts"):
            judge.chat("hi")
    assert len(server.requests) == 3 and len(sleeps) == 2 and judge.calls == 0
