"""What every backend shares: building s1 prompts, encoding them, and compiling a policy for its tokenizer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from s1lib.forcing.policy import BudgetPolicy, CompiledPolicy
from s1lib.forcing.trace import SamplingConfig
from s1lib.format import build_prompt


class EngineBase:
    """Base of the backends; a subclass sets ``tokenizer``, ``eos_token_ids`` and ``context_length``.

    ``default_system`` is the system line prompts get when none is given: the one the model was trained with when
    its folder records it (``s1_prompt.json``, written by s1lib's trainer), else None (the template's own).
    ``precision`` says what the backend computes in (``{"dtype": ...}``, with how ``auto`` resolved), for run
    metadata; None where the backend does not know (a served endpoint).
    """

    tokenizer: Any
    eos_token_ids: list[int]
    context_length: int | None = None
    default_system: str | None = None
    precision: dict[str, Any] | None = None

    def prompt_for(
        self, question: str, policy: BudgetPolicy | None = None, system: str | None = None, suffix: str = ""
    ) -> str:
        """The s1 generation prompt for a question under this tokenizer's chat template."""
        policy = policy or BudgetPolicy()
        system = self.default_system if system is None else system
        return build_prompt(
            self.tokenizer, question, policy.delimiters, system=system, suffix=suffix, think=policy.thinking_phase
        )

    def encode_prompts(self, prompts: Sequence[str | Sequence[int]]) -> list[list[int]]:
        """Token ids of each prompt (strings are tokenized as is, with no added special tokens)."""
        out = []
        for i, prompt in enumerate(prompts):
            ids = self.tokenizer.encode(prompt, add_special_tokens=False) if isinstance(prompt, str) else list(prompt)
            if not ids:
                raise ValueError(f"prompts[{i}] is empty")
            out.append([int(t) for t in ids])
        return out

    def compile(self, policy: BudgetPolicy) -> CompiledPolicy:
        return policy.compile(self.tokenizer, self.eos_token_ids)

    def prepare(
        self,
        prompts: Sequence[str | Sequence[int]],
        policy: BudgetPolicy | None,
        sampling: SamplingConfig | None,
        batch_size: int,
        seeds: Sequence[int] | None,
    ) -> tuple[BudgetPolicy, SamplingConfig, list[int], list[list[int]], CompiledPolicy]:
        """The checks every backend's ``generate`` makes before decoding anything, so bad input fails early and
        alike: ``(policy, sampling, row_seeds, prompt_ids, compiled)``. A row's seed is ``sampling.seed + index``
        unless ``seeds`` gives one per prompt."""
        policy = policy or BudgetPolicy()
        sampling = sampling or SamplingConfig()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if seeds is not None and len(seeds) != len(prompts):
            raise ValueError(f"seeds has {len(seeds)} entries, expected one per prompt ({len(prompts)})")
        row_seeds = [sampling.seed + i for i in range(len(prompts))] if seeds is None else [int(s) for s in seeds]
        encoded = self.encode_prompts(prompts)
        compiled = self.compile(policy)
        if self.context_length:
            policy.validate(self.context_length, max((len(p) for p in encoded), default=0))
        return policy, sampling, row_seeds, encoded, compiled
