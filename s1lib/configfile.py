"""Reading config files: one loader for curation, training, batch grids and sweeps, so every YAML or JSON file is
read by the same rules and a mistake in one names the file, the line and, for settings, the unknown field."""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any, Literal, TypeVar

from s1lib.tables import TableError, read_utf8

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
Config = TypeVar("Config")


class ConfigFileError(ValueError):
    """A config file that cannot be read as a mapping; the message names the file (and the line where known)."""


def read_config(path: str | os.PathLike, kind: str = "config", expected: str = "a mapping") -> dict[str, Any]:
    """The mapping at the top level of a YAML (``.yaml``/``.yml``) or JSON (``.json``) file.

    ``kind`` names the file in messages (``grid`` gives "grid file not found"), ``expected`` says what the top level
    should hold. A missing file raises ``FileNotFoundError``; text that is not UTF-8, invalid YAML or JSON, an empty
    file or a top level that is no mapping raise :class:`ConfigFileError`.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: {kind} file not found")
    suffix = path.suffix.lower()
    if path.is_dir() or suffix not in CONFIG_SUFFIXES:
        raise ConfigFileError(f"{path}: expected a {kind} file ending in {', '.join(CONFIG_SUFFIXES)}")
    try:
        text = read_utf8(path)
    except TableError as exc:
        raise ConfigFileError(str(exc)) from exc
    values = _parse_json(text, path) if suffix == ".json" else _parse_yaml(text, path)
    if values is None:
        raise ConfigFileError(f"{path}: the file is empty; expected {expected}")
    if not isinstance(values, dict):
        raise ConfigFileError(f"{path}: expected {expected} at the top level, got {type(values).__name__}")
    return values


def _parse_json(text: str, path: Path) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigFileError(f"{path} line {exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno})") from exc


def _parse_yaml(text: str, path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark is None:
            raise ConfigFileError(f"{path}: not valid YAML ({exc})") from exc
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigFileError(
            f"{path} line {mark.line + 1}: not valid YAML ({problem}, column {mark.column + 1})"
        ) from exc


def check_fields(cls: type, values: Mapping[str, Any], origin: str | None = None, noun: str = "field") -> None:
    """Raise a ValueError naming every key of ``values`` that is no field of the dataclass ``cls``.

    ``origin`` (a file, ``preset 'x'``, ``overrides``) starts the message; ``noun`` names a key (``TrainConfig
    field``, ``curation option``).
    """
    known = sorted(f.name for f in dataclasses.fields(cls))
    unknown = sorted(set(values) - set(known))
    if unknown:
        head = f"{origin}: unknown" if origin else "Unknown"
        raise ValueError(f"{head} {noun}(s) {unknown}; expected some of {known}")


def config_from_dict(
    cls: type[Config], values: Mapping[str, Any], origin: str | None = None, noun: str = "field"
) -> Config:
    """``cls(**values)`` once :func:`check_fields` has found no unknown key."""
    check_fields(cls, values, origin, noun)
    return cls(**values)


_TRUE, _FALSE = ("1", "true", "yes", "on", ""), ("0", "false", "no", "off")  # "": a flag given without a value
_NONE = ("none", "null")


def coerce(value: Any, hint: Any) -> Any:
    """``value`` (a string from a command line, or what a caller already parsed: int, float, bool, a list for a
    repeated flag) as the type ``hint``: the one string-to-type conversion of CLI flags and notebook parameters.
    Booleans: 1/true/yes/on or an empty value (a flag given alone), 0/false/no/off; none/null for an optional; a
    closed set (an enum such as :class:`s1lib.named.Named`) by its value."""
    origin, members = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if type(None) in members and str(value).lower() in _NONE:
            return None
        errors = []
        for member in (m for m in members if m is not type(None)):
            try:
                return coerce(value, member)
            except (TypeError, ValueError) as error:
                errors.append(str(error))
        raise ValueError("; ".join(errors))
    if origin is Literal:
        for allowed in members:
            if value == allowed or str(value) == str(allowed):
                return allowed
        raise ValueError(f"not one of {', '.join(map(repr, members))}")
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(value)
        except ValueError:
            raise ValueError(f"not one of {', '.join(repr(m.value) for m in hint)}") from None
    if origin is list:
        if isinstance(value, str):
            items = json.loads(value) if value.lstrip().startswith("[") else [v.strip() for v in value.split(",")]
            items = [v for v in items if v != ""]
        else:
            items = value if isinstance(value, list) else [value]
        return [coerce(item, members[0]) for item in items]
    if origin is dict or hint is dict:
        parsed = json.loads(value) if isinstance(value, str) else value
        if not isinstance(parsed, dict):
            raise ValueError("not a JSON object")
        return parsed
    if hint is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in _TRUE + _FALSE:
            return str(value).lower() in _TRUE
        raise ValueError("not true or false")
    if hint is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError("not an integer")
        return int(value)
    if hint is float:
        if isinstance(value, bool):
            raise ValueError("not a number")
        return float(value)
    if hint is str:
        if isinstance(value, list):
            raise ValueError("given more than once")
        return str(value)
    raise TypeError(f"unsupported parameter type {hint!r}")


def describe(hint: Any) -> str:
    """What ``hint`` expects, in words, for error messages."""
    origin, members = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        described = [describe(m) for m in members if m is not type(None)]
        return " or ".join(described + (["none"] if type(None) in members else []))
    if origin is Literal:
        return " or ".join(repr(m) for m in members)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return " or ".join(repr(m.value) for m in hint)
    if origin is list:
        return f"a comma-separated list of {describe(members[0]).removeprefix('an ').removeprefix('a ')}s"
    if origin is dict or hint is dict:
        return 'a JSON object (e.g. {"key": 1})'
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(hint, repr(hint))
