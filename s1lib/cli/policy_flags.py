"""The command-line flags of a budget policy and its sampling, shared by ``s1 generate``, ``s1 eval`` and the demo."""

from __future__ import annotations

import argparse
from typing import Any

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
    """The BudgetPolicy and sampling flags, shared by ``generate``, ``eval`` and the demo."""
    parser.add_argument(
        "--model",
        default="default",
        help="'default' (embedded SmolLM2-135M), a folder, a .gguf, or a hub id (the only case that downloads)",
    )
    parser.add_argument("--max-thinking-tokens", type=int, default=None, help="cap on thinking tokens")
    parser.add_argument("--min-thinking-tokens", type=int, default=0, help="suppress the end until this many")
    parser.add_argument("--num-ignore", type=int, default=0, help="suppress the end of thinking K times")
    parser.add_argument(
        "--ignore-str",
        default="Wait",
        help="string appended on suppression; comma list cycles; 'none' suppresses without a string",
    )
    parser.add_argument("--max-answer-tokens", type=int, default=512, help="cap on answer tokens")
    parser.add_argument("--delimiters", default="s1", help="'s1', 'think-tags' or 'START,END'")
    parser.add_argument(
        "--adaptive",
        choices=STRATEGIES,
        default=None,
        help="stop thinking early when probes say the answer is ready: probe_consistency (Dynasor-CoT) or "
        "answer_confidence (DEER; needs --num-ignore > 0 or --probe-transitions); the cap stays the maximum",
    )
    for name in ADAPTIVE_FLAGS:
        default = getattr(_ADAPTIVE_DEFAULTS, name)
        help_text = AdaptiveStop.__dataclass_fields__[name].metadata["help"]
        # a bool is a switch (--probe-transitions / --no-probe-transitions): type=bool would read "False" as true
        kind: dict[str, Any] = (
            {"action": argparse.BooleanOptionalAction} if isinstance(default, bool) else {"type": type(default)}
        )
        parser.add_argument(
            "--" + name.replace("_", "-"),
            default=None,
            help=f"with --adaptive: {help_text} (default {default})",
            **kind,
        )
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (the paper)")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--min-p", type=float, default=0.0, help="drop tokens below min_p × the top one's probability")
    parser.add_argument(
        "--temperature-thinking", type=float, default=None,
        help="temperature of the thinking phase (default: --temperature for both phases)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trust-remote-code", action="store_true", help="allow model code from the hub")


def sampling_from_args(args: argparse.Namespace) -> SamplingConfig:
    """The :class:`SamplingConfig` of the sampling flags above."""
    return SamplingConfig(
        temperature=args.temperature, top_p=args.top_p, min_p=args.min_p,
        temperature_thinking=args.temperature_thinking, seed=args.seed,
    )  # fmt: skip
