"""Where s1lib keeps its caches and finds the real benchmark data.

The benchmark files (AIME24, MATH500, OlympiadBench, the s1K questions) are loaded by path and never copied into
the repository. They are found at ``$S1_DATA_DIR`` when it is set, else in ``shared/data`` beside the repository
(the layout of the workspace this project grew in). Code that needs them calls :func:`data_dir`, which names both
places in its error when neither holds them.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "S1_CACHE_DIR"
DATA_ENV = "S1_DATA_DIR"
REPO_ROOT = Path(__file__).resolve().parents[1]
SIBLING_DATA = REPO_ROOT.parent / "shared" / "data"


class DataDirError(FileNotFoundError):
    """The benchmark data folder is not where it was looked for."""


def cache_dir() -> Path:
    """Root of s1lib's caches; ``$S1_CACHE_DIR`` overrides ``~/.cache/s1lib``."""
    root = os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "s1lib")
    return Path(root)


def data_dir_candidate() -> Path:
    """Where the data folder should be: ``$S1_DATA_DIR``, else ``shared/data`` beside the repository."""
    value = os.environ.get(DATA_ENV, "").strip()
    return Path(value).expanduser() if value else SIBLING_DATA


def data_dir(required: bool = True) -> Path | None:
    """The benchmark data folder, or (``required=False``) None when it is absent."""
    folder = data_dir_candidate()
    if folder.is_dir():
        return folder
    if not required:
        return None
    how = f"${DATA_ENV}={os.environ[DATA_ENV]!r}" if os.environ.get(DATA_ENV, "").strip() else f"{SIBLING_DATA}"
    raise DataDirError(
        f"The benchmark data folder {how} does not exist: put the data (aime24.jsonl, math500.jsonl, ...) there, "
        f"or set {DATA_ENV} to the folder that holds it"
    )
