"""``s1 curate CONFIG [--json] [--output DIR]``: run the curation pipeline from a YAML/JSON config."""

from __future__ import annotations

import argparse
import json
import sys

from s1lib.cli.commands import add_command
from s1lib.cli.flags import field_flag, run_flag
from s1lib.curation.config import CurationConfig


def _run(args: argparse.Namespace) -> int:
    from s1lib.curation.pipeline import run_curation

    config = CurationConfig.from_file(args.config)
    if args.output:
        config.output_dir = args.output
    if args.json:
        config.progress = False
    result = run_curation(config)
    if args.json:
        print(json.dumps(result.summary(), default=str))
    else:
        print(result.funnel.table())
        print(f"\nselected {len(result.selected)} rows -> {result.paths['selected']}")
        print(f"funnel -> {result.paths['funnel']}")
    return 0


def register_cli(subparsers) -> argparse.ArgumentParser:
    """Add the ``curate`` subcommand to an ``argparse`` subparsers object."""
    parser = add_command(
        subparsers,
        "curate",
    )
    run_flag(parser, "config", help="YAML or JSON curation config (see env/curation/toy.yaml)")
    run_flag(parser, "--json", action="store_true", help="print one JSON object (funnel, stats, paths)")
    field_flag(parser, CurationConfig, "output_dir", flag="--output", dest="output", default=None, type=str,
               shown_default="the config's")  # fmt: skip
    parser.set_defaults(func=_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="s1")
    register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
