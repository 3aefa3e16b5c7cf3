"""Shared fixtures: the real SmolLM2 tokenizer, a tiny random Llama on it, and the embedded model.

The tiny model has the real vocabulary and chat template, so every token-id path (delimiters, forced strings,
chat prompts) is exercised exactly as on the real model, at a fraction of the cost.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REQUIRE_DATA_ENV = "S1_REQUIRE_DATA"
"""Set by .ci/run: CI always has the data, so there a missing folder is an error, never a skip."""


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real benchmark files (``$S1_DATA_DIR``, else ``../shared/data``), loaded by path and never copied.

    Absent, the tests that need them skip with the reason (a clone outside this workspace), except under
    ``S1_REQUIRE_DATA=1`` (CI), where that is a failure.
    """
    from s1lib.paths import DataDirError, data_dir

    try:
        return data_dir()
    except DataDirError as error:
        if os.environ.get(REQUIRE_DATA_ENV) == "1":
            pytest.fail(f"{error} ({REQUIRE_DATA_ENV}=1: CI must have the benchmark data)")
        pytest.skip(f"no benchmark data: {error}")


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    """The embedded SmolLM2-135M-Instruct as a cached safetensors folder (converted once)."""
    from s1lib.models import prepare_default_model

    return prepare_default_model()


@pytest.fixture(scope="session")
def smollm_tokenizer(default_model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(default_model_dir, local_files_only=True)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, smollm_tokenizer) -> Path:
    """A 2-layer random Llama (hidden 64) with the real SmolLM2 tokenizer, saved as a model folder."""
    from doubles import save_tiny_llama

    return save_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), smollm_tokenizer)


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir: Path):
    """``(model, tokenizer)`` of the tiny random model, loaded through s1lib (float32: tests compare numerics)."""
    from s1lib.models import load_model

    return load_model(str(tiny_model_dir), dtype="float32")


@pytest.fixture(scope="session")
def embedded_model():
    """``(model, tokenizer)`` of the embedded default model (float32, CPU). Loaded once per session."""
    from s1lib.models import load_model

    return load_model("default", dtype="float32")  # parity tests compare backends in float32
