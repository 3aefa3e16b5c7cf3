"""Reading tables: one reader for every stage, so a file that loads in curation loads in training and evaluation.

A table is a local ``.jsonl``/``.ndjson``, ``.json`` (a list of objects, or an object holding one such list, like
``{"data": [...]}``), ``.csv``/``.tsv`` or ``.parquet`` file, a folder written by ``datasets.save_to_disk``, or a
hub data set id (``owner/name``) read through ``datasets``. Rows come with their location, ``line N`` in text files
(1-based, the line a row starts on) and ``row N`` (0-based) elsewhere, so an error can point at the place.

Text is UTF-8; a byte-order mark and Windows line endings are fine. A file in another encoding, an empty file and
a row that is not an object fail with a :class:`TableError` naming the file and the line or row, never with a bare
codec error or a silently empty source, because a row lost on the way changes every number computed from the rest.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

TABLE_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet")
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")


class TableError(ValueError):
    """A file that cannot be read as a table; ``file``, ``location`` (None for the whole file) and ``reason``."""

    def __init__(self, file: str | os.PathLike, reason: str, location: str | None = None):
        self.file, self.location, self.reason = str(file), location, reason
        super().__init__(f"{file} {location}: {reason}" if location else f"{file}: {reason}")


class EmptyTableError(TableError):
    """A table without a single row (an empty file, a csv header alone, ``[]``): never read as an empty source."""


@dataclass(frozen=True)
class BadRow:
    """A row that is not an object, yielded in its place when the caller keeps bad rows (to quarantine them).

    ``unparsable``: the text is not valid JSON (``value`` is that text); otherwise ``value`` is what it parsed to
    (a string, a list, ...) or, in a csv file, the cells of a row longer than the header.
    """

    reason: str
    value: Any
    unparsable: bool


Row = tuple[str, Any]
"""``(location, row)``: the row is a dict, or a :class:`BadRow` when bad rows are kept."""


def is_hub_id(source: str) -> bool:
    """``owner/name`` that is no local path (a missing ``runs/x.jsonl`` or ``./a/b`` is a missing file, not an id)."""
    return (
        _HUB_ID.fullmatch(source) is not None
        and Path(source).suffix.lower() not in TABLE_SUFFIXES
        and not os.path.exists(source)
    )


def iter_rows(
    source: str | os.PathLike, split: str = "train", subset: str | None = None, keep_bad_rows: bool = False
) -> Iterator[Row]:
    """Yield ``(location, row)`` for every row of a table file, a saved ``datasets`` folder or a hub id.

    ``split`` picks the split of a hub data set or a saved DatasetDict, ``subset`` a hub data set's configuration.
    A row that is not an object raises a :class:`TableError`; with ``keep_bad_rows`` it is yielded as a
    :class:`BadRow` instead. A missing local path raises ``FileNotFoundError``.
    """
    if isinstance(source, str) and is_hub_id(source):
        yield from iter_hub_rows(source, split, subset)
        return
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist (expected a {'/'.join(TABLE_SUFFIXES)} file, a saved datasets folder "
            "or a hub id owner/name)"
        )
    if path.is_dir():
        yield from iter_saved_dataset_rows(path, split)
    else:
        yield from iter_file_rows(path, keep_bad_rows)


def read_rows(source: str | os.PathLike, split: str = "train", subset: str | None = None) -> list[dict[str, Any]]:
    """Every row of :func:`iter_rows` as a list of dicts (any bad row raises)."""
    return [row for _, row in iter_rows(source, split, subset)]


def iter_file_rows(path: str | os.PathLike, keep_bad_rows: bool = False) -> Iterator[Row]:
    """Yield ``(location, row)`` for every row of one local table file (see :func:`iter_rows`)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.is_dir():
        raise TableError(path, f"is a folder; expected a {'/'.join(TABLE_SUFFIXES)} file")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        yield from _jsonl_rows(path, keep_bad_rows)
    elif suffix == ".json":
        yield from _json_rows(path, keep_bad_rows)
    elif suffix in (".csv", ".tsv"):
        yield from _csv_rows(path, "\t" if suffix == ".tsv" else ",", keep_bad_rows)
    elif suffix == ".parquet":
        yield from _parquet_rows(path)
    else:
        raise TableError(path, f"unsupported file type {suffix!r}; expected one of {TABLE_SUFFIXES}")


def iter_saved_dataset_rows(folder: Path, split: str = "train") -> Iterator[Row]:
    """Rows of a folder written by ``datasets.save_to_disk`` (a Dataset, or ``split`` of a DatasetDict)."""
    import datasets

    try:
        loaded = datasets.load_from_disk(str(folder))
    except FileNotFoundError as exc:  # a folder, but not one datasets wrote
        raise TableError(folder, f"is a folder but not a saved datasets folder ({exc})") from exc
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise TableError(folder, f"no split {split!r} in the saved DatasetDict (has {sorted(loaded)})")
        loaded = loaded[split]
    if not len(loaded):
        raise EmptyTableError(folder, "no rows")
    for index, row in enumerate(loaded):
        yield f"row {index}", row


def iter_hub_rows(hub_id: str, split: str = "train", subset: str | None = None) -> Iterator[Row]:
    """Rows of a hub data set through ``datasets`` (online users only; tests never reach this)."""
    from datasets import load_dataset

    try:
        dataset = load_dataset(hub_id, subset, split=split)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{hub_id}: no such local path, nor a hub data set ({exc})") from exc
    for index, row in enumerate(dataset):
        yield f"row {index}", dict(row)


def table_in_folder(folder: str | os.PathLike, stem: str) -> Path:
    """The file ``<folder>/<stem><suffix>`` for the first suffix of :data:`TABLE_SUFFIXES` that exists."""
    folder = Path(folder)
    for suffix in TABLE_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"No {stem}{{{','.join(TABLE_SUFFIXES)}}} file in folder {folder}")


# ---------------------------------------------------------------------------------------------------------------------
# Text


def decode_utf8(data: bytes, file: str | os.PathLike, first_line: int = 1) -> str:
    """``data`` as text, a leading UTF-8 byte-order mark dropped; another encoding raises naming line and column."""
    if first_line == 1:
        data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + data.count(b"\n", 0, exc.start)
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        guess = "it starts like UTF-16" if utf16 else "perhaps Latin-1 or Windows-1252"
        raise TableError(
            file,
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at column {column}; {guess}); save the file as UTF-8",
            f"line {line}",
        ) from None


def read_utf8(path: str | os.PathLike) -> str:
    """A whole text file as UTF-8 (see :func:`decode_utf8`)."""
    return decode_utf8(Path(path).read_bytes(), path)


def _text_or_empty_error(path: Path) -> str:
    text = read_utf8(path)
    if not text.strip():
        raise EmptyTableError(path, "empty file (no rows)")
    return text


# ---------------------------------------------------------------------------------------------------------------------
# Formats


def _object(value: Any, path: Path, location: str, keep_bad_rows: bool) -> Any:
    if isinstance(value, dict):
        return value
    reason = f"expected a JSON object, got {type(value).__name__}"
    if keep_bad_rows:
        return BadRow(reason, value, unparsable=False)
    raise TableError(path, reason, location)


def _jsonl_rows(path: Path, keep_bad_rows: bool) -> Iterator[Row]:
    rows = 0
    with path.open("rb") as handle:  # bytes, decoded line by line: an encoding error names its line
        for number, raw in enumerate(handle, start=1):
            line = decode_utf8(raw, path, number)
            if not line.strip():
                continue
            rows += 1
            location = f"line {number}"
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                reason = f"not valid JSON ({exc.msg})"
                if not keep_bad_rows:
                    raise TableError(path, reason, location) from exc
                yield location, BadRow(reason, line.rstrip("\r\n"), unparsable=True)
                continue
            yield location, _object(value, path, location, keep_bad_rows)
    if not rows:
        raise EmptyTableError(path, "empty file (no rows)")


def _json_rows(path: Path, keep_bad_rows: bool) -> Iterator[Row]:
    text = _text_or_empty_error(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TableError(path, f"not valid JSON ({exc.msg}, column {exc.colno})", f"line {exc.lineno}") from exc
    data = _unwrap(data, path)
    if not data:
        raise EmptyTableError(path, "no rows (an empty JSON list)")
    for index, value in enumerate(data):
        location = f"row {index}"
        yield location, _object(value, path, location, keep_bad_rows)


def _unwrap(data: Any, path: Path) -> list[Any]:
    """The list of rows: the top level, its ``data`` list, or the one list an object holds."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        if isinstance(data.get("data"), list):
            return data["data"]
        lists = [key for key, value in data.items() if isinstance(value, list)]
        if len(lists) == 1:
            return data[lists[0]]
        raise TableError(
            path,
            f'expected a JSON list of objects, or an object holding one such list (like {{"data": [...]}}); '
            f"got an object with {len(lists)} lists among its keys {sorted(data)[:10]}",
        )
    raise TableError(path, f"expected a JSON list of objects, got {type(data).__name__}")


def _csv_rows(path: Path, delimiter: str, keep_bad_rows: bool) -> Iterator[Row]:
    """Rows under the header; an empty cell is None (a csv cannot write null), each row at the line it starts on."""
    reader = csv.reader(StringIO(_text_or_empty_error(path), newline=""), delimiter=delimiter)
    header = next((cells for cells in reader if cells), None)
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise TableError(path, f"column(s) {duplicated} appear more than once in the header", f"line {reader.line_num}")
    rows, start = 0, reader.line_num + 1
    for cells in reader:
        location, start = f"line {start}", reader.line_num + 1
        if not cells:  # a blank line
            continue
        rows += 1
        if len(cells) > len(header):
            reason = f"{len(cells)} cells but the header has {len(header)} columns {header}"
            if not keep_bad_rows:
                raise TableError(path, reason, location)
            yield location, BadRow(reason, cells, unparsable=False)
            continue
        yield (
            location,
            {name: (cells[i] if i < len(cells) and cells[i] != "" else None) for i, name in enumerate(header)},
        )
    if not rows:
        raise EmptyTableError(path, "no rows below the header")


def _parquet_rows(path: Path) -> Iterator[Row]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError) as exc:
        raise TableError(path, f"not a readable parquet file ({exc})") from exc
    if not rows:
        raise EmptyTableError(path, "no rows")
    for index, row in enumerate(rows):
        yield f"row {index}", row


# ---------------------------------------------------------------------------------------------------------------------
# Writing


def write_jsonl(rows: Iterable[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Write one JSON object per line (UTF-8, non-ASCII kept as is), creating the folder; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path
