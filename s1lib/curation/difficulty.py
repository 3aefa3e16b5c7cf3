"""Difficulty: attempts from any model at the curation questions; a question any model solves is dropped.

An attempt model is any callable ``attempt_fn(questions) -> answers`` (the reference used Qwen2.5-7B/32B-Instruct);
adapters wrap a budget-forcing engine (any :class:`~s1lib.forcing.engine.Engine`) or an OpenAI-compatible
endpoint. Attempts are graded by :class:`~s1lib.curation.grader.Grader` (symbolic, or the reference's Yes/No LLM
judge) and appended with their grades to the run's :class:`~s1lib.curation.answer_cache.AnswerCache`, keyed by
(model, question), so a crash resumes where it stopped. A question whose attempts cannot be graded cannot be judged
solved and stays (counted as ``ungradable``, with the reason kept on the record and in the stats).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from s1lib.curation.answer_cache import AnswerCache, cache_key
from s1lib.curation.decontam import Drop
from s1lib.curation.grader import Grader

if TYPE_CHECKING:  # the engines import torch; curation loads them only when an attempt model needs one
    from s1lib.forcing.engine import Engine
    from s1lib.forcing.policy import BudgetPolicy
    from s1lib.forcing.trace import SamplingConfig

AttemptFn = Callable[[list[str]], list[str]]


def run_attempts(
    records: list[dict],
    models: dict[str, AttemptFn],
    cache: AnswerCache | None = None,
    batch_size: int = 64,
    progress: bool = False,
    grader: Grader | None = None,
) -> tuple[list[dict], list[Drop], dict[str, int]]:
    """Attempt every question with every model, grade, and drop those any model solves.

    Returns ``(kept, drops, stats)``; a drop's reason is ``solved_by:<model>`` (the first model in order), and the
    record keeps ``attempts = {model: {"attempt", "correct", "graded_by"[, "grade_error"]}}``. ``stats`` counts
    calls, cache hits, ungradable questions and ``regraded`` cached attempts (graded before by another grader, or
    the judge failed then). ``grader`` (default: symbolic) grades every attempt; see :class:`Grader`.
    """
    cache = cache or AnswerCache(None)
    grader = grader or Grader(cache=cache)
    stats = {"calls": 0, "cached": 0, "regraded": 0, "ungradable": 0}

    def graded(pairs: list[tuple[dict, str]], name: str) -> list[dict]:
        """Grade ``(record, attempt)`` pairs (judge requests concurrently), set ``attempts``; the cache items."""
        items = []
        for (rec, text), (correct, info) in zip(pairs, grader.grade_many([(r, t, name) for r, t in pairs])):
            entry = {"attempt": text, "correct": correct, "graded_by": info["graded_by"]}
            if "error" in info:
                entry["grade_error"] = info["error"]
            rec.setdefault("attempts", {})[name] = entry
            items.append({"key": cache_key(name, rec["question"]), "model": name, "grader": grader.signature, **entry})
        return items

    for name, fn in models.items():
        todo, regraded = [], []
        for rec in records:
            hit = cache.get(name, rec["question"])
            if hit is None:
                todo.append(rec)
                continue
            stats["cached"] += 1
            judge_failed = hit.get("correct") is None and hit.get("graded_by") == "judge"
            if hit.get("grader", "symbolic") == grader.signature and not judge_failed:
                entry = {"attempt": hit["attempt"], "correct": hit["correct"]}
                entry["graded_by"] = hit.get("graded_by", "symbolic")
                if hit.get("grade_error"):
                    entry["grade_error"] = hit["grade_error"]
                rec.setdefault("attempts", {})[name] = entry
            else:  # graded another way, or the judge failed last time: grade the cached attempt again (no model call)
                regraded.append((rec, hit["attempt"]))
        for start in range(0, len(regraded), batch_size):
            items = graded(regraded[start : start + batch_size], name)
            stats["regraded"] += len(items)
            cache.put_many(items)
        batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
        iterator: Any = batches
        if progress and batches:
            from tqdm.auto import tqdm

            iterator = tqdm(batches, desc=f"attempts {name}", unit="batch")
        for batch in iterator:
            answers = fn([r["question"] for r in batch])
            if len(answers) != len(batch):
                raise RuntimeError(f"attempt model {name!r} returned {len(answers)} answers for {len(batch)} questions")
            items = graded(list(zip(batch, answers)), name)
            stats["calls"] += len(batch)
            cache.put_many(items)
    kept, drops = [], []
    for rec in records:
        solved_by = next((m for m in models if rec.get("attempts", {}).get(m, {}).get("correct")), None)
        if solved_by is None:
            if any(rec.get("attempts", {}).get(m, {}).get("correct") is None for m in models):
                stats["ungradable"] += 1
            kept.append(rec)
        else:
            drops.append(Drop(rec["row_id"], "difficulty", f"solved_by:{solved_by}"))
    return kept, drops, stats


# ---------------------------------------------------------------- adapters


ATTEMPT_TEMPERATURE = 0.05
"""The reference's sampling temperature for difficulty attempts (Qwen2.5-7B/32B-Instruct)."""
ATTEMPT_MAX_TOKENS = 32768
"""The reference's generation limit for difficulty attempts."""


def instruct_policy(max_tokens: int | None = ATTEMPT_MAX_TOKENS) -> Any:
    """The policy of an instruction model's attempt: the plain chat prompt, no thinking phase, ``max_tokens``."""
    from s1lib.forcing import BudgetPolicy

    return BudgetPolicy(thinking_phase=False, max_answer_tokens=max_tokens)


def engine_attempt_fn(
    engine: Engine, policy: BudgetPolicy | None = None, batch_size: int = 8, sampling: SamplingConfig | None = None
) -> AttemptFn:
    """Wrap a budget-forcing :class:`~s1lib.forcing.engine.Engine` (any backend) as an attempt_fn.

    ``policy`` None means the reference's attempt models: an instruction model answering the plain chat prompt
    (:func:`instruct_policy`); pass a ``BudgetPolicy`` to attempt with an s1-style thinking model instead. The
    trace's ``text`` (thinking, delimiter and answer; the answer alone without a thinking phase) is the attempt.
    """
    policy = instruct_policy() if policy is None else policy

    def attempt(questions: list[str]) -> list[str]:
        prompts = [engine.prompt_for(q, policy) for q in questions]
        return [trace.text for trace in engine.generate(prompts, policy, sampling, batch_size=batch_size)]

    return attempt


def lazy_engine_attempt_fn(
    model: str = "default",
    policy: Any = None,
    batch_size: int = 8,
    backend: str = "transformers",
    sampling: Any = None,
    **engine_options: Any,
) -> AttemptFn:
    """Like :func:`engine_attempt_fn`, loading ``load_engine(model, backend, **engine_options)`` (transformers or
    vLLM, e.g. Qwen2.5-7B/32B-Instruct for real runs) on the first call only."""
    state: dict[str, AttemptFn] = {}

    def attempt(questions: list[str]) -> list[str]:
        if "fn" not in state:
            from s1lib.backends import load_engine

            engine = load_engine(model, backend, **engine_options)
            state["fn"] = engine_attempt_fn(engine, policy, batch_size, sampling)
        return state["fn"](questions)

    return attempt


def openai_attempt_fn(
    base_url: str,
    model: str,
    temperature: float = ATTEMPT_TEMPERATURE,
    max_tokens: int = ATTEMPT_MAX_TOKENS,
    api_key: str | None = None,
    timeout: float = 600.0,
    concurrency: int = 8,
    max_retries: int = 5,
    sleep: Callable[[float], None] = time.sleep,
) -> AttemptFn:
    """Attempts from an OpenAI-compatible ``/chat/completions`` endpoint (the reference: temperature 0.05), with
    ``concurrency`` requests in flight.

    A rate limit (429), a server error (5xx) or a network error is retried up to ``max_retries`` times with
    exponential backoff (honouring ``Retry-After``; ``sleep`` waits), so one of them does not end a long run; once
    the retries are spent, :class:`~s1lib.openai_client.ApiError` says which URL answered what.
    """
    from s1lib.curation.parallel import thread_map
    from s1lib.openai_client import ApiClient

    client = ApiClient(base_url, api_key, timeout, max_retries, sleep=sleep)

    def one(question: str) -> str:
        return client.chat(model, question, temperature, max_tokens) or ""

    def attempt(questions: list[str]) -> list[str]:
        return thread_map(one, questions, concurrency)

    return attempt
