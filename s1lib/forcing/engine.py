"""The one engine contract: every backend (transformers, vLLM, a served endpoint) is an :class:`Engine`.

A backend subclasses :class:`EngineBase`, which owns the public ``generate`` and ``stream``. The one boundary
where a call is checked is :meth:`EngineBase.prepare_many` (and :meth:`~EngineBase.prepare`, its one-policy form):
prompts tokenized once, each policy compiled and fitted to the context, one seed per row, into a :class:`Request`
that every layer below trusts (:meth:`EngineBase.run` decodes one, a sweep runs its rows in batches with
:meth:`Request.rows`); the backend's ``_generate`` / ``_stream`` receive only checked requests.

What the backends share lives here too: the model's choice for a row (:class:`Chooser`, defined with its batched
form in :mod:`s1lib.forcing.sampling`), one row's decision (:func:`decide`), the events a decision streams
(:func:`step_events`) and the end-of-sequence ids (:func:`eos_token_ids`). Callers type against :class:`Engine` and
never ask which backend they hold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch

from s1lib.forcing.adaptive import Probe, ProbeRequest
from s1lib.forcing.policy import BudgetPolicy, CompiledPolicy
from s1lib.forcing.sampling import Chooser
from s1lib.forcing.state import ForcingState, Phase, Step
from s1lib.forcing.trace import Event, SamplingConfig, Trace
from s1lib.text_format import build_prompt

Processor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""A logits processor in transformers' form, ``(input_ids, scores) -> scores``, applied before forcing decides."""

Prompt = str | Sequence[int]


@runtime_checkable
class Engine(Protocol):
    """What every backend offers; see :class:`EngineBase` for the meaning of each part."""

    backend: str
    tokenizer: Any
    eos_token_ids: list[int]
    context_length: int | None
    default_system: str | None
    precision: dict[str, Any] | None

    def prompt_for(
        self, question: str, policy: BudgetPolicy | None = None, system: str | None = None, suffix: str = ""
    ) -> str: ...

    def encode_prompts(self, prompts: Sequence[Prompt]) -> list[list[int]]: ...

    def check_fits(self, policy: BudgetPolicy, longest_prompt: int) -> None: ...

    def prepare_many(
        self,
        prompts: Sequence[Prompt],
        policies: Sequence[BudgetPolicy],
        sampling: SamplingConfig | None = None,
        seeds: Sequence[int] | None = None,
    ) -> list[Request]: ...

    def run(
        self,
        request: Request,
        batch_size: int | None = None,
        extra_processors: Sequence[Processor] = (),
        progress: bool = False,
    ) -> list[Trace]: ...

    def generate(
        self,
        prompts: Sequence[Prompt],
        policy: BudgetPolicy | None = None,
        sampling: SamplingConfig | None = None,
        *,
        batch_size: int | None = None,
        seeds: Sequence[int] | None = None,
        extra_processors: Sequence[Processor] = (),
        progress: bool = False,
    ) -> list[Trace]: ...

    def stream(
        self, prompt: Prompt, policy: BudgetPolicy | None = None, sampling: SamplingConfig | None = None
    ) -> Iterator[Event]: ...

    def stop(self) -> None: ...


@dataclass
class Request:
    """A checked ``generate`` call: prompts as ids, the compiled policy, one seed per row."""

    prompts: Sequence[Prompt]
    policy: BudgetPolicy
    sampling: SamplingConfig
    seeds: list[int]
    prompt_ids: list[list[int]]
    compiled: CompiledPolicy

    def rows(self, indices: Sequence[int]) -> Request:
        """The same checked request for some of its rows (a batch of a sweep): nothing is checked again."""
        pick = list(indices)
        return Request(
            [self.prompts[i] for i in pick], self.policy, self.sampling, [self.seeds[i] for i in pick],
            [self.prompt_ids[i] for i in pick], self.compiled,
        )  # fmt: skip

    def trace(self, index: int, state: ForcingState, tokenizer: Any, stopped: bool = False) -> Trace:
        """Row ``index``'s Trace; a state the backend left unfinished ran out of room (or was stopped)."""
        if not state.done:
            state.stop("stopped" if stopped else "length")
        trace = Trace.from_state(state, tokenizer, self.prompt_ids[index])
        prompt = self.prompts[index]
        trace.prompt = prompt if isinstance(prompt, str) else None
        return trace


class EngineBase:
    """Base of the backends; a subclass sets ``tokenizer``, ``eos_token_ids`` and ``context_length`` and
    implements ``_generate`` (and ``_stream``).

    ``default_system`` is the system line prompts get when none is given: the one the model was trained with when
    its folder records it (``s1_prompt.json``, written by s1lib's trainer), else None (the template's own).
    ``precision`` says what the backend computes in (``{"dtype": ...}``, with how ``auto`` resolved), for run
    metadata; None where the backend does not know (a served endpoint). ``default_batch_size`` is what
    ``generate`` uses when the caller gives none; ``runs_processors`` says whether ``extra_processors`` can run;
    ``runs_probes`` whether it can answer an adaptive stop's probes (``BudgetPolicy.adaptive``);
    ``shares_prefixes`` whether a greedy sweep may decode one row for a group of policies that share its prefix
    (``s1lib.backends.prefix_sharing``: it drives the model directly, so only a backend that holds one can).
    """

    backend: str = "base"
    tokenizer: Any
    eos_token_ids: list[int]
    context_length: int | None = None
    default_system: str | None = None
    precision: dict[str, Any] | None = None
    default_batch_size: int = 8
    runs_processors: bool = True
    runs_probes: bool = False
    shares_prefixes: bool = False
    _stop_requested: bool = False

    def prompt_for(
        self, question: str, policy: BudgetPolicy | None = None, system: str | None = None, suffix: str = ""
    ) -> str:
        """The s1 generation prompt for a question under this tokenizer's chat template."""
        policy = policy or BudgetPolicy()
        system = self.default_system if system is None else system
        return build_prompt(
            self.tokenizer, question, policy.delimiters, system=system, suffix=suffix, think=policy.thinking_phase
        )

    def encode_prompts(self, prompts: Sequence[Prompt]) -> list[list[int]]:
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

    def check_fits(self, policy: BudgetPolicy, longest_prompt: int) -> None:
        """The policy's budgets must fit this model's context after the longest prompt (when the context is
        known); :meth:`prepare_many` asks it of every policy."""
        if self.context_length:
            policy.validate(self.context_length, longest_prompt)

    def prepare_many(
        self,
        prompts: Sequence[Prompt],
        policies: Sequence[BudgetPolicy],
        sampling: SamplingConfig | None = None,
        seeds: Sequence[int] | None = None,
    ) -> list[Request]:
        """The one boundary: every check a call makes before decoding anything, so bad input fails early and alike
        on every backend. Prompts are tokenized once; each policy is compiled and must fit the context after the
        longest prompt; a row's seed is ``sampling.seed + index`` unless ``seeds`` gives one per prompt. One
        :class:`Request` per policy, sharing the prompts' ids."""
        sampling = sampling or SamplingConfig()
        if any(p.adaptive is not None for p in policies) and not self.runs_probes:
            raise NotImplementedError(
                f"the {self.backend} backend cannot run BudgetPolicy.adaptive yet (its probes need a branch of the "
                "context); use the transformers backend"
            )
        if seeds is not None and len(seeds) != len(prompts):
            raise ValueError(f"seeds has {len(seeds)} entries, expected one per prompt ({len(prompts)})")
        row_seeds = [sampling.seed + i for i in range(len(prompts))] if seeds is None else [int(s) for s in seeds]
        encoded = self.encode_prompts(prompts)
        longest = max((len(p) for p in encoded), default=0)
        requests = []
        for policy in policies:
            compiled = self.compile(policy)
            self.check_fits(policy, longest)
            requests.append(Request(prompts, policy, sampling, row_seeds, encoded, compiled))
        return requests

    def prepare(
        self,
        prompts: Sequence[Prompt],
        policy: BudgetPolicy | None = None,
        sampling: SamplingConfig | None = None,
        seeds: Sequence[int] | None = None,
    ) -> Request:
        """:meth:`prepare_many` for one policy (None: the default policy)."""
        return self.prepare_many(prompts, [policy or BudgetPolicy()], sampling, seeds)[0]

    def run(
        self,
        request: Request,
        batch_size: int | None = None,
        extra_processors: Sequence[Processor] = (),
        progress: bool = False,
    ) -> list[Trace]:
        """Decode a checked :class:`Request` (from :meth:`prepare_many`): one Trace per row, nothing checked again
        but how it is run."""
        batch_size = self.default_batch_size if batch_size is None else batch_size
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if extra_processors and not self.runs_processors:
            raise ValueError(f"the {self.backend} backend cannot run extra_processors (they need the logits here)")
        return self._generate(request, batch_size, list(extra_processors), progress)

    def generate(
        self,
        prompts: Sequence[Prompt],
        policy: BudgetPolicy | None = None,
        sampling: SamplingConfig | None = None,
        *,
        batch_size: int | None = None,
        seeds: Sequence[int] | None = None,
        extra_processors: Sequence[Processor] = (),
        progress: bool = False,
    ) -> list[Trace]:
        """One Trace per prompt, in the caller's order (strings are tokenized as is: build them with
        :meth:`prompt_for`). ``seeds`` (one per prompt) overrides each row's sampling seed, so repeated prompts are
        sampled with distinct, reproducible seeds whatever the batch holds; ``batch_size`` is how many rows decode
        together; ``extra_processors`` adjust the logits before forcing decides (tests use them to steer a tiny
        random model); ``progress`` shows a bar."""
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")  # before any tokenizing
        return self.run(self.prepare(prompts, policy, sampling, seeds), batch_size, extra_processors, progress)

    def stream(
        self, prompt: Prompt, policy: BudgetPolicy | None = None, sampling: SamplingConfig | None = None
    ) -> Iterator[Event]:
        """Yield ``token``/``forced``/``phase`` events as one prompt generates, then ``done`` with its Trace; the
        same events on every backend, so the widget runs on any. :meth:`stop` ends it early."""
        request = self.prepare([prompt], policy, sampling)
        self._stop_requested = False
        return self._stream(request)

    def stop(self) -> None:
        """Ask the running :meth:`stream` to stop; the engine stays usable."""
        self._stop_requested = True

    def _generate(
        self, request: Request, batch_size: int, extra_processors: list[Processor], progress: bool
    ) -> list[Trace]:
        raise NotImplementedError

    def _stream(self, request: Request) -> Iterator[Event]:
        raise NotImplementedError


# -- shared by the backends that decide token by token (transformers, vLLM) -----------------------------------------
def eos_token_ids(tokenizer: Any, *configs: Any) -> list[int]:
    """End-of-sequence ids: the tokenizer's plus every ``eos_token_id`` of the given configs (generation config,
    model config), which may hold one id or a list."""
    ids: set[int] = set()
    for source in configs:
        value = getattr(source, "eos_token_id", None) if source is not None else None
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return sorted(ids)


def decide(state: ForcingState, chooser: Chooser, scores: torch.Tensor, greedy_choice: int | None) -> Step | None:
    """One row's next token under its policy, or None when the row is finished (the backend pads it with EOS).

    The model's greedy choice is recorded in ``state.model_choices`` so a sweep can replay the row for other
    policies."""
    if state.done:
        return None
    step = state.next_token(lambda banned: chooser(scores, banned, greedy_choice, state.phase is Phase.THINKING))
    if greedy_choice is not None:
        state.model_choices.append(greedy_choice)
    return step


def step_events(step: Step, text: str, thinking_tokens: int, answer_tokens: int, row: int = 0) -> list[Event]:
    """The stream events of one decided token: ``token`` or ``forced``, then ``phase`` when the phase changed."""
    phase = step.phase.value
    kind = "forced" if step.forced else "token"
    events = [Event(kind, row, text, step.token_id, phase, step.insertion, thinking_tokens, answer_tokens)]
    if step.phase_changed:
        events.append(Event("phase", row, "", None, phase, None, thinking_tokens, answer_tokens))
    return events


def probe_points(
    states: Sequence[ForcingState], choosers: Sequence[Chooser], scores: torch.Tensor, greedy: Sequence[int | None]
) -> list[tuple[int, ProbeRequest]]:
    """The rows at a probe point at this position, with their requests: what a backend probes in one batch and
    hands back through :meth:`ForcingState.record_probe` before :func:`decide`."""
    out = []
    for row, state in enumerate(states):
        if state.done or state.policy.adaptive is None:
            continue
        request = state.probe_request(lambda banned, r=row: choosers[r](scores[r], banned, greedy[r], True))
        if request is not None:
            out.append((row, request))
    return out


def probe_event(probe: Probe, thinking_tokens: int, answer_tokens: int, row: int = 0) -> Event:
    """The stream event of one probe (its text stays in ``probe``: it is not part of the sequence)."""
    return Event("probe", row, "", None, "thinking", None, thinking_tokens, answer_tokens, probe=probe)


def done_event(trace: Trace) -> Event:
    """The last event of a stream, carrying the finished Trace."""
    return Event("done", 0, "", None, "done", None, trace.thinking_tokens, trace.answer_tokens, trace)
