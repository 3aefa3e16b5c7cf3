"""The ``s1`` command, all in this package: each subcommand's module here (``generate``, ``bench``, ``curate``,
``train``, ``eval``, ``serve``, ``batch``, ``demo``) registers its own parsers, ``commands`` names them all with
their help, ``policy_flags`` makes the budget policy's flags; this file only wires them, importing a subcommand's
module only when that subcommand runs (``s1 --help`` imports none of them)."""

from __future__ import annotations

import argparse
import importlib
import sys

from s1lib.cli.bench import BENCHES
from s1lib.cli.commands import COMMANDS

__all__ = ["BENCHES", "COMMANDS", "build_parser", "main"]


def build_parser(command: str | None = None, lazy: bool = False) -> argparse.ArgumentParser:
    """The ``s1`` parser. Every subcommand's module registers its parsers, except with ``lazy``: then only
    ``command``'s module is imported, and every other subcommand is named with its help alone (enough for
    ``s1 --help`` and for argparse to refuse an unknown name)."""
    parser = argparse.ArgumentParser(prog="s1", description="s1: simple test-time scaling, end to end.")
    sub = parser.add_subparsers(dest="command", required=True)
    wanted = {COMMANDS[command].module} if command in COMMANDS else set()
    registered: set[str] = set()
    for name, entry in COMMANDS.items():
        if entry.module in registered:
            continue
        if lazy and entry.module not in wanted:
            sub.add_parser(name, help=entry.help)
            continue
        importlib.import_module(entry.module).register_cli(sub)
        registered.add(entry.module)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv else None, lazy=True)
    passthrough: list[str] = []
    if "--" in argv:  # what follows goes to the command unparsed (``s1 serve MODEL -- <vLLM's flags>``)
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1 :]
    args = parser.parse_args(argv)
    if passthrough:
        if not hasattr(args, "passthrough"):
            parser.error(f"s1 {args.command} takes no arguments after --")
        args.passthrough = passthrough
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        print(f"s1 {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
