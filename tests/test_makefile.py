"""The venv keeps its flavour: after ``make setup GPU=1`` every later target keeps the GPU stack, and another flavour
takes ``FLAVOUR_CHANGE=1`` (the Makefile and ``env/setup.sh`` on a fake venv).

Nothing is installed: the Makefile is asked what it would run (``make -n``), and ``env/setup.sh`` runs with a fake
``python3`` and a fake venv whose ``python`` and ``s1`` only write their arguments to a log.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed")

INHERITED = ("GPU", "CUDA", "FLAVOUR_CHANGE", "VENV", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTHON")
"""Settings an outer ``make test GPU=1`` would pass down, which would decide these cases instead of the test."""


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in INHERITED}
    return {**env, **extra}


def fake_venv(folder: Path, flavour: str | None = None, stamp: str | None = None, fresh: bool = True) -> Path:
    """A venv folder holding only a flavour file and a stamp, newer (``fresh``) or older than the Makefile's inputs."""
    folder.mkdir(parents=True, exist_ok=True)
    if flavour is not None:
        (folder / "s1-flavour").write_text(flavour + "\n")
    if stamp is not None:
        (folder / stamp).touch()
        when = time.time() + 3600 if fresh else 0
        os.utime(folder / stamp, (when, when))
    return folder


def make_n(venv: Path, *args: str) -> subprocess.CompletedProcess:
    command = ["make", "-C", str(ROOT), "-n", f"VENV={venv}", *args]
    return subprocess.run(command, capture_output=True, text=True, env=clean_env(), timeout=60)


def setup_line(output: str) -> str | None:
    """The env/setup.sh command make would run (its two lines joined), or None."""
    joined = output.replace("\\\n", " ")
    return next((" ".join(line.split()) for line in joined.splitlines() if "env/setup.sh" in line), None)


def test_a_gpu_venv_stays_gpu_for_every_later_target(tmp_path):
    venv = fake_venv(tmp_path / "venv", "gpu", ".installed-gpu")
    for target in ("demo", "test", "test-fast"):
        done = make_n(venv, target)
        assert done.returncode == 0, done.stderr
        assert setup_line(done.stdout) is None, f"make {target} would run env/setup.sh again"
    assert f"{venv}/bin/s1 demo" in make_n(venv, "demo").stdout


def test_a_gpu_venv_set_up_again_is_set_up_as_gpu(tmp_path):
    """pyproject.toml changed since the stamp: make test re-runs env/setup.sh, in the venv's flavour."""
    venv = fake_venv(tmp_path / "venv", "gpu", ".installed-gpu", fresh=False)
    line = setup_line(make_n(venv, "test").stdout)
    assert line is not None and "GPU=1" in line and "CUDA= " in line and "FLAVOUR_CHANGE=0" in line
    cu12 = fake_venv(tmp_path / "cu12", "gpu-cu12", ".installed-gpu-cu12", fresh=False)
    assert "GPU=1 CUDA=12" in setup_line(make_n(cu12, "demo").stdout)
    assert setup_line(make_n(fake_venv(tmp_path / "cu12b", "gpu-cu12", ".installed-gpu-cu12"), "demo").stdout) is None


def test_a_venv_made_before_the_flavour_file_is_known_by_its_stamp(tmp_path):
    venv = fake_venv(tmp_path / "venv", None, ".installed-gpu")
    assert setup_line(make_n(venv, "test").stdout) is None
    refused = make_n(venv, "setup", "GPU=0")
    assert refused.returncode != 0 and "holds the gpu stack" in refused.stderr


def test_the_other_flavour_is_refused_with_the_command_that_changes_it(tmp_path):
    venv = fake_venv(tmp_path / "venv", "gpu", ".installed-gpu")
    for target in ("setup", "demo", "test"):
        refused = make_n(venv, target, "GPU=0")
        assert refused.returncode != 0, refused.stdout
        assert setup_line(refused.stdout) is None
        assert "holds the gpu stack" in refused.stderr and "make setup GPU=0 FLAVOUR_CHANGE=1" in refused.stderr
    cpu = fake_venv(tmp_path / "cpu", "cpu", ".installed")
    refused = make_n(cpu, "setup", "GPU=1", "CUDA=12")
    assert refused.returncode != 0 and "make setup GPU=1 CUDA=12 FLAVOUR_CHANGE=1" in refused.stderr


def test_flavour_change_runs_setup_in_the_new_flavour(tmp_path):
    venv = fake_venv(tmp_path / "venv", "gpu", ".installed-gpu")
    done = make_n(venv, "setup", "GPU=0", "FLAVOUR_CHANGE=1")
    assert done.returncode == 0, done.stderr
    line = setup_line(done.stdout)
    assert line is not None and "GPU=0" in line and "FLAVOUR_CHANGE=1" in line


def test_a_new_venv_is_cpu_unless_asked(tmp_path):
    assert "GPU=0" in setup_line(make_n(tmp_path / "none", "setup").stdout)
    assert "GPU=1 CUDA= " in setup_line(make_n(tmp_path / "none", "setup", "GPU=1").stdout)


# ---------------------------------------------------------------------------------------------------- env/setup.sh
LOGGER = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >>"$S1_FAKE_LOG"
"""
FAKE_PYTHON3 = """#!/usr/bin/env bash
echo "python3 $*" >>"$S1_FAKE_LOG"
if [ "$1" = -m ] && [ "$2" = venv ]; then
  mkdir -p "$3/bin" && cp "$S1_FAKE_BIN/python" "$3/bin/python" && cp "$S1_FAKE_BIN/python" "$3/bin/s1"
fi
"""


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.fixture
def fakes(tmp_path):
    """A fake ``python3`` (makes fake venvs) and the logging ``python``/``s1`` of a fake venv."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    _script(bin_dir / "python", LOGGER)
    return {"python3": _script(bin_dir / "python3", FAKE_PYTHON3), "bin": bin_dir, "log": tmp_path / "calls.log"}


def run_setup(fakes, venv: Path, **settings: str) -> subprocess.CompletedProcess:
    env = clean_env(
        VENV=str(venv),
        PYTHON=str(fakes["python3"]),
        S1_FAKE_LOG=str(fakes["log"]),
        S1_FAKE_BIN=str(fakes["bin"]),
        S1_SKIP_BROWSER="1",
        **settings,
    )
    return subprocess.run(["bash", str(ROOT / "env" / "setup.sh")], capture_output=True, text=True, env=env, timeout=60)


def with_fake_python(fakes, venv: Path) -> Path:
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    for name in ("python", "s1"):
        shutil.copy(fakes["bin"] / "python", venv / "bin" / name)
    return venv


def calls(fakes) -> str:
    return fakes["log"].read_text() if fakes["log"].exists() else ""


def test_setup_refuses_another_flavour_and_changes_nothing(tmp_path, fakes):
    venv = with_fake_python(fakes, fake_venv(tmp_path / "venv", "gpu", ".installed-gpu"))
    done = run_setup(fakes, venv, GPU="0")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "holds the gpu stack" in done.stderr and "make setup GPU=0 FLAVOUR_CHANGE=1" in done.stderr
    assert "pip" not in calls(fakes)
    assert (venv / "s1-flavour").read_text().strip() == "gpu" and (venv / ".installed-gpu").exists()


def test_setup_with_flavour_change_says_what_it_replaces_and_makes_the_venv_anew(tmp_path, fakes):
    venv = with_fake_python(fakes, fake_venv(tmp_path / "venv", "gpu", ".installed-gpu"))
    done = run_setup(fakes, venv, GPU="0", FLAVOUR_CHANGE="1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "replacing the gpu stack" in done.stdout and "made anew" in done.stdout
    log = calls(fakes)
    assert f"python3 -m venv {venv}" in log, "the venv is made anew, not two stacks in one"
    assert "-m pip install -q torch==2.13.0" in log and "-e .[all]" in log and "gpu-all" not in log
    assert (venv / "s1-flavour").read_text().strip() == "cpu"
    assert (venv / ".installed").exists() and not (venv / ".installed-gpu").exists()


def test_setup_keeps_and_records_a_legacy_gpu_venv(tmp_path, fakes):
    venv = with_fake_python(fakes, fake_venv(tmp_path / "venv", None, ".installed-gpu"))
    done = run_setup(fakes, venv, GPU="1")
    assert done.returncode == 0, done.stdout + done.stderr
    log = calls(fakes)
    assert "-e .[gpu-all]" in log and "torch==2.13.0" not in log and "-m venv" not in log
    assert (venv / "s1-flavour").read_text().strip() == "gpu" and (venv / ".installed-gpu").exists()


def test_setup_for_a_cuda_12_driver_uses_vllms_cu129_build_and_pytorchs_cu129_index(tmp_path, fakes):
    venv = tmp_path / "venv"
    done = run_setup(fakes, venv, GPU="1", CUDA="12")
    assert done.returncode == 0, done.stdout + done.stderr
    install = next(line for line in calls(fakes).splitlines() if "gpu-all" in line)
    assert "vllm==0.33.0+cu129" in install
    assert "--extra-index-url https://wheels.vllm.ai/0.33.0/cu129" in install
    assert "--extra-index-url https://download.pytorch.org/whl/cu129" in install
    assert (venv / "s1-flavour").read_text().strip() == "gpu-cu12" and (venv / ".installed-gpu-cu12").exists()


@pytest.mark.parametrize(
    ("model", "opened"),
    [
        (None, "notebooks/marimo"),
        ("HuggingFaceTB/SmolLM2-135M-Instruct", 'notebooks/marimo/03_budget_forcing.py -- --model "HuggingFaceTB/'),
        ("env", f'notebooks/marimo/03_budget_forcing.py -- --model "{ROOT}/env"'),  # a folder: made absolute
    ],
    ids=["no-model", "hub-id", "folder"],
)
def test_make_marimo_takes_a_model(tmp_path, model, opened):
    venv = fake_venv(tmp_path / "venv", "cpu", ".installed")
    done = make_n(venv, "marimo", *([f"MODEL={model}"] if model else []))
    assert done.returncode == 0, done.stderr
    command = " ".join(done.stdout.replace("\\\n", " ").split())
    assert f"marimo edit --host 127.0.0.1 {opened}" in command
