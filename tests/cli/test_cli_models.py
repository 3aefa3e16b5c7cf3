"""The ``s1`` command (generate --json, errors) and model loading (default, folder, GGUF, cache override)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from s1lib.models import ModelNotFoundError, default_model_dir, resolve_model, smollm2_gguf_path

S1 = [sys.executable, "-m", "s1lib.cli"]


def run_s1(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run([*S1, *args], capture_output=True, text=True, timeout=600, env=full_env)


def run_s1_here(capsys: pytest.CaptureFixture, *args: str) -> SimpleNamespace:
    """``s1 ARGS`` in this process (an error case needs no interpreter of its own): exit code, stdout, stderr."""
    from s1lib.cli import main

    try:
        code = main(list(args))
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    captured = capsys.readouterr()
    return SimpleNamespace(returncode=code, stdout=captured.out, stderr=captured.err)


def test_generate_json_on_tiny_model(tiny_model_dir):
    result = run_s1(
        "generate",
        "How many r in raspberry?",
        "--model",
        str(tiny_model_dir),
        "--json",
        "--max-thinking-tokens",
        "12",
        "--max-answer-tokens",
        "4",
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    for key in ("thinking", "answer", "thinking_tokens", "answer_tokens", "forced", "finish_reason"):
        assert key in out
    assert out["thinking_tokens"] <= 12
    assert {f["kind"] for f in out["forced"]} <= {"wait", "end", "final_answer"}
    assert all(isinstance(f["position"], int) for f in out["forced"])


@pytest.mark.model
def test_generate_json_on_embedded_model_forces_waits():
    result = run_s1(
        "generate",
        "How many r in raspberry?",
        "--json",
        "--max-thinking-tokens",
        "40",
        "--num-ignore",
        "2",
        "--max-answer-tokens",
        "8",
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    waits = [f for f in out["forced"] if f["kind"] == "wait"]
    assert len(waits) == 2 and "Wait" in out["thinking"]
    assert out["thinking_tokens"] <= 40


@pytest.mark.model
def test_generate_streams_with_marked_insertions():
    result = run_s1(
        "generate", "What is 2+2?", "--max-thinking-tokens", "20", "--num-ignore", "1", "--max-answer-tokens", "4"
    )
    assert result.returncode == 0, result.stderr
    assert "[WAIT→]Wait" in result.stdout and "thinking" in result.stdout


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--max-thinking-tokens", "-3"], "max_thinking_tokens"),
        (["--min-thinking-tokens", "50", "--max-thinking-tokens", "10"], "min_thinking_tokens"),
        (["--delimiters", "bogus"], "delimiters"),
        (["--model", "./no/such/model"], "does not exist"),
        (["--model", "/tmp/definitely-missing.gguf"], "does not exist"),
    ],
)
def test_generate_errors_are_clear(flags, message, capsys):
    result = run_s1_here(capsys, "generate", "q", *flags)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr


def test_budget_beyond_context_is_an_error(tiny_model_dir, capsys):
    result = run_s1_here(capsys, "generate", "q", "--model", str(tiny_model_dir), "--max-thinking-tokens", "100000")
    assert result.returncode == 2 and "context" in result.stderr


def test_resolve_model_kinds(tmp_path: Path, default_model_dir: Path):
    assert resolve_model("default").kind == "default"
    assert resolve_model(str(default_model_dir)).kind == "folder"
    gguf = resolve_model(str(smollm2_gguf_path()))
    assert gguf.kind == "gguf" and gguf.gguf_file.endswith(".gguf")
    assert resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct").kind == "hub"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="config.json"):
        resolve_model(str(tmp_path / "empty"))


def test_cache_dir_env_override(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("S1_CACHE_DIR", str(tmp_path))
    assert default_model_dir() == tmp_path / "models" / "smollm2-135m-instruct"


def test_trust_remote_code_is_off_by_default():
    import inspect

    from s1lib.models import load_model, load_tokenizer

    for fn in (load_model, load_tokenizer):
        assert inspect.signature(fn).parameters["trust_remote_code"].default is False


@pytest.mark.slow
@pytest.mark.model
def test_default_model_converts_into_overridden_cache(tmp_path: Path):
    """A fresh cache folder gets a safetensors copy that gives the same greedy output as the shared one (in float32:
    a fresh cache also measures the precision probe again, which may choose otherwise)."""
    code = (
        "import json,sys; from s1lib.backends.hf import HFEngine; from s1lib.forcing import BudgetPolicy;"
        "e=HFEngine.from_name('default', dtype='float32'); p=e.prompt_for('Hi');"
        "t=e.generate([p], BudgetPolicy(max_thinking_tokens=8, max_answer_tokens=4))[0];"
        "from s1lib.models import default_model_dir; print(json.dumps([str(default_model_dir()), t.generated_ids]))"
    )
    fresh = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "S1_CACHE_DIR": str(tmp_path)},
    )
    assert fresh.returncode == 0, fresh.stderr
    shared = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    fresh_dir, fresh_ids = json.loads(fresh.stdout.strip().splitlines()[-1])
    _, shared_ids = json.loads(shared.stdout.strip().splitlines()[-1])
    assert Path(fresh_dir, "model.safetensors").exists() and fresh_dir.startswith(str(tmp_path))
    assert fresh_ids == shared_ids
