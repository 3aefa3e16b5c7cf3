"""``s1 serve MODEL``: the command-line front of :mod:`s1lib.serve.server`."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from s1lib.cli.commands import add_command
from s1lib.cli.flags import field_flag, run_flag
from s1lib.serve import server
from s1lib.serve.server import ServeConfig


def register_cli(subparsers: Any) -> None:
    serve = add_command(
        subparsers,
        "serve",
        description=server.__doc__.split("\n\n")[1] + " vLLM's own flags follow `--`: s1 serve MODEL -- -tp 8.",
    )
    field_flag(serve, ServeConfig, "model", flag="model", type=str)
    for name in ("host", "port", "api_key", "dtype", "max_model_len"):
        field_flag(serve, ServeConfig, name)
    run_flag(serve, "--print-command", action="store_true", help="print the vllm command instead of running it")
    serve.set_defaults(func=_cmd_serve, passthrough=[])  # after `--`: vLLM's own flags (e.g. -- -tp 8)


def _cmd_serve(args: argparse.Namespace) -> int:
    argv = server.serve_arguments(
        args.model, args.host, args.port, args.dtype, args.max_model_len, True, args.passthrough
    )
    command = [sys.executable, "-m", "s1lib.serve.server", *argv]
    if args.print_command:
        print(" ".join(command))
        return 0
    env = server.serving_env()
    api_key = args.api_key or os.environ.get("S1_SERVE_API_KEY")
    if api_key:
        env["VLLM_API_KEY"] = api_key  # vLLM's own variable: the key stays out of the process list
    os.execve(sys.executable, command, env)  # vLLM owns the process from here (signals, logs, exit code)
    return 0  # not reached
