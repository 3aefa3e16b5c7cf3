"""One sample's stored record: the graded completion with everything needed to aggregate, resume and audit it."""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

from s1lib.eval.benchmarks import Problem
from s1lib.eval.efficiency import first_correct_position, settled_position
from s1lib.eval.grading import MathVerifier, compare, grade, parse_choice, parse_integer
from s1lib.eval.sweep_config import Setting
from s1lib.forcing.trace import Trace

logger = logging.getLogger(__name__)


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]


def vote_key(answer: str | None, kind: str) -> str | None:
    """A canonical form of an extracted answer, so equal answers vote together."""
    if answer is None:
        return None
    if kind == "integer":
        value = parse_integer(answer)
        return str(value) if value is not None else re.sub(r"\s+", "", answer)
    if kind == "choice":
        return parse_choice(answer)
    return re.sub(r"\s+", "", answer).replace("\\left", "").replace("\\right", "").rstrip(".") or None


def make_record(
    setting: Setting,
    problem: Problem,
    sample: int,
    prompt: str,
    trace: Trace,
    verifier: MathVerifier,
    seed: int | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One samples.jsonl line. A grading failure is logged and stored as ``unparsed`` with the error, never raised."""
    try:
        g = grade(problem, trace.text, setting.policy.delimiters, verifier)
        extracted, status, error = g.extracted, g.status, None
    except Exception as exc:  # a finished generation must never be lost to a grading bug
        logger.warning("grading %s / %s failed: %s", setting.label, problem.id, exc)
        extracted, status, error = None, "unparsed", f"{type(exc).__name__}: {exc}"
    same = lambda gold, answer, kind: compare(gold, answer, kind, verifier)  # noqa: E731
    try:  # where a correct answer first appears in the thinking, and where the final one settles (text only)
        position = first_correct_position(trace.text, problem.answer, problem.kind, setting.policy.delimiters, same)
    except Exception as exc:
        logger.warning("efficiency of %s / %s failed: %s", setting.label, problem.id, exc)
        position = None
    try:  # a final answer the grader cannot read as a gold (a choice that is no letter) settles nowhere
        settled = settled_position(trace.text, extracted, problem.kind, setting.policy.delimiters, same)
    except ValueError:
        settled = None
    forced_counts: dict[str, int] = {}
    for insertion in trace.forced:
        forced_counts[insertion.kind] = forced_counts.get(insertion.kind, 0) + 1
    record: dict[str, Any] = {
        "setting": setting.label,
        "method": setting.method,
        "policy": setting.policy.to_dict(),
        "suffix": setting.suffix,
        "problem_id": problem.id,
        "sample": sample,
        "seed": seed,
        "prompt_hash": prompt_hash(prompt),
        "completion": trace.text,
        "extracted": extracted,
        "vote_key": vote_key(extracted, problem.kind),
        "gold": problem.answer,
        "status": status,
        "correct": status == "correct",
        "thinking_tokens": trace.thinking_tokens,
        "answer_tokens": trace.answer_tokens,
        "forced": [f.to_dict() for f in trace.forced],
        "forced_counts": forced_counts,
        "finish_reason": trace.finish_reason,
        "thinking_end_reason": trace.thinking_end_reason,
        "probe_tokens": trace.probe_tokens,  # never in thinking_tokens: an adaptive stop's cost, counted apart
        "first_correct_position": position,  # share of the thinking's characters; None: no correct answer in it
        "settled_position": settled,  # where the thinking states its final answer for good; None: it never does
        "budget": list(setting.budget) if setting.budget else None,
    }
    if "permutation" in problem.metadata:
        record["gpqa_permutation"] = problem.metadata["permutation"]
    if "family" in problem.metadata:  # the toy benchmark: accuracy is also reported per family
        record["family"] = problem.metadata["family"]
    if trace.probes:
        record["probes"] = [p.to_dict() for p in trace.probes]
    if error:
        record["error"] = error
    record.update(extra or {})
    return record
