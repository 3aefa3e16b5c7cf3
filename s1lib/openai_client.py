"""The one client for OpenAI-compatible endpoints: the LLM judge, LLM domain labels, API attempt models, vllm serve.

Why one: a curation run makes thousands of calls, and one HTTP 429 or a server that restarts should cost a wait,
not the run. Every caller gets the same behaviour: JSON over plain ``urllib`` (no SDK), a bearer key when given,
a timeout per call, and a bounded number of attempts where 429, 5xx and connection errors are retried after an
exponential backoff with jitter (or the server's ``Retry-After``, when longer). A failure raises :class:`ApiError`,
which names the URL, the status and the start of the reply's body; callers wrap it in their own error type.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

BODY_START = 500
"""Characters of a reply's body quoted in an error."""


def is_retryable_status(status: int) -> bool:
    """Rate limits (429) and server errors (5xx) pass; any other status will not change on a retry."""
    return status == 429 or status >= 500


class ApiError(RuntimeError):
    """A call failed: ``status`` is the HTTP status (None when no reply came), ``body`` the start of the reply.

    ``attempts`` counts the tries made; ``retryable`` says whether the failure was of a kind that is retried (so a
    retryable error was raised only after the last attempt).
    """

    def __init__(
        self,
        url: str,
        problem: str,
        status: int | None = None,
        body: str = "",
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{url}: {problem}")
        self.url, self.problem, self.status, self.body = url, problem, status, body
        self.retryable, self.retry_after, self.attempts = retryable, retry_after, 1

    def gave_up(self, attempts: int) -> None:
        """Record that the retries are spent: the message ends with how many attempts were made."""
        self.attempts = attempts
        self.args = (f"{self.url}: {self.problem}; failed after {attempts} attempt{'s' * (attempts != 1)}",)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` header in seconds (it is either a number of seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class ApiClient:
    """JSON calls to ``base_url`` + path, retried as the module docstring says. Stateless: share it across threads.

    A retry waits ``backoff * 2**k`` seconds (k = 0, 1, ...), stretched by up to ``jitter`` (a fraction) at random
    so that parallel callers do not retry in step; a ``Retry-After`` longer than that is waited instead. No wait
    exceeds ``max_wait``. ``sleep`` does the waiting (tests pass a recorder).
    """

    base_url: str
    api_key: str | None = None
    timeout: float = 60.0
    max_retries: int = 2
    backoff: float = 1.0
    max_wait: float = 60.0
    jitter: float = 0.25
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ValueError(f"ApiClient.max_retries must be an integer >= 0, got {self.max_retries!r}")

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def get(self, path: str) -> Any:
        return self.request(path)

    def post(self, path: str, payload: dict[str, Any]) -> Any:
        return self.request(path, payload)

    def request(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        """The decoded JSON reply of a GET (``payload`` None) or a JSON POST; raises :class:`ApiError`."""
        url = self.url(path)
        data = None if payload is None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        attempts = self.max_retries + 1
        for attempt in range(1, attempts + 1):
            request = urllib.request.Request(url, data=data, headers=headers, method="GET" if data is None else "POST")
            try:
                return self._send(request)
            except ApiError as error:
                if not error.retryable:
                    raise
                if attempt == attempts:
                    error.gave_up(attempt)
                    raise
                self.sleep(self.wait(attempt - 1, error.retry_after))
        raise AssertionError("unreachable")

    def _send(self, request: urllib.request.Request) -> Any:
        url = request.full_url
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            body = _body_start(exc)
            retry_after = retry_after_seconds(exc.headers.get("Retry-After")) if exc.headers else None
            retryable = is_retryable_status(exc.code)
            raise ApiError(url, f"HTTP {exc.code}: {body}", exc.code, body, retryable, retry_after) from exc
        except urllib.error.URLError as exc:
            raise ApiError(url, f"cannot connect ({exc.reason})", retryable=True) from exc
        except TimeoutError as exc:
            raise ApiError(url, f"no reply within {self.timeout:g} s", retryable=True) from exc
        except (OSError, http.client.HTTPException) as exc:  # reset, closed mid-reply, cut short
            raise ApiError(url, f"connection failed ({type(exc).__name__}: {exc})", retryable=True) from exc
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:  # usually a reply cut short: worth another try
            body = raw[:BODY_START].decode(errors="replace")
            raise ApiError(url, f"HTTP {status}: reply is not JSON: {body}", status, body, retryable=True) from exc

    def wait(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        seconds = self.backoff * 2**retry * (1 + self.jitter * random.random())
        if retry_after is not None:
            seconds = max(seconds, retry_after)
        return min(seconds, self.max_wait)

    def chat(self, model: str, prompt: str, temperature: float = 0.0, max_tokens: int = 512) -> str | None:
        """One user message to ``/chat/completions``; the reply's text (None when the endpoint sent no content)."""
        body = {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        reply = self.post("/chat/completions", body)
        try:
            return reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            start = str(reply)[:BODY_START]
            url = self.url("/chat/completions")
            raise ApiError(url, f"unexpected chat completion reply {start}", 200, start) from exc


def _body_start(exc: urllib.error.HTTPError) -> str:
    try:
        return exc.read()[:BODY_START].decode(errors="replace")
    except (OSError, http.client.HTTPException):
        return ""
