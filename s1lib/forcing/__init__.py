"""Budget forcing: one backend-independent policy (``policy``) driven by each backend (``hf``, ``vllm``)."""

from s1lib.forcing.policy import BudgetPolicy, CompiledPolicy, ForcedInsertion, ForcingState, Phase
from s1lib.forcing.trace import Event, SamplingConfig, Trace

__all__ = [
    "BudgetPolicy",
    "CompiledPolicy",
    "Event",
    "ForcedInsertion",
    "ForcingState",
    "Phase",
    "SamplingConfig",
    "Trace",
    "load_engine",
]


def load_engine(model: str = "default", backend: str = "transformers", **kwargs):
    """An engine by backend name: ``transformers`` (HFEngine) or ``vllm``."""
    if backend in ("transformers", "hf"):
        from s1lib.forcing.hf import HFEngine

        return HFEngine.from_name(model, **kwargs)
    if backend == "vllm":
        from s1lib.forcing.vllm import VLLMEngine

        return VLLMEngine.from_name(model, **kwargs)
    raise ValueError(f"Unknown backend {backend!r}; expected 'transformers' or 'vllm'")
