"""What travels with a forced vLLM request, and the checks made when vLLM admits it.

A request made by s1lib's engine carries its compiled policy as plain data in ``SamplingParams.extra_args``
(:func:`request_config`), so the engine process needs no tokenizer; a request served by ``s1 serve`` carries
``BudgetPolicy`` fields in ``vllm_xargs`` (:func:`served_policy`). :func:`validate_forcing_params` runs in vLLM's
front end before a request is queued: whatever it refuses is an HTTP 400 naming the field, never an error inside
the engine. The state records and snapshots here let a state cross processes and roll a discarded decision back.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import uuid
from collections import deque
from typing import Any

from s1lib.forcing.policy import BudgetPolicy, CompiledPolicy
from s1lib.forcing.state import (
    FinishReason,
    ForcedInsertion,
    ForcingState,
    InsertionKind,
    InsertionReason,
    Phase,
    ThinkingEnd,
)
from s1lib.forcing.trace import SamplingConfig
from s1lib.text_format import get_delimiters

EXTRA_KEY = "s1_forcing"

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
"""The key a served request gets at admission. It names a family, not one sequence: the ``n`` children of a request
(vLLM copies the parent's params shallowly) and every prompt that reuses one ``SamplingParams`` share it, so the
processor keeps one state per sequence within it (see :mod:`s1lib.backends.vllm_processor`)."""


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


SERVED_SAMPLING = {"temperature_thinking": (0.0, None), "top_p": (0.0, 1.0), "top_k": (0, None), "min_p": (0.0, 1.0)}
"""Sampling a served request may carry in ``vllm_xargs`` beside its policy (name: bounds). ``temperature_thinking``
is the thinking phase's temperature (the request's own ``temperature`` then covers the answer); ``top_p``,
``top_k`` and ``min_p`` there win over the request's, which vLLM resets when the answer is greedy
(``temperature=0``) although the thinking samples."""


def served_sampling(extra_args: dict[str, Any] | None) -> dict[str, Any]:
    """The sampling fields of a served request's ``vllm_xargs``; a bad value raises ``ValueError`` (HTTP 400)."""
    out: dict[str, Any] = {}
    for name, (low, high) in SERVED_SAMPLING.items():
        value = (extra_args or {}).get(name)
        if value is None:
            continue
        ok = not isinstance(value, bool) and isinstance(value, (int, float)) and value >= low
        if not ok or (high is not None and value > high):
            bound = f">= {low}" if high is None else f"in [{low}, {high}]"
            raise ValueError(f"s1 forcing, vllm_xargs: {name} must be a number {bound}, got {value!r}")
        out[name] = int(value) if name == "top_k" else float(value)
    return out


def served_seed(extra_args: dict[str, Any] | None, prompt_ids: list[int], index: int, seed: int | None) -> int:
    """The seed of a served sequence: the request's own ``seed`` where it has one (vLLM gives each of ``n`` seeded
    children ``seed + index`` already), else a digest of what every tensor-parallel rank shares.

    Each rank runs its own processor and feeds its own sample to its next forward pass, so a seed drawn per process
    (the OS, or Python's ``hash``, salted per process) makes ranks diverge silently. What is shared: the request's
    family key (:data:`SERVED_KEY`, set once in the front end and sent to every rank; a digest of the prompt where
    a request came without one) and the sequence's ``index`` in its family (ranks see the same requests in the
    same order), so the ``n`` children of one request differ from each other and agree across ranks."""
    if seed is not None:
        return int(seed)
    family = (extra_args or {}).get(SERVED_KEY) or "prompt:" + ",".join(map(str, prompt_ids))
    digest = hashlib.blake2b(f"{family}\x00{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1  # 63 bits, as a torch seed takes them


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
        "sampling": {
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "top_k": sampling.top_k,
            "min_p": sampling.min_p,
            "temperature_thinking": sampling.temperature_thinking,
        },
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
    ):
        setattr(state, name, record[name])
    state.finish_reason = None if record["finish_reason"] is None else FinishReason(record["finish_reason"])
    reason = record["thinking_end_reason"]
    state.thinking_end_reason = None if reason is None else ThinkingEnd(reason)
    state.insertions = [
        ForcedInsertion(InsertionKind(k), p, tuple(ids), reason=InsertionReason(r))
        for k, p, ids, r in record["insertions"]
    ]
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


# -- admission ----------------------------------------------------------------------------------------------------
def validate_forcing_params(sampling_params: Any) -> None:
    """The check both runners' processors make at request admission (so a bad request fails, not the batch).

    A forced request may not also ask for what would override a forced token after the processor chose it: a
    grammar (structured outputs) masks logits the processor has set, and vLLM's own ``thinking_token_budget``
    runs after custom processors and wins. Either is refused here, naming the clash."""
    extra_args = sampling_params.extra_args or {}
    config = extra_args.get(EXTRA_KEY)
    served = served_policy(extra_args) if config is None else None
    if config is None and served is None:
        if "temperature_thinking" in extra_args:
            raise ValueError(
                "s1 forcing, vllm_xargs: temperature_thinking needs a budget-forcing policy in the same vllm_xargs "
                "(the thinking phase is the policy's)"
            )
        return
    served_sampling(extra_args)
    clashes = []
    if getattr(sampling_params, "structured_outputs", None) is not None:
        clashes.append("a grammar or structured output (response_format, structured_outputs), whose mask overrides")
    if getattr(sampling_params, "thinking_token_budget", None) is not None:
        clashes.append("vLLM's own thinking_token_budget, which runs after s1 forcing and overrides")
    if clashes:
        raise ValueError(
            "s1 forcing: a request with a budget-forcing policy cannot also use "
            + " and ".join(clashes)
            + " the forced tokens; put the cap in max_thinking_tokens and drop the other"
        )
    if config is None:
        if SERVED_KEY not in extra_args:
            sampling_params.extra_args[SERVED_KEY] = uuid.uuid4().hex  # the family key, once per admitted request
        return
    if not isinstance(config, dict) or not {"key", "policy", "ids", "sampling", "seed"} <= set(config):
        raise ValueError(
            f"extra_args[{EXTRA_KEY!r}] must be a dict made by s1lib.backends.vllm_processor.request_config"
        )
    compiled_from_config(config)
    if sampling_params.temperature != 0:
        raise ValueError(
            f"requests with extra_args[{EXTRA_KEY!r}] must use temperature=0 in vLLM: "
            "the forcing processor samples by itself (put the temperature in the config)"
        )


def served_xargs(policy: BudgetPolicy) -> dict[str, Any]:
    """A policy as ``s1 serve`` reads it from ``vllm_xargs`` (JSON values only; every field sent, so the request
    is forced even with the defaults)."""
    values = policy.to_dict()
    xargs: dict[str, Any] = {}
    for name in SERVED_FIELDS:
        value = values.get(name)
        if name == "ignore_strings" and value is None:
            value = "none"
        elif name == "delimiters" and isinstance(value, tuple):
            value = list(value)
        if value is not None:
            xargs[name] = value
    return xargs
