"""``s1 bench NAME``: each bench module's ``run_bench`` (measured side by side in one run)."""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from typing import Any

from s1lib.cli.commands import add_command
from s1lib.cli.flags import run_flag

# ``s1 bench NAME``: module with ``run_bench(json_output) -> dict`` (and ``config=`` for ``--config``).
BENCHES: dict[str, str] = {
    "adaptive": "s1lib.benches.adaptive",
    "forcing": "s1lib.benches.forcing",
    "sweep": "s1lib.benches.sweep",
    "curate": "s1lib.benches.curate",
    "domains": "s1lib.benches.domains",
    "train": "s1lib.benches.train",
    "precision": "s1lib.benches.precision",
    "processor": "s1lib.benches.processor",
    "vllm": "s1lib.benches.vllm",
    "serve": "s1lib.benches.serve",
    "widget": "s1lib.benches.widget",
}


def _cmd_bench(args: argparse.Namespace) -> int:
    module_name = BENCHES[args.name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        print(f"s1 bench {args.name}: not available ({exc})", file=sys.stderr)
        return 2
    options = {"config": args.config} if args.config else {}
    if options and "config" not in inspect.signature(module.run_bench).parameters:
        print(f"s1 bench {args.name}: takes no --config", file=sys.stderr)
        return 2
    module.run_bench(json_output=args.json, **options)  # each bench prints its own text or JSON
    return 0


def register_cli(subparsers: Any) -> None:
    bench = add_command(subparsers, "bench")
    run_flag(bench, "name", choices=sorted(BENCHES), help="the bench to run")
    run_flag(bench, "--json", action="store_true", help="print the bench's results as one JSON object")
    run_flag(
        bench,
        "--config",
        default=None,
        help="a YAML/JSON file of the bench's config fields (benches that take one: adaptive)",
    )
    bench.set_defaults(func=_cmd_bench)
