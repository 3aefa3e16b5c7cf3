"""Every flag of ``s1`` is made from a config field or declared as a run flag (``s1lib.cli.flags``), and the flags
users know stay as they were."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from s1lib.cli import build_parser
from s1lib.cli.flags import field_flag, run_flag

TODAY = {
    "generate": {
        "--adaptive",
        "--agree",
        "--delimiters",
        "--device",
        "--ids",
        "--ignore-str",
        "--json",
        "--max-answer-tokens",
        "--max-thinking-tokens",
        "--min-p",
        "--min-thinking-tokens",
        "--model",
        "--no-probe-transitions",
        "--num-ignore",
        "--probe-every",
        "--probe-opening",
        "--probe-tokens",
        "--probe-transitions",
        "--seed",
        "--system",
        "--temperature",
        "--temperature-thinking",
        "--threshold",
        "--top-p",
        "--trust-remote-code",
        "question",
    },
    "bench": {"--config", "--json", "name"},
    "prepare-model": {"--force"},
    "curate": {"--json", "--output", "config"},
    "train": {"--data", "--json", "--lora", "--max-steps", "--model", "--output", "--resume", "--set", "config"},
    "grade": {
        "--benchmark",
        "--completion-field",
        "--completions",
        "--data",
        "--delimiters",
        "--id-field",
        "--judge",
        "--judge-base-url",
        "--judge-model",
        "--out",
        "--seed",
        "--timeout",
    },
    "benchmarks": {"--data"},
    "eval": {
        "--adaptive",
        "--agree",
        "--answer-field",
        "--backend",
        "--batch-size",
        "--data",
        "--delimiters",
        "--device",
        "--dtype",
        "--id-field",
        "--ignore-str",
        "--json",
        "--kind",
        "--kind-field",
        "--limit",
        "--max-answer-tokens",
        "--max-thinking-tokens",
        "--min-p",
        "--min-thinking-tokens",
        "--model",
        "--no-probe-transitions",
        "--no-progress",
        "--num-ignore",
        "--output",
        "--probe-every",
        "--probe-opening",
        "--probe-tokens",
        "--probe-transitions",
        "--question-field",
        "--samples",
        "--seed",
        "--temperature",
        "--temperature-thinking",
        "--threshold",
        "--top-p",
        "--trust-remote-code",
        "benchmark",
    },
    "lm-eval-task": {
        "--adaptive",
        "--agree",
        "--base-url",
        "--data",
        "--delimiters",
        "--ignore-str",
        "--limit",
        "--max-answer-tokens",
        "--max-gen-toks",
        "--max-thinking-tokens",
        "--min-p",
        "--min-thinking-tokens",
        "--model",
        "--no-probe-transitions",
        "--num-ignore",
        "--out",
        "--probe-every",
        "--probe-opening",
        "--probe-tokens",
        "--probe-transitions",
        "--seed",
        "--served-name",
        "--temperature",
        "--temperature-thinking",
        "--threshold",
        "--top-p",
        "--trust-remote-code",
        "benchmark",
    },
    "sweep": {
        "--answer-field",
        "--batch-size",
        "--data",
        "--device",
        "--id-field",
        "--json",
        "--kind",
        "--kind-field",
        "--limit",
        "--no-progress",
        "--no-share-prefix",
        "--output",
        "--question-field",
        "grid",
    },
    "serve": {"--api-key", "--dtype", "--host", "--max-model-len", "--port", "--print-command", "model"},
    "batch": {
        "--cpus-per-run",
        "--devices",
        "--dry-run",
        "--executor",
        "--force",
        "--gpus-per-run",
        "--json",
        "--keep-failed",
        "--mem-gb",
        "--name",
        "--only",
        "--output-root",
        "--profile",
        "--set",
        "--slurm-partition",
        "--timeout-min",
        "--workers",
        "grid",
    },
    "demo": {
        "--cpus-per-run",
        "--devices",
        "--executor",
        "--force",
        "--full",
        "--gpus-per-run",
        "--json",
        "--keep-failed",
        "--mem-gb",
        "--output-root",
        "--quick",
        "--slurm-partition",
        "--timeout-min",
        "--workers",
    },
    "showcase": {"--model", "--output"},
}
"""Each subcommand's flags and positionals when they were first made from the configs (issue 30), and those added
since: ``--device`` (issue 39)."""


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]


def test_the_flags_users_know_stay():
    now = {name: {o for a in actions(p) for o in (a.option_strings or [a.dest])} for name, p in subcommands().items()}
    assert {name: now.get(name) for name in TODAY} == TODAY
    assert set(now) == set(TODAY), "a new subcommand: add its flags to TODAY"


@pytest.mark.parametrize("command", sorted(TODAY))
def test_every_flag_has_a_config_field_or_is_a_run_flag(command):
    parser = subcommands()[command]
    undeclared = [a.dest for a in actions(parser) if not hasattr(a, "config_field")]
    assert undeclared == [], f"s1 {command}: flags made without field_flag or run_flag"
    for action in actions(parser):
        if action.config_field is None:
            assert action.help, f"s1 {command} {action.dest}: a run flag says what it does"
            continue
        config, name = action.config_field
        assert name in {f.name for f in dataclasses.fields(config)}
        assert (
            action.help.startswith(action.help[:1])
            and config.__dataclass_fields__[name].metadata["help"] in action.help
        )


@dataclasses.dataclass
class Example:
    cap: int | None = dataclasses.field(default=None, metadata={"help": "A cap."})
    on: bool = dataclasses.field(default=False, metadata={"help": "A switch."})
    bare: int = 0


def test_field_flag_reads_the_field():
    parser = argparse.ArgumentParser()
    field_flag(parser, Example, "cap")
    field_flag(parser, Example, "on")
    run_flag(parser, "--json", action="store_true", help="print JSON")
    assert vars(parser.parse_args(["--cap", "8", "--on"])) == {"cap": 8, "on": True, "json": False}
    assert parser.parse_args(["--cap", "none"]).cap is None
    assert parser.parse_args([]).cap is None and parser.parse_args(["--no-on"]).on is False
    assert "A cap. (default: None)" in " ".join(parser.format_help().split())
    with pytest.raises(SystemExit):
        parser.parse_args(["--cap", "eight"])
    with pytest.raises(AttributeError, match="Example has no field 'caps'"):
        field_flag(parser, Example, "caps")
    with pytest.raises(ValueError, match="Example.bare has no help"):
        field_flag(parser, Example, "bare")


def test_a_bad_value_names_the_flag_and_the_type(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["generate", "q", "--max-thinking-tokens", "lots"])
    assert "--max-thinking-tokens: expects an integer or none, got 'lots'" in capsys.readouterr().err
