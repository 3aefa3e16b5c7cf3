"""What a backend returns per prompt (``Trace``) and what it streams while generating (``Event``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from s1lib.forcing.adaptive import Probe
from s1lib.forcing.state import FinishReason, ForcedInsertion, ForcingState, InsertionKind, Phase, ThinkingEnd
from s1lib.named import Named


@dataclass
class SamplingConfig:
    """Decoding settings shared by every backend. Temperature 0 is greedy, as in all of the paper's headline results."""

    temperature: float = field(default=0.0, metadata={"help": "0 = greedy; the paper uses greedy decoding."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling mass (sampling only)."})
    top_k: int = field(default=0, metadata={"help": "Keep the k most likely tokens; 0 = off (sampling only)."})
    min_p: float = field(
        default=0.0,
        metadata={
            "help": "Drop tokens whose probability, after temperature, is below min_p × the most likely one's "
            "(sampling only; 0 = off; reasoning models ship settings with it)."
        },
    )
    temperature_thinking: float | None = field(
        default=None,
        metadata={
            "help": "Temperature of the thinking phase (the reference harness's name); None = `temperature` for "
            "both phases, which then covers the answer only."
        },
    )
    seed: int = field(
        default=0,
        metadata={
            "help": "Row i of a call samples with seed + i, so results do not depend on how prompts are batched."
        },
    )

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"SamplingConfig.temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"SamplingConfig.top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"SamplingConfig.top_k must be >= 0, got {self.top_k}")
        if not 0 <= self.min_p < 1:
            raise ValueError(f"SamplingConfig.min_p must be in [0, 1), got {self.min_p}")
        if self.temperature_thinking is not None and not self.temperature_thinking >= 0:
            raise ValueError(
                f"SamplingConfig.temperature_thinking must be >= 0 or None, got {self.temperature_thinking}"
            )

    def temperature_for(self, thinking: bool) -> float:
        """The temperature of a token in the thinking phase (``thinking``) or in the answer."""
        if thinking and self.temperature_thinking is not None:
            return self.temperature_thinking
        return self.temperature

    @property
    def greedy(self) -> bool:
        """Greedy in both phases (a row then needs no generator and takes the model's argmax)."""
        return self.temperature == 0 and not self.temperature_thinking


@dataclass
class Trace:
    """One prompt's generation under a budget policy. Counts come from token ids, never from re-tokenized text."""

    prompt_ids: list[int]
    generated_ids: list[int]
    thinking_text: str
    answer_text: str
    thinking_tokens: int
    answer_tokens: int
    forced: list[ForcedInsertion]
    finish_reason: FinishReason
    thinking_end_reason: ThinkingEnd | None
    thinking_end_position: int | None
    answer_start_position: int | None
    num_suppressed: int
    prompt: str | None = None
    text: str = ""
    policy: dict[str, Any] | None = None
    probes: list[Probe] = field(default_factory=list)
    probe_tokens: int = 0
    """Tokens the adaptive stop's probes decoded on branches of the context: never thinking or answer tokens."""

    @classmethod
    def from_state(
        cls,
        state: ForcingState,
        tokenizer: Any,
        prompt_ids: list[int],
        prompt: str | None = None,
    ) -> Trace:
        generated = list(state.generated)
        eos = state.compiled.eos_token_ids
        body = (
            generated[:-1]
            if generated and generated[-1] in eos and state.finish_reason in ("stop", "length")
            else generated
        )
        end = state.thinking_end_position
        thinking_ids = body if end is None else body[:end]
        answer_ids = [] if state.answer_start_position is None else body[state.answer_start_position :]
        decode = tokenizer.decode
        forced = [
            ForcedInsertion(f.kind, f.position, f.token_ids, decode(list(f.token_ids)) if f.token_ids else "", f.reason)
            for f in state.insertions
        ]
        return cls(
            prompt_ids=list(prompt_ids),
            generated_ids=generated,
            thinking_text=decode(thinking_ids),
            answer_text=decode(answer_ids),
            thinking_tokens=state.thinking_tokens,
            answer_tokens=state.answer_tokens,
            forced=forced,
            finish_reason=state.finish_reason or FinishReason.LENGTH,
            thinking_end_reason=state.thinking_end_reason,
            thinking_end_position=end,
            answer_start_position=state.answer_start_position,
            num_suppressed=state.num_suppressed,
            prompt=prompt,
            text=decode(body),
            policy=state.policy.to_dict(),
            probes=list(state.probes),
            probe_tokens=state.probe_tokens,
        )

    @property
    def num_waits(self) -> int:
        return sum(1 for f in self.forced if f.kind == InsertionKind.WAIT)

    def to_dict(self, include_ids: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "thinking": self.thinking_text,
            "answer": self.answer_text,
            "thinking_tokens": self.thinking_tokens,
            "answer_tokens": self.answer_tokens,
            "forced": [f.to_dict() for f in self.forced],
            "finish_reason": self.finish_reason,
            "thinking_end_reason": self.thinking_end_reason,
            "num_suppressed": self.num_suppressed,
            "generated_tokens": len(self.generated_ids),
            "policy": self.policy,
            "probe_tokens": self.probe_tokens,
            "probes": [p.to_dict() for p in self.probes],
        }
        if include_ids:
            out["prompt_ids"] = self.prompt_ids
            out["generated_ids"] = self.generated_ids
        return out


class EventKind(Named):
    """What a streamed :class:`Event` reports."""

    TOKEN = "token"
    FORCED = "forced"
    PHASE = "phase"
    PROBE = "probe"
    DONE = "done"


@dataclass
class Event:
    """A streaming event. ``kind``: ``token`` (model's own token), ``forced`` (a forced token; ``insertion`` is set
    on the first token of each insertion), ``phase`` (thinking → answer → done), ``probe`` (an adaptive stop's probe
    ran before the next token; ``probe`` is set, and its ``stop`` says thinking ends here) or ``done`` (``trace``
    is set)."""

    kind: EventKind
    row: int
    text: str = ""
    token_id: int | None = None
    phase: Phase = Phase.THINKING
    insertion: ForcedInsertion | None = None
    thinking_tokens: int = 0
    answer_tokens: int = 0
    trace: Trace | None = None
    probe: Probe | None = None

    def __post_init__(self) -> None:
        self.kind = EventKind(self.kind)  # a backend may pass the string; a misspelt one is a ValueError here
        self.phase = Phase(self.phase)


class IncrementalDetokenizer:
    """Turns a growing id list into text deltas without re-decoding everything (vLLM's offsets scheme)."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.prefix_offset = 0
        self.read_offset = 0

    def push(self, token_id: int) -> str:
        self.ids.append(int(token_id))
        prefix = self.tokenizer.decode(self.ids[self.prefix_offset : self.read_offset])
        full = self.tokenizer.decode(self.ids[self.prefix_offset :])
        if len(full) > len(prefix) and not full.endswith("\ufffd"):
            self.prefix_offset, self.read_offset = self.read_offset, len(self.ids)
            return full[len(prefix) :]
        return ""


_MARK = {"wait": "⟦WAIT⟧", "end": "⟦END⟧", "final_answer": "⟦FINAL ANSWER⟧"}
_COLOR = {"wait": "\033[1;33m", "end": "\033[1;35m", "final_answer": "\033[1;36m"}


def render_marked(trace: Trace, tokenizer: Any, color: bool = False) -> str:
    """The generated text with a visible marker before every forced insertion (``⟦WAIT⟧`` where an end of
    thinking was suppressed, ``⟦END⟧`` where the delimiter was forced, ``⟦FINAL ANSWER⟧`` where the cap forced the
    answer prefix); ``color`` adds terminal colours."""
    by_position: dict[int, list[str]] = {}
    for insertion in trace.forced:
        by_position.setdefault(insertion.position, []).append(insertion.kind)
    pieces: list[str] = []
    ids = trace.generated_ids
    cursor = 0
    for position in sorted(by_position):
        pieces.append(tokenizer.decode(ids[cursor:position]))
        for kind in by_position[position]:
            mark = _MARK.get(kind, kind)
            pieces.append(f"{_COLOR[kind]}{mark}\033[0m" if color and kind in _COLOR else mark)
        cursor = position
    pieces.append(tokenizer.decode(ids[cursor:], skip_special_tokens=False))
    return "".join(pieces).replace("<|im_end|>", "")
