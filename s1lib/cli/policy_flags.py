"""The command-line flags of a budget policy and its sampling, shared by ``s1 generate``, ``s1 eval`` and the demo."""

from __future__ import annotations

import argparse
from typing import Any

from s1lib.cli.flags import field_flag
from s1lib.eval.sweep_config import SweepConfig
from s1lib.forcing.adaptive import STRATEGIES, AdaptiveStop
from s1lib.forcing.policy import BudgetPolicy
from s1lib.forcing.trace import SamplingConfig

_ADAPTIVE_DEFAULTS = AdaptiveStop()
ADAPTIVE_FLAGS = ("probe_every", "probe_tokens", "probe_opening", "agree", "threshold", "probe_transitions")
"""The AdaptiveStop fields with a flag of their own (``--probe-every`` ...); they need ``--adaptive``."""


def adaptive_from_args(args: argparse.Namespace) -> AdaptiveStop | None:
    """The AdaptiveStop of ``--adaptive`` and its tuning flags; a tuning flag without ``--adaptive`` is an error
    (it would silently do nothing), and a bad value is the dataclass's ``ValueError`` naming the field."""
    strategy = getattr(args, "adaptive", None)
    given = {name: getattr(args, name) for name in ADAPTIVE_FLAGS if getattr(args, name, None) is not None}
    if strategy is None:
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise ValueError(f"{flags} tune an adaptive stop: give --adaptive {{{','.join(STRATEGIES)}}} too")
        return None
    return AdaptiveStop(strategy=strategy, **given)


def policy_from_args(args: argparse.Namespace) -> BudgetPolicy:
    """The BudgetPolicy the flags of :func:`add_policy_arguments` describe."""
    ignore: Any = args.ignore_str
    if ignore is None or ignore.strip().lower() in ("", "none"):
        ignore = None
    elif "," in ignore:
        ignore = [s for s in ignore.split(",") if s]
    delimiters: Any = args.delimiters
    if "," in delimiters:
        delimiters = tuple(delimiters.split(",", 1))
    return BudgetPolicy(
        max_thinking_tokens=args.max_thinking_tokens,
        min_thinking_tokens=args.min_thinking_tokens,
        num_ignore=args.num_ignore,
        ignore_strings=ignore,
        max_answer_tokens=args.max_answer_tokens,
        delimiters=delimiters,
        adaptive=adaptive_from_args(args),
    )


def add_policy_arguments(parser: argparse.ArgumentParser) -> None:
    """The BudgetPolicy and sampling flags, shared by ``generate``, ``eval`` and ``lm-eval-task``: each made from its
    config field (help, type, default), under the names users know."""
    field_flag(parser, SweepConfig, "model")
    field_flag(parser, BudgetPolicy, "max_thinking_tokens")
    field_flag(parser, BudgetPolicy, "min_thinking_tokens")
    field_flag(parser, BudgetPolicy, "num_ignore")
    field_flag(
        parser, BudgetPolicy, "ignore_strings", flag="--ignore-str", type=str,
        note="Here a comma list cycles and 'none' appends nothing.",
    )  # fmt: skip
    field_flag(parser, BudgetPolicy, "max_answer_tokens", default=512)
    field_flag(parser, BudgetPolicy, "delimiters", type=str, note="Here a pair is 'START,END'.")
    field_flag(parser, AdaptiveStop, "strategy", flag="--adaptive", dest="adaptive", choices=STRATEGIES, default=None)
    for name in ADAPTIVE_FLAGS:
        shown = getattr(_ADAPTIVE_DEFAULTS, name)
        field_flag(parser, AdaptiveStop, name, default=None, shown_default=shown, prefix="with --adaptive: ")
    for name in ("temperature", "top_p", "min_p", "temperature_thinking", "seed"):
        field_flag(parser, SamplingConfig, name)
    field_flag(parser, SweepConfig, "trust_remote_code", action="store_true")


def sampling_from_args(args: argparse.Namespace) -> SamplingConfig:
    """The :class:`SamplingConfig` of the sampling flags above."""
    return SamplingConfig(
        temperature=args.temperature, top_p=args.top_p, min_p=args.min_p,
        temperature_thinking=args.temperature_thinking, seed=args.seed,
    )  # fmt: skip
