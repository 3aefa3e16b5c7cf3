"""The command-line flags of a budget policy and its sampling, shared by ``s1 generate``, ``s1 eval`` and the demo."""

from __future__ import annotations

import argparse
from typing import Any

from s1lib.forcing.policy import BudgetPolicy


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
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (the paper)")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trust-remote-code", action="store_true", help="allow model code from the hub")
