"""The backends that drive the forcing policy: transformers (``hf``), vLLM (``vllm`` with its processor) and an
OpenAI-compatible endpoint (``endpoint``). Each is an :class:`~s1lib.forcing.engine.Engine`."""

__all__ = ["PROCESSOR_FQCN", "PROCESSOR_FQCN_ANY", "PROCESSOR_FQCN_V2", "load_engine"]


def __getattr__(name: str):
    # The vLLM processors' import paths, for ``vllm serve --logits-processors`` (lazy: the module imports torch).
    if name in ("PROCESSOR_FQCN", "PROCESSOR_FQCN_ANY", "PROCESSOR_FQCN_V2"):
        from s1lib.backends import vllm_processor

        return getattr(vllm_processor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_engine(model: str = "default", backend: str = "transformers", **kwargs):
    """An engine by backend name: ``transformers`` (HFEngine) or ``vllm``."""
    if backend in ("transformers", "hf"):
        from s1lib.backends.hf import HFEngine

        return HFEngine.from_name(model, **kwargs)
    if backend == "vllm":
        from s1lib.backends.vllm import VLLMEngine

        return VLLMEngine.from_name(model, **kwargs)
    raise ValueError(f"Unknown backend {backend!r}; expected 'transformers' or 'vllm'")
