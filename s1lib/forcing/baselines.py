"""The paper's baselines for controlling thinking length (s1 §5.2, Table 3), on top of any engine.

- Conditional length control by prompt: token-, step- and class-conditional suffixes appended to the question
  (exact texts of the reference); with budget forcing, the token-conditional budget doubles as the cap.
- Rejection sampling: sample at temperature 1 until the thinking fits the budget, at most ``max_tries`` times.
- Parallel scaling: n seeded samples per question, scored by majority vote (maj@k) and coverage (cov@k).

Step-conditional + budget forcing ("stop at '0 steps left'") is NOT implemented: the reference's step headers
begin with ``<|im_start|>``, which our state machine (rightly, for s1 models) treats as an end-of-thinking attempt,
so it needs a model trained on that format plus a stop string; we offer the prompt-only variant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from s1lib.forcing.policy import BudgetPolicy
from s1lib.forcing.trace import SamplingConfig, Trace

if TYPE_CHECKING:  # the engine imports torch; the CLI reads the baselines' names without it
    from s1lib.forcing.engine import Engine, Processor

TOKEN_CONDITIONAL = "\n\nThink for up to {n} tokens."
STEP_CONDITIONAL = "\n\nThink for up to {n} steps."
CLASS_CONDITIONAL = {
    "long": "\n\nAnswer after a long amount of thinking. If you feel like you are finished early, spend the extra time "
    "trying to double-check your work until you are absolutely sure that you have the correct answer.",
    "short": "\n\nAnswer after a short amount of thinking. Do not spend excessive time double-checking your work.",
}
"""Prompt suffixes, verbatim from the reference (appended to the question)."""

BASELINES = ("token_conditional", "token_conditional_bf", "step_conditional", "class_conditional", "rejection",
             "majority")  # fmt: skip
"""Baseline names accepted by a sweep grid."""


def token_conditional_suffix(n: int) -> str:
    """``"\\n\\nThink for up to {n} tokens."`` (paper: n in 2048 … 16384)."""
    if not isinstance(n, int) or n <= 0:
        raise ValueError(f"token-conditional budget must be a positive integer, got {n!r}")
    return TOKEN_CONDITIONAL.format(n=n)


def step_conditional_suffix(n: int) -> str:
    """``"\\n\\nThink for up to {n} steps."`` (paper: n in 16 … 256)."""
    if not isinstance(n, int) or n <= 0:
        raise ValueError(f"step-conditional budget must be a positive integer, got {n!r}")
    return STEP_CONDITIONAL.format(n=n)


def class_conditional_suffix(kind: str) -> str:
    """The "long" or "short" class-conditional instruction."""
    if kind not in CLASS_CONDITIONAL:
        raise ValueError(f"class-conditional kind must be one of {sorted(CLASS_CONDITIONAL)}, got {kind!r}")
    return CLASS_CONDITIONAL[kind]


def sample_seed(base: int, index: int, sample: int) -> int:
    """A distinct, reproducible seed for sample ``sample`` of prompt ``index`` (independent of batching)."""
    return int(base) + 1_000_003 * int(sample) + int(index)


# ---------------------------------------------------------------------------------------------------------------------
# Rejection sampling


@dataclass
class RejectionResult:
    """The kept sample of one prompt: the first that fit the budget, else the last try (``fit`` False)."""

    trace: Trace
    tries: int
    fit: bool

    def to_dict(self) -> dict[str, Any]:
        return {"tries": self.tries, "fit": self.fit}


def fits(trace: Trace, budget: int) -> bool:
    """Thinking ended by the model itself within ``budget`` tokens."""
    return trace.thinking_end_reason != "cap" and trace.thinking_tokens <= budget


def rejection_sample(
    engine: Engine,
    prompts: Sequence[str | Sequence[int]],
    budget: int,
    policy: BudgetPolicy | None = None,
    sampling: SamplingConfig | None = None,
    max_tries: int = 16,
    batch_size: int = 8,
    extra_processors: Sequence[Processor] = (),
    indices: Sequence[int] | None = None,
) -> list[RejectionResult]:
    """Sample (temperature 1 by default) until each prompt's thinking fits ``budget``, at most ``max_tries`` times.

    Each try caps thinking at ``budget + 1`` tokens: reaching that many proves the sample does not fit, so a
    rejected try never costs more than the budget. Try ``t`` of prompt ``i`` uses seed ``sample_seed(seed, i, t)``,
    where ``i`` is ``indices[i]`` when given (a problem's index in its benchmark, so chunking does not matter).
    """
    if indices is not None and len(indices) != len(prompts):
        raise ValueError(f"rejection_sample: indices has {len(indices)} entries for {len(prompts)} prompts")
    ids = list(range(len(prompts))) if indices is None else [int(i) for i in indices]
    if not isinstance(budget, int) or budget <= 0:
        raise ValueError(f"rejection_sample: budget must be a positive integer, got {budget!r}")
    if max_tries < 1:
        raise ValueError(f"rejection_sample: max_tries must be >= 1, got {max_tries}")
    sampling = sampling or SamplingConfig(temperature=1.0)
    if sampling.greedy:
        raise ValueError("rejection_sample: greedy decoding gives the same sample every try; use temperature > 0")
    policy = (policy or BudgetPolicy()).replace(max_thinking_tokens=budget + 1)
    results: list[RejectionResult | None] = [None] * len(prompts)
    pending = list(range(len(prompts)))
    for attempt in range(max_tries):
        if not pending:
            break
        traces = engine.generate(
            [prompts[i] for i in pending],
            policy,
            sampling,
            batch_size=batch_size,
            extra_processors=extra_processors,
            seeds=[sample_seed(sampling.seed, ids[i], attempt) for i in pending],
        )
        still = []
        for i, trace in zip(pending, traces):
            ok = fits(trace, budget)
            results[i] = RejectionResult(trace, attempt + 1, ok)
            if not ok:
                still.append(i)
        pending = still
    return [r for r in results if r is not None]


# ---------------------------------------------------------------------------------------------------------------------
# Majority voting


def sample_rows(
    engine: Engine,
    prompts: Sequence[str | Sequence[int]],
    rows: Sequence[tuple[int, int]],
    policy: BudgetPolicy | None = None,
    sampling: SamplingConfig | None = None,
    batch_size: int = 8,
    extra_processors: Sequence[Processor] = (),
) -> list[Trace]:
    """Sample ``j`` of prompt ``i`` for each ``(i, j)`` in ``rows``, seeded ``sample_seed(seed, i, j)``: the same
    sample whichever rows are asked for together (so a resumed run continues where it stopped)."""
    sampling = sampling or SamplingConfig(temperature=1.0)
    return engine.generate(
        [prompts[i] for i, _ in rows],
        policy,
        sampling,
        batch_size=batch_size,
        extra_processors=extra_processors,
        seeds=[sample_seed(sampling.seed, i, j) for i, j in rows],
    )


def sample_many(
    engine: Engine,
    prompts: Sequence[str | Sequence[int]],
    n: int,
    policy: BudgetPolicy | None = None,
    sampling: SamplingConfig | None = None,
    batch_size: int = 8,
    extra_processors: Sequence[Processor] = (),
) -> list[list[Trace]]:
    """``n`` samples per prompt (temperature 1 by default), sample ``j`` of prompt ``i`` seeded ``sample_seed``."""
    if n < 1:
        raise ValueError(f"sample_many: n must be >= 1, got {n}")
    sampling = sampling or SamplingConfig(temperature=1.0)
    if sampling.greedy and n > 1:
        raise ValueError("sample_many: greedy decoding gives n identical samples; use temperature > 0")
    flat = [(i, j) for i in range(len(prompts)) for j in range(n)]
    traces = sample_rows(engine, prompts, flat, policy, sampling, batch_size, extra_processors)
    out: list[list[Trace]] = [[] for _ in prompts]
    for (i, _), trace in zip(flat, traces):
        out[i].append(trace)
    return out
