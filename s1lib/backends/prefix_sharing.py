"""Prefix sharing: a sweep of budgets decoded once, each budget branching off (greedy, transformers backend).

Under greedy decoding, every setting of a sweep (a cap, a number of "Wait"s, a minimum) produces the same tokens
as the others until its own state machine first decides differently: the cap forces the delimiter, or an end
attempt is allowed where another setting forces a "Wait". So we decode once with an *envelope* policy that keeps
thinking at least as long as every member (largest cap, largest minimum, most suppressions), recording per row the
generated ids, the model's greedy choice at each position (``state.model_choices``) and the KV cache. Each member
then REPLAYS its own :class:`ForcingState` over that row, answering ``choose()`` from the recorded choices; at the
first position where it emits a different token (the branch point) it continues live from a copy of the cache
cropped to the shared prefix (``generate`` only prefills the uncached suffix), which is usually just the answer.

The result is token-identical to independent runs (tested), as long as the members share the prompt, the
delimiters and the ignore strings (they are grouped by those) and decoding is greedy; otherwise, or with
``share_prefix=False``, each setting runs independently. Needing the model's choice with some tokens banned (the
"no ignore string" suppression) or beyond the recorded row also counts as a branch point.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from s1lib.backends.hf import HFEngine, HFForcingProcessor
from s1lib.forcing.engine import Engine, Processor
from s1lib.forcing.policy import BudgetPolicy, CompiledPolicy
from s1lib.forcing.state import ForcingState
from s1lib.forcing.trace import SamplingConfig, Trace
from s1lib.text_format import get_delimiters


@dataclass
class SweepStats:
    """Decoding work of a sweep, in generated positions (prompt prefill excluded), for the speed-up accounting."""

    envelope_tokens: int = 0
    branch_tokens: int = 0
    independent_tokens: int = 0
    replayed_complete: int = 0
    branches: int = 0
    groups: int = 0

    @property
    def shared_tokens(self) -> int:
        return self.envelope_tokens + self.branch_tokens

    def to_dict(self) -> dict[str, int]:
        return {**self.__dict__, "shared_tokens": self.shared_tokens}


def group_key(policy: BudgetPolicy) -> tuple[Any, ...]:
    """Settings with equal keys can share a prefix: same delimiters (hence prompt) and the same ignore strings."""
    delims = get_delimiters(policy.delimiters)
    return (delims.think_start, delims.think_end, tuple(policy.ignore_list()))


def envelope_policy(policies: Sequence[BudgetPolicy]) -> BudgetPolicy:
    """A policy that thinks at least as long as every member: the largest cap, minimum and suppression count."""
    if not policies:
        raise ValueError("envelope_policy: no policies")
    keys = {group_key(p) for p in policies}
    if len(keys) != 1:
        raise ValueError(f"envelope_policy: policies do not share delimiters and ignore strings: {sorted(keys)}")
    caps = [p.max_thinking_tokens for p in policies]
    answers = [p.max_answer_tokens for p in policies]
    return policies[0].replace(
        max_thinking_tokens=None if None in caps else max(caps),  # type: ignore[type-var]
        min_thinking_tokens=max(p.min_thinking_tokens for p in policies),
        num_ignore=max(p.num_ignore for p in policies),
        max_answer_tokens=None if None in answers else max(answers),  # type: ignore[type-var]
    )


class _NeedModel(Exception):
    """The replayed state asked for something the recorded row cannot answer (a banned choice, or past its end)."""

    def __init__(self, position: int):
        super().__init__(position)
        self.position = position


@dataclass
class Replay:
    """A member's state after replaying it over an envelope row.

    ``shared`` leading generated tokens equal the envelope's; ``state.generated`` may hold one more (the branch
    token). ``complete`` means the state finished inside the recorded row: no live decoding needed.
    """

    state: ForcingState
    shared: int
    complete: bool


def _run_replay(
    compiled: CompiledPolicy, generated: Sequence[int], model_choices: Sequence[int], limit: int | None
) -> Replay:
    state = ForcingState(compiled)
    i = 0
    while not state.done and (limit is None or i < limit):

        def choose(banned: frozenset[int], i: int = i) -> int:
            if banned or i >= len(model_choices):
                raise _NeedModel(i)
            return int(model_choices[i])

        step = state.next_token(choose)
        if i >= len(generated) or step.token_id != generated[i]:
            break  # the branch point: this setting decided differently at position i
        i += 1
    state.model_choices = [int(c) for c in model_choices[: len(state.generated)]]
    return Replay(state, min(i, len(state.generated)), state.done)


def replay(compiled: CompiledPolicy, generated: Sequence[int], model_choices: Sequence[int]) -> Replay:
    """Replay ``compiled``'s state machine over a recorded greedy row until it branches or finishes.

    ``choose()`` is answered from ``model_choices`` (valid while the prefix is the recorded one). If the state
    needs more (a choice with banned tokens, or a position past the row), it is rebuilt up to just before that
    position, because :class:`ForcingState` updates its counters before asking.
    """
    try:
        return _run_replay(compiled, generated, model_choices, None)
    except _NeedModel as need:
        rebuilt = _run_replay(compiled, generated, model_choices, need.position)
        rebuilt.complete = False
        return rebuilt


def _max_new(engine: HFEngine, states: Sequence[ForcingState], total_length: int) -> int:
    """Generated positions still needed by the longest state, bounded by the context."""
    room = engine.context_length - total_length if engine.context_length else None
    needs = []
    for state in states:
        bound = state.compiled.max_new_tokens()
        needs.append(None if bound is None else max(1, bound - len(state.generated)))
    if None in needs:
        if room is None:
            raise ValueError("An unbounded policy needs a model with max_position_embeddings")
        return max(1, room)
    need = max(n for n in needs if n is not None)
    return need if room is None else max(1, min(need, room))


def _decode(
    engine: HFEngine,
    sequences: Sequence[Sequence[int]],
    states: Sequence[ForcingState],
    sampling: SamplingConfig,
    seeds: Sequence[int],
    extra_processors: Sequence[Processor],
    cache: Any = None,
) -> Any:
    """One ``generate`` call that continues ``states`` after left-padded ``sequences``; returns the KV cache."""
    from transformers import DynamicCache, LogitsProcessorList

    longest = max(len(s) for s in sequences)
    if cache is None:
        cache = DynamicCache(config=engine.model.config)
    processor = HFForcingProcessor(states, longest, sampling, seeds, extra_processors)
    engine.greedy_generate(
        sequences,
        _max_new(engine, states, longest),
        past_key_values=cache,
        logits_processor=LogitsProcessorList([processor]),
    )
    for state in states:
        if not state.done:
            state.stop("length")
    return cache


def _gather_cache(cache: Any, rows: Sequence[int], starts: Sequence[int], lengths: Sequence[int]) -> Any:
    """A new cache whose row j holds ``cache`` row ``rows[j]`` positions ``[starts[j], starts[j] + lengths[j])``,
    right-aligned behind left padding (zeros, masked out), like a freshly left-padded batch."""
    from transformers import DynamicCache

    width = max(lengths)
    data = []
    for layer in cache.layers:
        keys, values = layer.keys, layer.values
        new_k = keys.new_zeros((len(rows), keys.shape[1], width, keys.shape[3]))
        new_v = values.new_zeros((len(rows), values.shape[1], width, values.shape[3]))
        for j, (row, start, length) in enumerate(zip(rows, starts, lengths)):
            if length:
                new_k[j, :, width - length :] = keys[row, :, start : start + length]
                new_v[j, :, width - length :] = values[row, :, start : start + length]
        data.append((new_k, new_v))
    return DynamicCache(ddp_cache_data=data)


@dataclass
class SweepBatch:
    """Results of one batch of prompts: ``traces[policy_index][j]`` is the trace of prompt ``indices[j]``."""

    indices: list[int]
    traces: dict[int, list[Trace]] = field(default_factory=dict)


def iter_sweep(
    engine: Engine,
    prompts: Sequence[str | Sequence[int]],
    policies: Sequence[BudgetPolicy],
    sampling: SamplingConfig | None = None,
    batch_size: int = 8,
    extra_processors: Sequence[Processor] = (),
    share_prefix: bool = True,
    seeds: Sequence[int] | None = None,
    stats: SweepStats | None = None,
) -> Iterator[SweepBatch]:
    """Run every policy on every prompt, one batch of prompts at a time (so callers can store results as they go).

    Shares the thinking prefix between policies when decoding is greedy, ``share_prefix`` is on and the engine is
    the transformers one (its KV cache is what is shared); otherwise runs each policy independently with the
    engine's ``run``. The call is checked once, by ``engine.prepare_many``; ``seeds`` (one per prompt) seeds
    sampling.
    """
    sampling = sampling or SamplingConfig()
    stats = stats if stats is not None else SweepStats()
    if not policies:
        raise ValueError("iter_sweep: no policies")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    requests = engine.prepare_many(prompts, policies, sampling, seeds)  # the one check: every layer below trusts it
    encoded = requests[0].prompt_ids
    shared = share_prefix and sampling.greedy and engine.shares_prefixes  # other backends: independent runs
    groups: dict[tuple[Any, ...], list[int]] = {}
    alone: list[int] = []  # an adaptive stop's probes need the model: it cannot be replayed from a shared row
    for index, policy in enumerate(policies):
        if policy.adaptive is not None or not shared:
            alone.append(index)
        else:
            groups.setdefault(group_key(policy), []).append(index)
    envelopes = {
        key: engine.compile(envelope_policy([policies[m] for m in members])) for key, members in groups.items()
    }
    stats.groups += len(groups)
    for start in range(0, len(encoded), batch_size):
        indices = list(range(start, min(start + batch_size, len(encoded))))
        batch = SweepBatch(indices)
        for p_index in alone:
            traces = engine.run(requests[p_index].rows(indices), batch_size, extra_processors)
            stats.independent_tokens += sum(len(t.generated_ids) for t in traces)
            batch.traces[p_index] = traces
        for key, members in groups.items():
            _shared_group(
                engine,
                [encoded[i] for i in indices],
                envelopes[key],
                [requests[m].compiled for m in members],
                members,
                sampling,
                extra_processors,
                batch,
                stats,
            )
            for m in members:
                for trace, i in zip(batch.traces[m], indices):
                    trace.prompt = prompts[i] if isinstance(prompts[i], str) else None
        yield batch


def _shared_group(
    engine: HFEngine,
    batch_ids: list[list[int]],
    envelope: CompiledPolicy,
    compiled_policies: list[CompiledPolicy],
    members: list[int],
    sampling: SamplingConfig,
    extra_processors: Sequence[Processor],
    out: SweepBatch,
    stats: SweepStats,
) -> None:
    """Decode the envelope once for this batch, then replay and branch each member (policies compiled once, at the
    request's check)."""
    big_states = [ForcingState(envelope) for _ in batch_ids]
    seeds = [0] * len(batch_ids)
    cache = _decode(engine, batch_ids, big_states, sampling, seeds, extra_processors)
    stats.envelope_tokens += sum(len(s.generated) for s in big_states)
    longest = max(len(ids) for ids in batch_ids)
    for compiled, p_index in zip(compiled_policies, members):
        replays = [replay(compiled, s.generated, s.model_choices) for s in big_states]
        live = [r for r, rep in enumerate(replays) if not rep.complete]
        stats.replayed_complete += len(batch_ids) - len(live)
        if live:
            stats.branches += len(live)
            # Every row must leave the same number of tokens uncached (at least one, to get the next logits).
            uncached = max(1, *(len(replays[r].state.generated) - replays[r].shared for r in live))
            sequences, starts, lengths = [], [], []
            for r in live:
                state = replays[r].state
                sequences.append(batch_ids[r] + state.generated)
                cached = len(batch_ids[r]) + len(state.generated) - uncached
                starts.append(longest - len(batch_ids[r]))  # the row's left padding in the envelope batch
                lengths.append(cached)
            before = [len(replays[r].state.generated) for r in live]
            branch_cache = _gather_cache(cache, live, starts, lengths)
            _decode(
                engine,
                sequences,
                [replays[r].state for r in live],
                sampling,
                [0] * len(live),
                extra_processors,
                branch_cache,
            )
            del branch_cache
            stats.branch_tokens += sum(len(replays[r].state.generated) - b for r, b in zip(live, before))
        out.traces[p_index] = [
            Trace.from_state(rep.state, engine.tokenizer, ids) for rep, ids in zip(replays, batch_ids)
        ]
    del cache


def generate_sweep(
    engine: Engine,
    prompts: Sequence[str | Sequence[int]],
    policies: Sequence[BudgetPolicy],
    sampling: SamplingConfig | None = None,
    batch_size: int = 8,
    extra_processors: Sequence[Processor] = (),
    share_prefix: bool = True,
    stats: SweepStats | None = None,
) -> list[list[Trace]]:
    """All traces at once: ``result[policy_index][prompt_index]``."""
    result: list[list[Trace]] = [[] for _ in policies]
    for batch in iter_sweep(
        engine, prompts, policies, sampling, batch_size, extra_processors, share_prefix, stats=stats
    ):
        for p_index in range(len(policies)):
            result[p_index].extend(batch.traces[p_index])
    return result
