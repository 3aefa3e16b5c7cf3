"""The processor's former import path, kept so ``vllm serve --logits-processors
s1lib.forcing.vllm_processor:ForcingLogitsProcessorAny`` keeps working: it lives in
:mod:`s1lib.backends.vllm_processor` (the classes are built there lazily, when vLLM asks for one)."""

from typing import Any


def __getattr__(name: str) -> Any:
    from s1lib.backends import vllm_processor

    return getattr(vllm_processor, name)
