"""A fake OpenAI-compatible chat server on 127.0.0.1, shared by the tests (no real API calls).

The LLM judge, the LLM domain classifier and API attempt models all speak ``POST /v1/chat/completions``; their
tests used to carry near-identical copies of this server. ``FakeOpenAI`` is the one copy: a ``reply`` callable
decides each answer, ``failures`` are sent first (e.g. two 429s, to test retries), and every request is recorded in
arrival order. ``POST /v1/completions`` (the server client's path) gets the same answers, the content also as the
choice's ``text``; ``GET`` answers ``{"data": models}`` after the failures.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Answer = str | tuple[int, str] | tuple[int, str, dict[str, str]]
"""A reply: the content of an HTTP 200 completion, or ``(status, content[, headers])``; non-200 sends an OpenAI
error body; ``headers`` are added to the response (e.g. ``{"Retry-After": "7"}``)."""


class FakeOpenAI:
    """Serves ``/v1/chat/completions`` with ``reply(body)``; a context manager that starts and stops the server.

    ``requests`` holds ``{"method", "path", "auth", "prompt", "body"}`` per request (``prompt`` is the first
    message's content, or a completion's ``prompt``; ``body`` is None for a GET). ``delay`` seconds pass before each
    reply; ``in_flight`` / ``max_in_flight`` count requests at once. ``failures`` answer the first requests, one
    each, before ``reply`` is asked.
    """

    def __init__(
        self,
        reply: Callable[[dict], Answer],
        delay: float = 0.0,
        failures: Iterable[Answer] = (),
        models: Iterable[dict] = ({"id": "fake-model"},),
    ) -> None:
        self.reply = reply
        self.delay = delay
        self.failures = list(failures)
        self.models = list(models)
        self.requests: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @classmethod
    def from_queue(cls, replies: Iterable[Answer], default: Answer = (500, "no more replies")) -> FakeOpenAI:
        """Replies in arrival order, then ``default``: deterministic only with one request at a time."""
        queue, lock = list(replies), threading.Lock()

        def reply(body: dict) -> Answer:
            with lock:
                return queue.pop(0) if queue else default

        return cls(reply)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        if self.thread.is_alive():  # shutdown() would wait forever on a server that never started
            self.server.shutdown()
            self.thread.join(timeout=5)
        self.server.server_close()

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self._serve(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))

        def do_GET(self) -> None:
            self._serve(None)

        def _serve(self, body: dict | None) -> None:
            with fake.lock:
                fake.in_flight += 1
                fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
            answered = False
            try:
                if body is None:
                    prompt = None
                elif "messages" in body:
                    prompt = body["messages"][0]["content"]
                else:
                    prompt = body.get("prompt")
                with fake.lock:
                    fake.requests.append(
                        {
                            "method": self.command,
                            "path": self.path,
                            "auth": self.headers.get("Authorization"),
                            "prompt": prompt,
                            "body": body,
                        }
                    )
                    failure = fake.failures.pop(0) if fake.failures else None
                time.sleep(fake.delay)
                if failure is not None:
                    answer = failure
                elif body is None:
                    answer = (200, "")
                else:
                    answer = fake.reply(body)
                status, content, headers = _parts(answer)
                if status != 200:
                    payload: dict = {"error": {"message": content}}
                elif body is None:
                    payload = {"object": "list", "data": fake.models}
                else:
                    payload = {"choices": [{"message": {"role": "assistant", "content": content}, "text": content}]}
                data = json.dumps(payload).encode()
                with fake.lock:  # done before the client can see the reply, so its next request never overlaps
                    fake.in_flight -= 1
                    answered = True
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            finally:
                if not answered:
                    with fake.lock:
                        fake.in_flight -= 1

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def _parts(answer: Answer) -> tuple[int, str, dict[str, str]]:
    if isinstance(answer, str):
        return 200, answer, {}
    if len(answer) == 2:
        return answer[0], answer[1], {}
    return answer  # type: ignore[return-value]
