"""Difficulty as a pass-rate band (LIMO): sample N attempts per question, keep it when k of N are right, min ≤ k ≤ max.

LIMO-v2 filters twice: Qwen2.5-Math-7B-Instruct with 4 attempts drops what it solves at all (band 0-0 of 4), then
DeepSeek-R1-Distill-Qwen-32B with 32 samples keeps what it solves 1 to 3 times (band 1-3 of 32), where s1 drops any
question a model solves once. Bands run in order, each on the survivors of the one before (the coarse, cheap model
first). Sample ``j`` of model ``m`` is cached as the attempt model ``m#j`` in the run's attempts cache, so a crashed
run resumes, and a chain stage can reuse the samples as candidate chains.

A question whose verdict an ungradable attempt could change (k below the band, k + ungradable inside it) is dropped
as ``ungradable:<model>``, not as too hard; the others leave as ``too_easy:<model>`` or ``too_hard:<model>``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from s1lib.configfile import config_from_dict
from s1lib.curation.answer_cache import AnswerCache, cache_key
from s1lib.curation.decontam import Drop
from s1lib.curation.grader import Grader

AttemptFn = Callable[[list[str]], list[str]]


@dataclass
class PassBand:
    """One sampled difficulty filter: ``samples`` attempts of ``model``; keep when min_correct ≤ k ≤ max_correct."""

    model: str = field(metadata={"help": "attempt model entry (toy-solver[:N], toy-sampler[:N], hf:, vllm:, openai:)"})
    samples: int = field(default=32, metadata={"help": "attempts per question (LIMO: 4 coarse, 32 fine)"})
    min_correct: int = field(default=1, metadata={"help": "fewest right attempts kept (LIMO fine: 1)"})
    max_correct: int = field(default=3, metadata={"help": "most right attempts kept (LIMO fine: 3; coarse: 0)"})

    def __post_init__(self) -> None:
        if not isinstance(self.samples, int) or self.samples < 1:
            raise ValueError(f"pass_bands: samples must be an integer >= 1, got {self.samples!r}")
        ok = all(isinstance(v, int) for v in (self.min_correct, self.max_correct))
        if not ok or not 0 <= self.min_correct <= self.max_correct <= self.samples:
            raise ValueError(
                f"pass_bands ({self.model}): expected integers 0 <= min_correct <= max_correct <= samples, got "
                f"min_correct={self.min_correct!r}, max_correct={self.max_correct!r}, samples={self.samples}"
            )

    @classmethod
    def from_any(cls, value: dict | PassBand) -> PassBand:
        return value if isinstance(value, PassBand) else config_from_dict(cls, value, noun="pass_bands option")


def sample_names(model: str, samples: int) -> list[str]:
    """The cache names of a model's samples: ``model#1`` .. ``model#N``."""
    return [f"{model}#{j}" for j in range(1, samples + 1)]


def band_reason(correct: int, ungradable: int, band: PassBand) -> str | None:
    """None when ``correct`` is inside the band, else the drop reason (see the module docstring)."""
    if band.min_correct <= correct <= band.max_correct:
        return None
    if correct > band.max_correct:
        return f"too_easy:{band.model}"
    if ungradable and correct + ungradable >= band.min_correct:
        return f"ungradable:{band.model}"
    return f"too_hard:{band.model}"


def sample_attempts(
    records: list[dict],
    model: str,
    fn: AttemptFn,
    samples: int,
    cache: AnswerCache,
    grader: Grader,
    batch_size: int = 64,
    progress: bool = False,
) -> dict[str, int]:
    """Set ``rec["attempts"]["model#j"]`` for j = 1..samples on every record, from the cache or from ``fn``.

    ``fn`` gets ``batch_size`` questions per call, each repeated ``samples`` times in a row (engines sample row i
    with seed + i, the toy sampler counts repeats, so the repeats are independent samples).
    """
    names = sample_names(model, samples)
    stats = {"calls": 0, "cached": 0, "regraded": 0}
    todo: list[dict] = []
    regrade: list[tuple[dict, str, str]] = []
    for rec in records:
        hits = [cache.get(name, rec["question"]) for name in names]
        if any(hit is None for hit in hits):
            todo.append(rec)
            continue
        stats["cached"] += samples
        for name, hit in zip(names, hits):
            judge_failed = hit.get("correct") is None and hit.get("graded_by") == "judge"
            if hit.get("grader", "symbolic") == grader.signature and not judge_failed:
                keys = ("attempt", "correct", "graded_by", "grade_error")
                rec.setdefault("attempts", {})[name] = {k: hit[k] for k in keys if k in hit}
            else:
                regrade.append((rec, name, hit["attempt"]))

    def graded(triples: list[tuple[dict, str, str]]) -> None:
        items = []
        for (rec, name, text), (correct, info) in zip(triples, grader.grade_many([(r, t, n) for r, n, t in triples])):
            entry = {"attempt": text, "correct": correct, "graded_by": info["graded_by"]}
            if "error" in info:
                entry["grade_error"] = info["error"]
            rec.setdefault("attempts", {})[name] = entry
            items.append({"key": cache_key(name, rec["question"]), "model": name, "grader": grader.signature, **entry})
        cache.put_many(items)

    if regrade:
        graded(regrade)
        stats["regraded"] = len(regrade)
    batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
    iterator: Any = batches
    if progress and batches:
        from tqdm.auto import tqdm

        iterator = tqdm(batches, desc=f"samples {model} x{samples}", unit="batch")
    for batch in iterator:
        questions = [r["question"] for r in batch for _ in names]
        answers = fn(questions)
        if len(answers) != len(questions):
            raise RuntimeError(f"attempt model {model!r} returned {len(answers)} answers for {len(questions)} prompts")
        graded([(rec, name, answers[i * samples + j]) for i, rec in enumerate(batch) for j, name in enumerate(names)])
        stats["calls"] += len(questions)
    return stats


def pass_count(rec: dict, model: str, samples: int) -> tuple[int, int]:
    """``(right, ungradable)`` among a record's samples of ``model``."""
    verdicts = [rec.get("attempts", {}).get(name, {}).get("correct") for name in sample_names(model, samples)]
    return sum(v is True for v in verdicts), sum(v is None for v in verdicts)


def run_pass_bands(
    records: list[dict],
    bands: list[PassBand],
    fns: dict[str, AttemptFn],
    cache: AnswerCache | None = None,
    grader: Grader | None = None,
    batch_size: int = 64,
    progress: bool = False,
) -> tuple[list[dict], list[Drop], dict[str, Any]]:
    """Apply ``bands`` in order (``fns``: model entry → attempt_fn); each record keeps ``pass_counts[model]``."""
    cache = cache or AnswerCache(None)
    grader = grader or Grader(cache=cache)
    kept, drops, stats = list(records), [], {}
    for band in bands:
        stats[band.model] = sample_attempts(
            kept, band.model, fns[band.model], band.samples, cache, grader, batch_size, progress
        )
        survivors = []
        for rec in kept:
            right, ungradable = pass_count(rec, band.model, band.samples)
            rec.setdefault("pass_counts", {})[band.model] = [right, band.samples]
            reason = band_reason(right, ungradable, band)
            if reason is None:
                survivors.append(rec)
            else:
                drops.append(Drop(rec["row_id"], "difficulty", reason, f"{right}/{band.samples} right"))
        stats[band.model]["kept"] = len(survivors)
        kept = survivors
    return kept, drops, stats
