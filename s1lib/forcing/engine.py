"""What every backend shares: building s1 prompts, encoding them, and compiling a policy for its tokenizer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from s1lib.forcing.policy import BudgetPolicy, CompiledPolicy
from s1lib.format import build_prompt


class EngineBase:
    """Base of the backends; a subclass sets ``tokenizer`` and ``eos_token_ids``."""

    tokenizer: Any
    eos_token_ids: list[int]

    def prompt_for(
        self, question: str, policy: BudgetPolicy | None = None, system: str | None = None, suffix: str = ""
    ) -> str:
        """The s1 generation prompt for a question under this tokenizer's chat template."""
        delimiters = (policy or BudgetPolicy()).delimiters
        return build_prompt(self.tokenizer, question, delimiters, system=system, suffix=suffix)

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
