"""``s1 --help`` is quick because it imports no subcommand's module; ``s1 NAME`` imports only NAME's module; and
the table that names the commands (``s1lib.cli.commands``) is the one place their help is written."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys

import pytest

from s1lib.cli import build_parser
from s1lib.cli.commands import COMMANDS

PROBE = """
import json, sys
from s1lib.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m == "torch" or m.startswith("s1lib.cli."))), file=sys.stderr)
"""


def imported_by(argv: list[str]) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_help_imports_no_subcommand_module_and_no_torch():
    assert imported_by(["--help"]) == {"s1lib.cli.bench", "s1lib.cli.commands", "s1lib.cli.flags"}


def test_a_subcommand_imports_its_own_module_only():
    imported = imported_by(["curate", "--help"])
    assert "s1lib.cli.curate" in imported
    assert not imported & {"s1lib.cli.eval", "s1lib.cli.train", "s1lib.cli.serve", "s1lib.cli.demo", "torch"}


def test_every_module_registers_exactly_the_commands_the_table_gives_it():
    for module in dict.fromkeys(entry.module for entry in COMMANDS.values()):
        parser = argparse.ArgumentParser()
        importlib.import_module(module).register_cli(parser.add_subparsers())
        assert set(subcommands(parser)) == {name for name, e in COMMANDS.items() if e.module == module}, module


def test_the_lazy_parser_lists_every_command_with_the_full_parsers_help():
    full, lazy = build_parser(), build_parser("eval", lazy=True)
    assert list(subcommands(lazy)) == list(COMMANDS)
    assert set(subcommands(full)) == set(COMMANDS)
    help_of = {a.dest: a.help for a in full._subparsers._group_actions[0]._choices_actions}
    assert help_of == {name: entry.help for name, entry in COMMANDS.items()}
    assert subcommands(lazy)["eval"].format_help() == subcommands(full)["eval"].format_help()


def test_an_unknown_command_is_refused_by_name(capsys):
    from s1lib.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["evaluate"])
    assert exc.value.code == 2
    assert "invalid choice: 'evaluate'" in capsys.readouterr().err
