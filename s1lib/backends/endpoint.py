"""Budget forcing against an OpenAI-compatible ``/v1/completions`` endpoint, in two modes.

``single-call`` is for ``s1 serve`` (the forcing processor runs in the server): one call per prompt carries the
policy in ``vllm_xargs``, and the server forces it in one pass. ``multi-call`` works with any ``vllm serve``: a
server cannot run our logits processor unless it was started with it, so the client drives the policy the way
the reference did, with its bugs fixed: a thinking call that stops at an end attempt (the delimiter's first token
or end of sequence, passed as ``stop_token_ids``), then one "Wait" round per suppression, re-submitting the whole
sequence each time (the server's prefix cache makes that cheap), with the budget counted across rounds; at the
cap the delimiter and "Final Answer:" are always forced; then one answer call.

Token accounting: prompts are tokenized locally with the model's own tokenizer and sent as token-id lists, and the
server returns generated ids (vLLM's ``return_token_ids``), so no text is ever re-tokenized and the counts are
exact. Each round's ids are replayed through :class:`ForcingState` to build the :class:`Trace`, which also checks
that the calls followed the policy. Greedy traces equal the single-pass backends'; sampled multi-call ones do not
(each call draws from its own seed).

A single call returns the sequence but not which "Wait" the server forced (a model may write "Wait" itself). The
replay takes every token as the model's own unless the policy then fails to reproduce the sequence, and then
marks the latest earlier ignore string as forced, and so on: the counts of thinking and answer tokens are exact
either way, and so are the insertions whenever the model does not write the ignore string itself.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from s1lib.backends.endpoint_replay import (
    Diverged,
    GreedyChoices,
    OutOfChoices,
    SingleCallChoices,
    ignore_starts,
    most_likely_ids,
)
from s1lib.backends.vllm_request import served_xargs
from s1lib.forcing.engine import EngineBase, Processor, Request, done_event, step_events
from s1lib.forcing.policy import CompiledPolicy
from s1lib.forcing.state import ForcingState, Step
from s1lib.forcing.trace import Event, IncrementalDetokenizer, SamplingConfig, Trace
from s1lib.openai_client import ApiClient, ApiError


class ServerError(RuntimeError):
    """The endpoint answered with an error or something that is not a completion."""


@dataclass
class ServerConfig:
    """Where the endpoint is and how to talk to it."""

    base_url: str = field(default="http://127.0.0.1:8000", metadata={"help": "Server root (without /v1)."})
    model: str | None = field(default=None, metadata={"help": "Model name the server serves; None = ask /v1/models."})
    timeout: float = field(default=600.0, metadata={"help": "Seconds to wait for one completion call."})
    api_key: str | None = field(default=None, metadata={"help": "Bearer token, if the server requires one."})
    mode: str = field(
        default="multi-call",
        metadata={
            "help": "'single-call': one call per prompt, forced by the server (s1 serve); 'multi-call': the "
            "policy driven from here over several calls (any vllm serve)."
        },
    )

    exact_trace: bool = field(
        default=True,
        metadata={
            "help": "single-call, greedy: also ask for vLLM's top-1 logprobs, so which Waits were forced is read "
            "exactly (measured: about 15% fewer tokens/s from one client); False: inferred from the ids alone."
        },
    )

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"ServerConfig.mode: expected one of {', '.join(MODES)}, got {self.mode!r}")


MODES = ("multi-call", "single-call")


@dataclass
class _Call:
    ids: list[int]
    stop_token: int | None  # the end-attempt token the call stopped at, or None when it ran out of max_tokens
    top_ids: list[int] | None = None  # the model's most likely token at each position (vLLM's raw logprobs)


class ServerForcingClient(EngineBase):
    """Runs a :class:`BudgetPolicy` against ``/v1/completions`` and returns the same Traces as the engines."""

    backend = "vllm-server"
    default_batch_size = 1
    runs_processors = False  # the logits live on the server

    def __init__(
        self,
        config: ServerConfig,
        tokenizer: Any,
        eos_token_ids: Sequence[int] | None = None,
        context_length: int | None = None,
    ):
        self.config = config
        self.tokenizer = tokenizer
        eos = set(eos_token_ids or [])
        if tokenizer.eos_token_id is not None:
            eos.add(int(tokenizer.eos_token_id))
        self.eos_token_ids = sorted(eos)
        self.context_length = context_length
        self.calls = 0  # completion calls made, for tests and benchmarks
        self._calls_lock = threading.Lock()

    # -- HTTP ---------------------------------------------------------------------------------------------------
    def _request(
        self, path: str, payload: dict[str, Any] | None = None, *, sleep: Callable[[float], None] = time.sleep
    ) -> dict[str, Any]:
        """GET (no ``payload``) or POST JSON; HTTP 429, 5xx and connection errors are retried twice with backoff."""
        config = self.config
        client = ApiClient(config.base_url, config.api_key, config.timeout, max_retries=2, sleep=sleep)
        try:
            return client.request(path, payload)
        except ApiError as exc:
            raise ServerError(str(exc)) from exc

    def model_name(self) -> str:
        if self.config.model is None:
            models = self._request("/v1/models").get("data") or []
            if not models:
                raise ServerError(f"{self.config.base_url}/v1/models lists no model")
            self.config.model = str(models[0]["id"])
            self.context_length = self.context_length or models[0].get("max_model_len")
        return self.config.model

    def _complete(
        self,
        ids: list[int],
        max_tokens: int,
        stop_ids: Sequence[int],
        sampling: SamplingConfig,
        seed: int,
        banned: Sequence[int] = (),
        xargs: dict[str, Any] | None = None,
        top_ids: bool = False,
        thinking: bool = False,
    ) -> _Call:
        payload: dict[str, Any] = {
            "model": self.model_name(),
            "prompt": ids,
            "max_tokens": max_tokens,
            "temperature": sampling.temperature_for(thinking),
            "top_p": sampling.top_p,
            "stop_token_ids": sorted(stop_ids),
            "return_token_ids": True,
            "skip_special_tokens": False,
        }
        if sampling.top_k:
            payload["top_k"] = sampling.top_k
        if sampling.min_p:
            payload["min_p"] = sampling.min_p
        if not sampling.greedy:
            payload["seed"] = seed
        if banned:
            payload["logit_bias"] = {str(t): -100.0 for t in banned}
        if xargs:
            payload["vllm_xargs"] = xargs
        if top_ids:  # vLLM's logprobs are the model's own (before logits processors): its choice under greedy
            payload.update(logprobs=1, return_tokens_as_token_ids=True)
        with self._calls_lock:
            self.calls += 1
        body = self._request("/v1/completions", payload)
        try:
            choice = body["choices"][0]
            out = [int(t) for t in choice["token_ids"]]
        except (KeyError, IndexError, TypeError) as exc:
            raise ServerError(
                f"/v1/completions returned no token_ids (is it a vLLM server?): {str(body)[:300]}"
            ) from exc
        stop = set(stop_ids)
        stop_token = None
        if out and out[-1] in stop:
            stop_token = out.pop()
        elif choice.get("finish_reason") == "stop" and len(out) < max_tokens:
            # Servers that drop the stop token from token_ids: report which one from stop_reason.
            reason = choice.get("stop_reason")
            stop_token = int(reason) if isinstance(reason, int) else min(stop)
        return _Call(out, stop_token, most_likely_ids(choice) if top_ids else None)

    # -- the multi-call loop ------------------------------------------------------------------------------------
    def _room(self, length: int) -> int:
        if self.context_length is None:
            raise ValueError(
                "The server's context length is unknown and the policy is unbounded: "
                "set max_thinking_tokens and max_answer_tokens, or pass context_length"
            )
        return self.context_length - length

    def _limit(self, bound: int | None, length: int) -> int:
        """``max_tokens`` for a call on ``length`` tokens: ``bound``, within the room the context leaves."""
        room = self._room(length) if self.context_length or bound is None else None
        return room if bound is None else bound if room is None else min(bound, room)  # type: ignore[return-value]

    def run_one(
        self,
        prompt_ids: list[int],
        compiled: CompiledPolicy,
        sampling: SamplingConfig,
        seed: int,
        steps: list[tuple[Step, int, int]] | None = None,
    ) -> ForcingState:
        """One prompt in this client's mode; returns the replayed ForcingState (each replayed step, with the
        thinking and answer counts after it, is appended to ``steps`` when given)."""
        if self.config.mode == "single-call":
            return self.run_single(prompt_ids, compiled, sampling, seed, steps)
        return self.run_multi(prompt_ids, compiled, sampling, seed, steps)

    def run_single(
        self,
        prompt_ids: list[int],
        compiled: CompiledPolicy,
        sampling: SamplingConfig,
        seed: int,
        steps: list[tuple[Step, int, int]] | None = None,
    ) -> ForcingState:
        """One call to ``s1 serve`` with the policy in ``vllm_xargs``; the server forces it in one pass."""
        policy = compiled.policy
        limit = self._limit(compiled.max_new_tokens(), len(prompt_ids))
        if limit < 1:
            raise ValueError(f"A prompt of {len(prompt_ids)} tokens leaves no room in the context")
        xargs = served_xargs(policy) if policy.thinking_phase else None  # no thinking: a plain, unforced answer
        if xargs is not None and sampling.temperature_thinking is not None:
            # the server samples thinking with it; vLLM drops top-p/k and min-p of a greedy answer, so they go too
            xargs.update(temperature_thinking=sampling.temperature_thinking, top_p=sampling.top_p, min_p=sampling.min_p)
            xargs.update({"top_k": sampling.top_k} if sampling.top_k else {})
        greedy = sampling.greedy and xargs is not None and self.config.exact_trace
        call = self._complete(prompt_ids, limit, compiled.eos_token_ids, sampling, seed, xargs=xargs, top_ids=greedy)
        generated = call.ids + ([call.stop_token] if call.stop_token is not None else [])
        return self._replay_single(compiled, generated, steps, call.top_ids)

    @classmethod
    def _replay_single(
        cls,
        compiled: CompiledPolicy,
        generated: list[int],
        steps: list[tuple[Step, int, int]] | None,
        top_ids: list[int] | None = None,
    ) -> ForcingState:
        """Replay one call's ids under the policy. Greedy: the model's choice at each position is its most likely
        token, so the reading is exact; otherwise (or when a tie made that reading fail) the forced ignore
        strings are inferred."""
        if top_ids is not None and len(top_ids) >= len(generated):
            try:
                return cls._replay(compiled, generated, GreedyChoices(generated, top_ids), steps)
            except Diverged:
                if steps is not None:
                    steps.clear()
        forced: set[int] = set()
        while True:
            try:
                return cls._replay(compiled, generated, SingleCallChoices(compiled, generated, forced), steps)
            except Diverged as exc:
                starts = [p for p in ignore_starts(compiled, generated) if p < exc.position and p not in forced]
                if not starts:
                    raise ServerError(
                        f"the server's sequence does not replay under the policy (first difference at generated "
                        f"position {exc.position}); was the server started by s1 serve (single-call mode needs "
                        "its forcing processor)?"
                    ) from None
                forced.add(max(starts))
                if steps is not None:
                    steps.clear()

    def run_multi(
        self,
        prompt_ids: list[int],
        compiled: CompiledPolicy,
        sampling: SamplingConfig,
        seed: int,
        steps: list[tuple[Step, int, int]] | None = None,
    ) -> ForcingState:
        """The reference's loop (fixed) for one prompt; returns the replayed ForcingState (each replayed step,
        with the thinking and answer counts after it, is appended to ``steps`` when given)."""
        policy = compiled.policy
        ids = list(prompt_ids)
        choices: list[int] = []  # the model's choices, in the order ForcingState will ask for them
        end_attempts = compiled.end_attempt_ids
        cycle = itertools.cycle(compiled.ignore_ids) if compiled.ignore_ids else None
        cap = policy.max_thinking_tokens
        used = suppressed = rounds = 0
        end_token: int | None = None
        while policy.thinking_phase:  # no thinking phase: straight to the answer call
            remaining = (cap - used) if cap is not None else self._room(len(ids))
            if remaining <= 0:
                break
            call = self._complete(ids, remaining, end_attempts, sampling, seed + 7919 * rounds, thinking=True)
            rounds += 1
            ids += call.ids
            choices += call.ids
            used += len(call.ids)
            if call.stop_token is None:
                break  # ran into the cap (or the context)
            choices.append(call.stop_token)
            if suppressed >= policy.num_ignore and used >= policy.min_thinking_tokens:
                end_token = call.stop_token
                break
            suppressed += 1
            if cycle is not None:
                wait = next(cycle)[: (cap - used) if cap is not None else None]
                ids += wait
                used += len(wait)
            else:  # suppress without a string: the model's best token that does not end thinking
                replacement = self._complete(
                    ids, 1, (), sampling, seed + 7919 * rounds, banned=sorted(end_attempts), thinking=True
                )
                rounds += 1
                token = replacement.ids[0] if replacement.ids else replacement.stop_token
                ids.append(int(token))
                choices.append(int(token))
                used += 1
        if policy.thinking_phase:
            capped = end_token is None
            ids += compiled.think_end_ids + (compiled.answer_prefix_ids if capped else [])
        limit = self._limit(policy.max_answer_tokens, len(ids))
        eos = sorted(compiled.eos_token_ids)
        if limit > 0:
            call = self._complete(ids, limit, eos, sampling, seed + 7919 * rounds)
            ids += call.ids
            choices += call.ids
            if call.stop_token is not None:
                choices.append(call.stop_token)
        return self._replay(compiled, ids[len(prompt_ids) :], choices, steps)

    @staticmethod
    def _replay(
        compiled: CompiledPolicy,
        generated: list[int],
        choices: list[int] | Callable[[ForcingState, frozenset[int]], int],
        steps: list[tuple[Step, int, int]] | None = None,
    ) -> ForcingState:
        """Drive a ForcingState with the recorded choices (a list, or a function of the state); it must reproduce
        the sequence the calls built."""
        state = ForcingState(compiled)
        queue = deque(choices) if isinstance(choices, list) else None

        def choose(banned: frozenset[int]) -> int:
            if queue is None:
                return choices(state, banned)  # type: ignore[operator]
            if not queue:
                raise OutOfChoices
            return queue.popleft()

        while not state.done and len(state.generated) < len(generated) + 1:
            try:
                step = state.next_token(choose)
            except OutOfChoices:
                state.stop("length")
                break
            if steps is not None:
                steps.append((step, state.thinking_tokens, state.answer_tokens))
        body = state.generated[: len(generated)]
        if body != generated:
            first = next((i for i, (a, b) in enumerate(zip(body, generated)) if a != b), min(len(body), len(generated)))
            if queue is None:
                raise Diverged(first)
            raise ServerError(
                f"the server's rounds do not replay under the policy (first difference at generated "
                f"position {first}); the server may not be deterministic or not honour stop_token_ids"
            )
        return state

    def _generate(
        self, request: Request, batch_size: int, extra_processors: list[Processor], progress: bool
    ) -> list[Trace]:
        """Each prompt needs several dependent calls; ``batch_size`` prompts run at once, in threads (the server
        batches concurrent requests itself)."""
        self.model_name()  # learns the server's context length before the threads start

        def one(i: int) -> Trace:
            state = self.run_one(request.prompt_ids[i], request.compiled, request.sampling, request.seeds[i])
            return request.trace(i, state, self.tokenizer)

        indices = range(len(request.prompt_ids))
        if batch_size == 1 or len(indices) == 1:
            return [one(i) for i in indices]
        with ThreadPoolExecutor(max_workers=batch_size, thread_name_prefix="s1-server") as pool:
            return list(pool.map(one, indices))

    def _stream(self, request: Request) -> Iterator[Event]:
        """The same events as the other backends, from the replayed state. An endpoint answers whole calls, so
        the events of a prompt come once its calls are done; :meth:`stop` is not honoured mid-prompt."""
        self.model_name()
        ids = request.prompt_ids[0]
        steps: list[tuple[Step, int, int]] = []
        state = self.run_one(ids, request.compiled, request.sampling, request.seeds[0], steps)
        detok = IncrementalDetokenizer(self.tokenizer)
        eos = request.compiled.eos_token_ids
        for step, thinking, answer in steps:
            text = "" if step.token_id in eos and step is steps[-1][0] and state.done else detok.push(step.token_id)
            yield from step_events(step, text, thinking, answer)
        yield done_event(request.trace(0, state, self.tokenizer))


# -- running a local server ---------------------------------------------------------------------------------------
