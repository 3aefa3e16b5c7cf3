"""Every ``s1`` subcommand: its name, the module that builds its parser, and its one-line help, declared once.

``s1 --help`` lists these without importing any of the modules (some import torch, seconds on a laptop), and
``s1 NAME ...`` imports only NAME's module; each module's ``register_cli`` adds its parsers through
:func:`add_command`, so a command's help is written here and nowhere else.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Command:
    module: str
    help: str


COMMANDS: dict[str, Command] = {
    "generate": Command("s1lib.cli.generate", "answer one question with budget forcing, streaming"),
    "bench": Command("s1lib.cli.bench", "benchmarks measured side by side in one run"),
    "prepare-model": Command("s1lib.cli.generate", "convert the embedded default model to safetensors (once)"),
    "curate": Command("s1lib.cli.curate", "curate a question pool into an s1K-style set (prints the funnel)"),
    "train": Command("s1lib.cli.train", "full SFT (or LoRA) on s1K-format data"),
    "grade": Command("s1lib.cli.eval", "Grade a jsonl of completions ({id, completion}) against a benchmark"),
    "benchmarks": Command("s1lib.cli.eval", "List known benchmarks, or count the problems in a data folder"),
    "eval": Command("s1lib.cli.eval", "Evaluate one budget policy on a benchmark (graded, stored, figures)"),
    "lm-eval-task": Command(
        "s1lib.cli.eval",
        "Write an lm-eval task over a benchmark for upstream lm_eval against s1 serve, and print the command",
    ),
    "sweep": Command("s1lib.cli.eval", "Run a grid of budgets / Waits / baselines from a YAML or JSON file"),
    "serve": Command(
        "s1lib.cli.serve", "vLLM's OpenAI-compatible server with budget forcing per request (policy in vllm_xargs)"
    ),
    "batch": Command("s1lib.cli.batch", "run a grid of notebooks through papermill (resumable)"),
    "demo": Command(
        "s1lib.cli.demo",
        "the main job: curation → SFT → budget forcing → scaling → adaptive budgets, as one papermill grid",
    ),
    "showcase": Command("s1lib.cli.demo", "budget forcing on the untrained embedded model, traces marked"),
}


def add_command(subparsers: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """The parser of subcommand ``name``, with its help from :data:`COMMANDS`."""
    return subparsers.add_parser(name, help=COMMANDS[name].help, **kwargs)
