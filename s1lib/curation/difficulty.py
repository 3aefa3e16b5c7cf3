"""Difficulty: attempts from any model, graded against the reference answer; trace grades; trace lengths.

An attempt model is any callable ``attempt_fn(questions) -> answers`` (the reference used Qwen2.5-7B/32B-Instruct);
adapters wrap a budget-forcing engine (an object with ``.generate(prompts, policy)``) or an OpenAI-compatible
endpoint. A question is dropped when any configured model solves it. Attempts and grades are appended to a jsonl
cache keyed by (model, question), so a crash resumes where it stopped. Grading uses ``s1lib.eval.grading``
(deterministic; the gold answer is the record's ``answer`` or the last boxed answer of its solution); a question
without a usable gold answer cannot be judged solved and stays (counted as ``ungradable``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from s1lib.curation.decontam import Drop

AttemptFn = Callable[[list[str]], list[str]]


# ---------------------------------------------------------------- grading


def gold_of(rec: dict) -> tuple[str | None, str]:
    """The gold answer and its kind (integer/math/choice): the record's ``answer``, else the solution's box."""
    from s1lib.eval.grading import extract_answer

    gold = rec.get("answer")
    if gold is None and rec.get("solution"):
        gold = extract_answer(rec["solution"])
    if gold is None:
        return None, "math"
    kind = rec.get("answer_kind") or ("integer" if str(gold).strip().lstrip("-").isdigit() else "math")
    return str(gold), kind


def grade_text(rec: dict, text: str | None) -> bool | None:
    """True/False if ``text``'s extracted answer matches the record's gold answer; None without a gold answer."""
    from s1lib.eval.grading import extract_answer, is_equivalent, parse_choice

    gold, kind = gold_of(rec)
    if gold is None:
        return None
    if not text:
        return False
    pred = extract_answer(text)
    if pred is None and kind == "choice":
        pred = parse_choice(text)
    try:
        return bool(is_equivalent(gold, pred, kind))
    except ValueError:  # a gold answer the kind cannot parse: treat as ungradable, never as solved
        return None


def grade_traces(records: list[dict]) -> int:
    """Fill ``trace_grade`` (was the trace's attempt correct?) where missing and gradable; returns how many."""
    n = 0
    for rec in records:
        if rec.get("trace_grade") is None and rec.get("attempt"):
            rec["trace_grade"] = grade_text(rec, rec["attempt"])
            n += rec["trace_grade"] is not None
    return n


# ---------------------------------------------------------------- trace length


_ALPHA = np.zeros(256, dtype=bool)
_ALPHA[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8)] = True
_SPACE = np.zeros(256, dtype=bool)
_SPACE[np.frombuffer(b" \t\n\r\x0b\x0c", dtype=np.uint8)] = True


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: each run of ASCII letters, each digit and each other non-space byte counts one.

    Measured on the 1,000 s1K solutions against the SmolLM2 tokenizer: total 0.994× the true count, correlation
    0.996, median per-text error 1.8 %. It is a few numpy passes over the bytes (about 60× faster than the Rust
    tokenizer here); a plain characters/2.4 estimate was much worse (median error 27 %).
    """
    arr = np.frombuffer(text.encode("utf-8", "replace"), dtype=np.uint8)
    if arr.size == 0:
        return 0
    alpha = _ALPHA[arr]
    runs = int(alpha[0]) + int(np.count_nonzero(alpha[1:] & ~alpha[:-1]))
    other = int(np.count_nonzero(~alpha & ~_SPACE[arr]))
    return max(1, runs + other)


def trace_lengths(texts: Sequence[str], tokenizer: Any = None, batch_size: int = 512) -> list[int]:
    """Token counts of ``texts``. A fast (Rust) tokenizer is called in batches; any object with ``encode`` works;
    ``tokenizer="estimate"`` uses :func:`estimate_tokens`."""
    if tokenizer == "estimate":
        return [estimate_tokens(t) for t in texts]
    if tokenizer is None or isinstance(tokenizer, str):
        from s1lib.models import load_tokenizer

        tokenizer = load_tokenizer(tokenizer or "default")
    backend = getattr(tokenizer, "backend_tokenizer", None) or getattr(tokenizer, "_tokenizer", None)
    out: list[int] = []
    if backend is not None and hasattr(backend, "encode_batch"):
        for i in range(0, len(texts), batch_size):
            chunk = list(texts[i : i + batch_size])
            out.extend(len(e.ids) for e in backend.encode_batch(chunk, add_special_tokens=False))
        return out
    for text in texts:
        try:
            out.append(len(tokenizer.encode(text, add_special_tokens=False)))
        except TypeError:
            out.append(len(tokenizer.encode(text)))
    return out


def add_trace_lengths(records: list[dict], tokenizer: Any = None, batch_size: int = 512) -> None:
    """Set ``trace_length`` on every record that has a trace (others keep None → ``no_length`` later)."""
    todo = [r for r in records if r.get("thinking_trajectories") and r["thinking_trajectories"][0]]
    lengths = trace_lengths([r["thinking_trajectories"][0] for r in todo], tokenizer, batch_size)
    for rec, n in zip(todo, lengths):
        rec["trace_length"] = int(n)


# ---------------------------------------------------------------- attempts


def _key(model: str, question: str) -> str:
    return hashlib.sha1(f"{model}\0{question}".encode()).hexdigest()


class AttemptCache:
    """Append-only jsonl of ``{"key", "model", "attempt", "correct"}``; reloaded on start so runs resume."""

    def __init__(self, path: str | os.PathLike | None):
        self.path = Path(path) if path else None
        self.entries: dict[str, dict] = {}
        if self.path and self.path.exists():
            with open(self.path, encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        try:
                            item = json.loads(line)
                        except json.JSONDecodeError:
                            continue  # a line cut by a crash; it is recomputed
                        self.entries[item["key"]] = item

    def get(self, model: str, question: str) -> dict | None:
        return self.entries.get(_key(model, question))

    def put_many(self, items: list[dict]) -> None:
        for item in items:
            self.entries[item["key"]] = item
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                for item in items:
                    fh.write(json.dumps(item, ensure_ascii=False) + "\n")
                fh.flush()
                os.fsync(fh.fileno())


def run_attempts(
    records: list[dict],
    models: dict[str, AttemptFn],
    cache: AttemptCache | None = None,
    batch_size: int = 64,
    progress: bool = False,
) -> tuple[list[dict], list[Drop], dict[str, int]]:
    """Attempt every question with every model, grade, and drop those any model solves.

    Returns ``(kept, drops, stats)``; a drop's reason is ``solved_by:<model>`` (the first model in order), and the
    record keeps ``attempts = {model: {"attempt", "correct"}}``. ``stats`` counts calls, cache hits, ungradable.
    """
    cache = cache or AttemptCache(None)
    stats = {"calls": 0, "cached": 0, "ungradable": 0}
    for name, fn in models.items():
        todo = []
        for rec in records:
            hit = cache.get(name, rec["question"])
            if hit is not None:
                rec.setdefault("attempts", {})[name] = {"attempt": hit["attempt"], "correct": hit["correct"]}
                stats["cached"] += 1
            else:
                todo.append(rec)
        batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
        iterator: Any = batches
        if progress and batches:
            from tqdm.auto import tqdm

            iterator = tqdm(batches, desc=f"attempts {name}", unit="batch")
        for batch in iterator:
            answers = fn([r["question"] for r in batch])
            if len(answers) != len(batch):
                raise RuntimeError(f"attempt model {name!r} returned {len(answers)} answers for {len(batch)} questions")
            items = []
            for rec, text in zip(batch, answers):
                correct = grade_text(rec, text)
                rec.setdefault("attempts", {})[name] = {"attempt": text, "correct": correct}
                items.append({"key": _key(name, rec["question"]), "model": name, "attempt": text, "correct": correct})
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


def engine_attempt_fn(engine: Any, policy: Any = None, batch_size: int = 8) -> AttemptFn:
    """Wrap an engine with ``.generate(prompts, policy)`` (e.g. ``s1lib.forcing.hf.HFEngine``) as an attempt_fn.

    Prompts are built with ``engine.prompt_for(question, policy)`` when the engine has it; the result's ``text``
    (or its ``answer_text`` + thinking) is the attempt.
    """

    def attempt(questions: list[str]) -> list[str]:
        prompts = [engine.prompt_for(q, policy) if hasattr(engine, "prompt_for") else q for q in questions]
        try:
            results = engine.generate(prompts, policy, batch_size=batch_size)
        except TypeError:
            results = engine.generate(prompts, policy)
        out = []
        for r in results:
            if isinstance(r, str):
                out.append(r)
            else:
                out.append(getattr(r, "text", "") or getattr(r, "answer_text", "") or "")
        return out

    return attempt


def lazy_engine_attempt_fn(model: str = "default", policy: Any = None, batch_size: int = 8) -> AttemptFn:
    """Like :func:`engine_attempt_fn`, loading ``HFEngine.from_name(model)`` on the first call only."""
    state: dict[str, AttemptFn] = {}

    def attempt(questions: list[str]) -> list[str]:
        if "fn" not in state:
            from s1lib.forcing.hf import HFEngine

            state["fn"] = engine_attempt_fn(HFEngine.from_name(model), policy, batch_size)
        return state["fn"](questions)

    return attempt


def openai_attempt_fn(
    base_url: str,
    model: str,
    temperature: float = 0.05,
    max_tokens: int = 32768,
    api_key: str | None = None,
    timeout: float = 600.0,
) -> AttemptFn:
    """Attempts from an OpenAI-compatible ``/chat/completions`` endpoint (the reference: temperature 0.05)."""
    from s1lib.curation.domains import chat_completion

    def attempt(questions: list[str]) -> list[str]:
        return [
            chat_completion(
                base_url, model, q, temperature=temperature, max_tokens=max_tokens, api_key=api_key, timeout=timeout
            )
            or ""
            for q in questions
        ]

    return attempt
