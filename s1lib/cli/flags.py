"""Command-line flags made from config fields, so a setting is declared once: in its dataclass.

:func:`field_flag` turns one dataclass field into a flag: its name (``max_thinking_tokens`` gives
``--max-thinking-tokens``), its type (read through :func:`s1lib.configfile.coerce`, the one string-to-type
conversion), its help (the field's ``metadata["help"]``) and its default. :func:`run_flag` declares the other kind:
a flag that says how to run a command (where to write, what to print, which file to read), which no config holds.
Every flag of ``s1`` is one of the two (``tests/cli/test_cli_flags.py`` walks the parser), so a flag cannot exist
without either a config field or a declared reason.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any

from s1lib.configfile import coerce, describe

FIELD_DEFAULT: Any = object()
"""Marks "the field's own default" (the default of :func:`field_flag`'s ``default``)."""


def field_help(config: type, name: str) -> str:
    """The help of ``config.name`` (its ``metadata["help"]``); a field without one is an error, since every flag
    made from it would print nothing useful."""
    found = {f.name: f for f in dataclasses.fields(config)}
    if name not in found:
        raise AttributeError(f"{config.__name__} has no field {name!r}")
    text = found[name].metadata.get("help")
    if not text:
        raise ValueError(f"{config.__name__}.{name} has no help in its metadata")
    return text


def field_default(config: type, name: str) -> Any:
    f = {f.name: f for f in dataclasses.fields(config)}[name]
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _typed(hint: Any) -> Any:
    def convert(text: str) -> Any:
        try:
            return coerce(text, hint)
        except (TypeError, ValueError) as error:
            raise argparse.ArgumentTypeError(f"expects {describe(hint)}, got {text!r} ({error})") from None

    convert.__name__ = describe(hint)  # argparse names the type in its message
    return convert


def field_flag(
    parser: Any,
    config: type,
    name: str,
    *,
    flag: str | None = None,
    default: Any = FIELD_DEFAULT,
    prefix: str = "",
    note: str = "",
    shown_default: Any = FIELD_DEFAULT,
    **kwargs: Any,
) -> argparse.Action:
    """Add the flag of dataclass field ``config.name`` to ``parser`` (a parser or an argument group).

    ``flag`` renames it where users know another name (``--ignore-str`` for ``ignore_strings``). ``default`` is the
    field's unless given (``None``: "keep what the config file says", and ``shown_default`` the one the help
    names). ``prefix`` opens the help (``"with --adaptive: "``), ``note`` ends it. ``kwargs`` go to
    ``add_argument`` (``type``, ``choices``, ``action``, ...); without ``type`` or ``action`` the value is read as
    the field's type, and a bool field is a ``--x/--no-x`` switch."""
    text = prefix + field_help(config, name) + (f" {note}" if note else "")
    hint = typing.get_type_hints(config)[name]
    shown = field_default(config, name) if default is FIELD_DEFAULT else default
    choices = kwargs.get("choices")
    if "action" not in kwargs and "type" not in kwargs:
        if hint is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif choices and all(isinstance(choice, str) for choice in choices):
            kwargs["type"] = str  # argparse checks the names ("invalid choice"); the config makes them its enum
        else:
            kwargs["type"] = _typed(hint)
    if kwargs.get("action") not in ("store_true", "store_false"):
        text += f" (default: {shown if shown_default is FIELD_DEFAULT else shown_default})"
    action = parser.add_argument(flag or "--" + name.replace("_", "-"), default=shown, help=text, **kwargs)
    action.config_field = (config, name)
    return action


def run_flag(parser: Any, *names: str, **kwargs: Any) -> argparse.Action:
    """Add a flag (or a positional) that says how to run the command, not what to run: an output folder, ``--json``,
    a file to read, a dry run. No config holds it, and the flag says so."""
    action = parser.add_argument(*names, **kwargs)
    action.config_field = None
    return action


def config_values(args: argparse.Namespace, config: type, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The values of ``config``'s flags in ``args`` that were given (not None), by field name."""
    names = {f.name for f in dataclasses.fields(config)} - set(skip)
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
