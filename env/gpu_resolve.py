"""Does the GPU install still resolve? pip's own resolver, for a Linux x86_64 CUDA machine, from any machine.

    python env/gpu_resolve.py [--extra gpu-all] [--python 3.12] [--json]

It reads the requirement set of ``pip install -e ".[gpu-all]"`` from ``pyproject.toml`` (the core dependencies and
the extras, expanded) and asks pip to resolve it for a Linux x86_64 machine with ``--dry-run``: pip reads each
wheel's metadata from the index (a source-only package is fetched to read its metadata) and installs nothing. It
prints what was resolved for vLLM, torch and transformers, and exits 1 with pip's own words when the set no
longer resolves (a new pin somewhere, a release pulled). It needs the package index, not a GPU.
``tests/test_gpu_install.py`` runs it in ``make test``.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    import tomllib  # Python 3.11+
except ModuleNotFoundError:  # Python 3.10, which the project allows: tomli where installed, else _read_project
    try:
        import tomli as tomllib
    except ModuleNotFoundError:
        tomllib = None

ROOT = Path(__file__).resolve().parents[1]
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # the system's CAs, which --isolated would not read from pip.conf
WATCHED = ("vllm", "torch", "transformers", "flashinfer-python", "trl", "peft")
# pip matches a manylinux tag exactly, so a wheel tagged manylinux_2_31 needs that tag named; 2_17..2_39 covers
# the glibc of every current GPU distribution (a set only up to 2_28 fails on llguidance's wheels).
PLATFORMS = ["manylinux2014_x86_64", *(f"manylinux_2_{n}_x86_64" for n in range(17, 40)), "linux_x86_64"]


_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'')
"""A TOML basic string (with its escapes) or a literal one."""


def _uncommented(line: str) -> str:
    """``line`` without its TOML comment: from a ``#`` outside quotes."""
    bare = _STRING.sub(lambda m: " " * len(m.group(0)), line)  # strings blanked, so a # in one is no comment
    return line[: bare.index("#")] if "#" in bare else line


def _strings(text: str) -> list[str]:
    """The quoted strings in ``text``, unescaped."""
    return [json.loads(f'"{basic}"') if literal == "" else literal for basic, literal in _STRING.findall(text)]


def _read_project(text: str) -> dict:
    """``[project]``'s strings and arrays of strings, and ``[project.optional-dependencies]``, from a pyproject's
    text without a TOML library (Python 3.10 without tomli): the subset those two tables use (``key = "text"``,
    ``key = [...]`` over one line or several, comments); other values are kept as their text."""
    project: dict = {"optional-dependencies": {}}
    table, key, value = None, None, ""
    for line in (_uncommented(raw).strip() for raw in text.splitlines()):
        if key is not None:  # an array that opened on an earlier line
            value += " " + line
        elif line.startswith("["):
            table = line.strip("[] ")
            continue
        elif "=" in line and table in ("project", "project.optional-dependencies"):
            key, _, value = (part.strip() for part in line.partition("="))
            key = key.strip("\"'")
        else:
            continue
        bare = _STRING.sub("", value)
        if bare.count("[") > bare.count("]"):
            continue  # the array goes on
        target = project if table == "project" else project["optional-dependencies"]
        strings = _strings(value)
        target[key] = strings if value.startswith("[") else strings[0] if value[:1] in "\"'" and strings else value
        key, value = None, ""
    return project


def read_project(pyproject: Path = ROOT / "pyproject.toml") -> dict:
    """``pyproject.toml``'s ``[project]`` table: through tomllib (or tomli) where there is one, else
    :func:`_read_project`, so this script runs on every Python the project allows (``requires-python``)."""
    text = pyproject.read_text()
    return tomllib.loads(text)["project"] if tomllib is not None else _read_project(text)


def requirements(extra: str, pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The requirement strings of ``s1lib[extra]``: core dependencies plus the extra, self-references expanded."""
    project = read_project(pyproject)
    extras: dict[str, list[str]] = project.get("optional-dependencies", {})
    name = project["name"]
    out, seen = list(project.get("dependencies", [])), set()

    def expand(which: str) -> None:
        if which in seen:
            return
        if which not in extras:
            raise SystemExit(f"{pyproject}: no optional-dependencies extra named {which!r} (have {sorted(extras)})")
        seen.add(which)
        for requirement in extras[which]:
            inner = re.fullmatch(rf"{re.escape(name)}\[([^\]]+)\]", requirement.strip())
            if inner:
                for sub in inner.group(1).split(","):
                    expand(sub.strip())
            else:
                out.append(requirement)

    expand(extra)
    return sorted(set(out))


def resolve(extra: str = "gpu-all", python: str | None = None) -> dict:
    """pip's dry-run resolution for a Linux x86_64 machine; the report of what it would install.

    On Linux x86_64 pip resolves for this interpreter and this machine's manylinux tags: pip knows nothing of
    CUDA, so that is what a CUDA machine of this Python resolves, source-only packages (lm-eval's sqlitedict)
    included. ``--isolated`` keeps this machine's own pip settings (local indexes, constraints) out. Given
    ``python``, or on another platform, it resolves wheels only for manylinux tags and that Python; pip then
    cannot take packages that ship no wheel."""
    native = python is None and sys.platform == "linux" and platform.machine() == "x86_64"
    with tempfile.TemporaryDirectory(prefix="s1-gpu-resolve-") as tmp:
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--isolated", "--dry-run", "--ignore-installed", "--quiet"]
        if Path(CA_BUNDLE).exists():
            command += ["--cert", CA_BUNDLE]
        if not native:
            version = python or f"{sys.version_info.major}.{sys.version_info.minor}"
            command += [
                "--only-binary=:all:", "--python-version", version, "--implementation", "cp",
                "--abi", "cp" + version.replace(".", ""),
                *(arg for tag in PLATFORMS for arg in ("--platform", tag)), "--target", str(Path(tmp) / "target"),
            ]  # fmt: skip
        command += ["--report", str(report), *requirements(extra)]
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.monotonic() - started
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-25:])
            return {"resolved": False, "seconds": seconds, "error": tail}
        installs = json.loads(report.read_text()).get("install", [])
    versions = {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in installs}
    return {"resolved": True, "seconds": seconds, "packages": len(versions), "versions": versions}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extra", default="gpu-all", help="the extra to resolve (default: gpu-all)")
    parser.add_argument(
        "--python", default=None, help="resolve wheels only, for this Python on manylinux (default: this interpreter)"
    )
    parser.add_argument("--json", action="store_true", help="print the whole result as one JSON object")
    args = parser.parse_args(argv)
    result = resolve(args.extra, args.python)
    where = f"Python {args.python or platform.python_version()}"
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    elif result["resolved"]:
        versions = result["versions"]
        picked = ", ".join(f"{name}=={versions[name]}" for name in WATCHED if name in versions)
        print(f"PASS s1lib[{args.extra}] resolves for manylinux x86_64, {where}: {picked} "
              f"({result['packages']} packages, {result['seconds']:.0f} s)")  # fmt: skip
    else:
        print(f"FAIL s1lib[{args.extra}] does not resolve for manylinux x86_64, {where}:\n"
              f"{result['error']}")  # fmt: skip
    return 0 if result["resolved"] else 1


if __name__ == "__main__":
    sys.exit(main())
