"""Evaluation: benchmark loaders, answer extraction and grading, an optional LLM judge, metrics, the sweep runner
and its results store.

Its subcommands live in ``s1lib.cli.eval``; the sweep and grading benches in ``s1lib.benches.sweep``.
"""

from __future__ import annotations

from s1lib.eval.benchmarks import BENCHMARKS, Problem, load_benchmark, load_generic
from s1lib.eval.grading import Grade, GradingConfig, MathVerifier, compare, extract_answer, grade, is_equivalent
from s1lib.eval.metrics import accuracy, avg_at_n, control, cov_at_k, maj_at_k, performance, scaling

__all__ = [
    "BENCHMARKS",
    "Grade",
    "GradingConfig",
    "MathVerifier",
    "Problem",
    "accuracy",
    "avg_at_n",
    "compare",
    "control",
    "cov_at_k",
    "extract_answer",
    "grade",
    "is_equivalent",
    "load_benchmark",
    "load_generic",
    "maj_at_k",
    "performance",
    "scaling",
]
