"""Budget forcing: one backend-independent policy (``policy``) and the engine contract (``engine``) that every
backend in :mod:`s1lib.backends` drives it through."""

from s1lib.forcing.policy import BudgetPolicy, CompiledPolicy
from s1lib.forcing.state import ForcedInsertion, ForcingState, InsertionKind, InsertionReason, Phase, ThinkingEnd
from s1lib.forcing.trace import Event, SamplingConfig, Trace

__all__ = [
    "BudgetPolicy",
    "CompiledPolicy",
    "Event",
    "ForcedInsertion",
    "ForcingState",
    "InsertionKind",
    "InsertionReason",
    "Phase",
    "SamplingConfig",
    "ThinkingEnd",
    "Trace",
]
