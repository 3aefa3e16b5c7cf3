"""An optional LLM judge over any OpenAI-compatible chat endpoint (off by default).

The reference graded MATH500 equivalence with gpt-4o-mini (a few-shot "are these two expressions equivalent? Yes/No"
prompt in the style of OpenAI's simple-evals), and its curation grader (Claude 3.5 Sonnet) compared an attempt with
the reference solution and ended with "Yes" or "No" on its last line. Both are reproduced here in our own words;
symbolic grading stays the default because it needs no key and gives the same verdict on every run.

Requests go through :class:`s1lib.openai_client.ApiClient` (plain ``urllib``, retries with backoff); the key is read
only from an environment variable.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from s1lib.openai_client import ApiClient, ApiError

EQUIVALENCE_PROMPT = r"""Decide whether the two expressions below, both answers to the same math problem, are
equivalent. Allow only trivial simplifications (reordering terms, equal forms of the same number, removing units or text
around the value); do not carry out non-trivial algebra.

Examples:

    Expression 1: $4y-1$
    Expression 2: $-1+4y$

Yes

    Expression 1: 1/4
    Expression 2: 0.25

Yes

    Expression 1: $a^2-1$
    Expression 2: $b^2-1$

No

    Expression 1: $a^2-2a+1$
    Expression 2: $(a-1)^2$

Yes

    Expression 1: 1428/7
    Expression 2: 204

No
(equal after division, which is not a trivial simplification)

    Expression 1: 12 cm
    Expression 2: 12

Yes

    Expression 1: $\{2, 5\}$
    Expression 2: 5 and 2

Yes

---

Reply with only "Yes" or "No".

    Expression 1: {gold}
    Expression 2: {prediction}
""".strip()
"""Equivalence check (gold first), in the style of the gpt-4o-mini check the reference used for MATH500."""

GRADER_PROMPT = """You are grading an attempted answer to a question against the reference solution.
Judge only whether the attempt's final answer agrees with the reference solution's final answer; the reasoning
may differ. Explain briefly, then write "Yes" (the attempt is correct) or "No" (it is not) alone on the last line.

## Question
{question}

## Reference solution
{solution}

## Attempt
{attempt}
""".strip()
"""Curation-style grader: compares an attempt with a reference solution, verdict on the last line."""


@dataclass
class JudgeConfig:
    """Where and how to ask the judge."""

    base_url: str = field(
        default="https://api.openai.com/v1",
        metadata={"help": "OpenAI-compatible API root (…/v1); /chat/completions is appended. A local server works."},
    )
    model: str = field(default="gpt-4o-mini", metadata={"help": "Model name sent to the endpoint (the reference's)."})
    api_key_env: str | None = field(
        default="OPENAI_API_KEY",
        metadata={"help": "Environment variable holding the API key; None sends no key (local servers)."},
    )
    temperature: float = field(default=0.0, metadata={"help": "Sampling temperature of the judge."})
    max_tokens: int = field(default=1024, metadata={"help": "Maximum tokens of the judge's reply."})
    timeout: float = field(default=60.0, metadata={"help": "Seconds to wait for one HTTP response."})
    max_retries: int = field(default=2, metadata={"help": "Retries after a failed request (HTTP 429/5xx, network)."})
    retry_wait: float = field(
        default=2.0,
        metadata={"help": "Seconds before the first retry; doubled each retry (a longer Retry-After is honoured)."},
    )


class JudgeError(RuntimeError):
    """The judge endpoint could not be reached or answered with something unusable."""


_VERDICT_RE = re.compile(r"^(?:(?:final\s+)?(?:answer|verdict|grade|decision)\s*[:\-]?\s*)?(yes|no)\b", re.IGNORECASE)


def parse_yes_no(text: str | None) -> bool | None:
    """The verdict on the LAST non-empty line: "Yes" → True, "No" → False, anything else → None.

    Tolerates markdown and punctuation around it ("**Yes**", "No.", "Verdict: Yes").
    """
    if not text:
        return None
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    last = re.sub(r"[*_`#>\"']", "", lines[-1]).strip()
    match = _VERDICT_RE.match(last)
    if match is None:
        return None
    tail = last[match.end() :].strip(" .!")
    if tail:  # "No idea what ..." or "Yes, but ..." is not a verdict
        return None
    return match.group(1).lower() == "yes"


class LLMJudge:
    """A chat-completions client that asks equivalence and grading questions; ``sleep`` waits between retries."""

    def __init__(self, config: JudgeConfig | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config or JudgeConfig()
        self.sleep = sleep
        self.calls = 0
        self._calls_lock = threading.Lock()  # curation asks from several threads at once

    def _api_key(self) -> str | None:
        env = self.config.api_key_env
        if not env:
            return None
        key = os.environ.get(env)
        if not key:
            raise JudgeError(
                f"LLM judge: environment variable {env} is not set; set it to your API key, "
                "or set JudgeConfig.api_key_env=None for a local server that needs no key"
            )
        return key

    def chat(self, prompt: str) -> str:
        """Send one user message and return the reply text."""
        cfg = self.config
        client = ApiClient(
            cfg.base_url, self._api_key(), cfg.timeout, cfg.max_retries, backoff=cfg.retry_wait, sleep=self.sleep
        )
        try:
            reply = client.chat(cfg.model, prompt, cfg.temperature, cfg.max_tokens)
        except ApiError as exc:
            raise JudgeError(f"LLM judge: {exc}") from exc
        with self._calls_lock:
            self.calls += 1
        return reply or ""

    def equivalent(self, gold: str, prediction: str) -> bool | None:
        """Yes/No equivalence of two final answers (gold first); None if the reply holds no verdict."""
        reply = self.chat(EQUIVALENCE_PROMPT.replace("{gold}", gold).replace("{prediction}", prediction))
        return parse_yes_no(reply)

    def grade_attempt(self, question: str, solution: str, attempt: str) -> JudgeVerdict:
        """Curation-style grade of an attempt against a reference solution."""
        prompt = GRADER_PROMPT.format(question=question, solution=solution, attempt=attempt)
        reply = self.chat(prompt)
        return JudgeVerdict(parse_yes_no(reply), reply)


@dataclass(frozen=True)
class JudgeVerdict:
    """``correct`` is None when the last line held no Yes/No; ``reason`` is the full reply."""

    correct: bool | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"correct": self.correct, "reason": self.reason}
