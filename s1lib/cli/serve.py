"""``s1 serve MODEL``: the command-line front of :mod:`s1lib.serve.server`."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from s1lib.serve import server


def register_cli(subparsers: Any) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="vLLM's OpenAI-compatible server with budget forcing per request (policy in vllm_xargs)",
        description=server.__doc__.split("\n\n")[1] + " vLLM's own flags follow `--`: s1 serve MODEL -- -tp 8.",
    )
    serve.add_argument("model", help="'default' (the embedded SmolLM2), a model folder or a hub id")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--api-key", default=None, help="require this bearer token (default: $S1_SERVE_API_KEY)")
    serve.add_argument("--dtype", default="auto", help="auto (this device's fastest), float32, bfloat16, float16")
    serve.add_argument("--max-model-len", type=int, default=None)
    serve.add_argument("--print-command", action="store_true", help="print the vllm command instead of running it")
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
