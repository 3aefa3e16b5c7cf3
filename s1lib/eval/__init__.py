"""Evaluation: benchmark loaders, answer extraction and grading, an optional LLM judge, metrics, the sweep runner
and its results store.

The subcommands live in ``s1lib.eval.cli`` (``register_cli`` stays importable from here); the sweep and grading
benches in ``s1lib.benches.sweep``, with every other bench.
"""

from __future__ import annotations

from typing import Any

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
    "register_cli",
    "scaling",
]


def register_cli(subparsers: Any) -> None:
    """See :func:`s1lib.eval.cli.register_cli`."""
    from s1lib.eval.cli import register_cli as register

    register(subparsers)
