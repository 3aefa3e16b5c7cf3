"""A budget policy: what budget forcing does, declared once (:class:`BudgetPolicy`, the paper's defaults, help per
field) and compiled against a tokenizer into token ids (:class:`CompiledPolicy`). The state machine that carries it
out, one row at a time, is :mod:`s1lib.forcing.state`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from s1lib.answers import extract_answer
from s1lib.forcing.adaptive import AdaptiveStop, StopStrategy, answer_closed
from s1lib.text_format import FINAL_ANSWER, Delimiters, encode_delimiter, get_delimiters


@dataclass
class BudgetPolicy:
    """How much a model may think. Defaults reproduce plain s1 decoding with no forcing."""

    max_thinking_tokens: int | None = field(
        default=None,
        metadata={
            "help": "Cap on thinking tokens (counted across all Wait rounds). At the cap the end-of-thinking "
            "delimiter and the answer prefix are forced. None = no cap (bounded by the context)."
        },
    )
    min_thinking_tokens: int = field(
        default=0,
        metadata={"help": "Suppress every end-of-thinking attempt until this many thinking tokens exist."},
    )
    num_ignore: int = field(
        default=0,
        metadata={
            "help": "Suppress the end of thinking this many times, appending the ignore string each time "
            "(the paper's extrapolation: 1, 2, 4, 6)."
        },
    )
    ignore_strings: str | list[str] | None = field(
        default="Wait",
        metadata={
            "help": "String appended when an end is suppressed; a list is cycled through (e.g. Wait, Hmm, "
            "Alternatively); None or '' suppresses without appending anything."
        },
    )
    max_answer_tokens: int | None = field(
        default=None,
        metadata={"help": "Cap on answer-phase tokens (after the delimiter). None = until end of sequence."},
    )
    answer_prefix: str = field(
        default=FINAL_ANSWER,
        metadata={"help": "Forced after the delimiter when the cap ends thinking (the paper: '\\nFinal Answer:')."},
    )
    delimiters: str | Delimiters | tuple[str, str] = field(
        default="s1",
        metadata={
            "help": "Thinking delimiters: preset 's1' (<|im_start|>think / <|im_start|>answer), "
            "'think-tags' (<think> / </think>), or a (start, end) pair."
        },
    )
    thinking_phase: bool = field(
        default=True,
        metadata={
            "help": "False: no thinking phase. The prompt is the plain chat prompt and the model answers at once "
            "(instruction models, e.g. the reference's Qwen2.5-Instruct difficulty attempts); thinking limits "
            "must then be unset."
        },
    )

    adaptive: AdaptiveStop | None = field(
        default=None,
        metadata={
            "help": "Stop thinking early when probes on a branch of the context say the answer is ready "
            "(AdaptiveStop: probe_consistency or answer_confidence); a stop ends thinking like the cap. "
            "None = fixed budgets only."
        },
    )

    def __post_init__(self) -> None:
        if isinstance(self.adaptive, dict):  # from to_dict() (a sweep file, a vLLM request's config)
            self.adaptive = AdaptiveStop(**self.adaptive)
        self.validate()

    def ignore_list(self) -> list[str]:
        if self.ignore_strings is None:
            return []
        if isinstance(self.ignore_strings, str):
            return [self.ignore_strings] if self.ignore_strings else []
        return [s for s in self.ignore_strings]

    def validate(self, context_length: int | None = None, prompt_length: int = 0) -> None:
        """Raise ``ValueError`` naming the field for any invalid setting."""
        for name in ("max_thinking_tokens", "max_answer_tokens"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ValueError(f"BudgetPolicy.{name} must be a non-negative integer or None, got {value!r}")
        for name in ("min_thinking_tokens", "num_ignore"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"BudgetPolicy.{name} must be a non-negative integer, got {value!r}")
        if self.max_thinking_tokens is not None and self.min_thinking_tokens > self.max_thinking_tokens:
            raise ValueError(
                f"BudgetPolicy.min_thinking_tokens ({self.min_thinking_tokens}) is larger than "
                f"max_thinking_tokens ({self.max_thinking_tokens})"
            )
        if not isinstance(self.ignore_strings, (str, list, tuple, type(None))):
            raise ValueError(
                f"BudgetPolicy.ignore_strings must be a string, a list of strings or None, "
                f"got {type(self.ignore_strings).__name__}"
            )
        if isinstance(self.ignore_strings, (list, tuple)):
            if self.num_ignore > 0 and not self.ignore_strings:
                raise ValueError(
                    "BudgetPolicy.ignore_strings is an empty list but num_ignore > 0; "
                    "use None to suppress without a string"
                )
            if not all(isinstance(s, str) and s for s in self.ignore_strings):
                raise ValueError(
                    f"BudgetPolicy.ignore_strings must hold non-empty strings, got {self.ignore_strings!r}"
                )
        get_delimiters(self.delimiters)
        if not isinstance(self.thinking_phase, bool):
            raise ValueError(f"BudgetPolicy.thinking_phase must be true or false, got {self.thinking_phase!r}")
        if not self.thinking_phase:
            forcing = {
                "max_thinking_tokens": self.max_thinking_tokens is not None,
                "min_thinking_tokens": self.min_thinking_tokens > 0,
                "num_ignore": self.num_ignore > 0,
            }
            for name, is_set in forcing.items():
                if is_set:
                    raise ValueError(f"BudgetPolicy.{name} needs a thinking phase, but thinking_phase is false")
        self._validate_adaptive()
        if context_length is not None:
            if self.max_thinking_tokens is not None and prompt_length + self.max_thinking_tokens >= context_length:
                raise ValueError(
                    f"BudgetPolicy.max_thinking_tokens ({self.max_thinking_tokens}) plus the prompt "
                    f"({prompt_length} tokens) does not fit the model's context of {context_length} tokens"
                )
            if self.min_thinking_tokens and prompt_length + self.min_thinking_tokens >= context_length:
                raise ValueError(
                    f"BudgetPolicy.min_thinking_tokens ({self.min_thinking_tokens}) plus the prompt "
                    f"({prompt_length} tokens) does not fit the model's context of {context_length} tokens"
                )

    def _validate_adaptive(self) -> None:
        if self.adaptive is None:
            return
        if not isinstance(self.adaptive, AdaptiveStop):
            raise ValueError(f"BudgetPolicy.adaptive must be an AdaptiveStop, a dict or None, got {self.adaptive!r}")
        self.adaptive.validate()
        if not self.thinking_phase:
            raise ValueError("BudgetPolicy.adaptive needs a thinking phase, but thinking_phase is false")
        rule = self.adaptive
        if rule.strategy == StopStrategy.ANSWER_CONFIDENCE and self.num_ignore == 0 and not rule.probe_transitions:
            raise ValueError(
                "BudgetPolicy.adaptive.strategy answer_confidence probes at suppressed end attempts, "
                "so it needs num_ignore > 0 (or probe_transitions, to probe at the model's own Waits)"
            )
        if rule.strategy == StopStrategy.ANSWER_CONFIDENCE and rule.probe_transitions and not self.ignore_list():
            raise ValueError(
                "BudgetPolicy.adaptive.probe_transitions probes where the model starts an ignore string, "
                "but ignore_strings is empty"
            )

    def replace(self, **changes: Any) -> BudgetPolicy:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return BudgetPolicy(**values)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        delims = get_delimiters(self.delimiters)
        out["delimiters"] = delims.name if delims.name != "custom" else [delims.think_start, delims.think_end]
        out["adaptive"] = None if self.adaptive is None else self.adaptive.to_dict()
        return out

    def label(self) -> str:
        """A short human-readable name, for tables and figure legends."""
        if not self.thinking_phase:
            return "no thinking"
        parts = []
        if self.max_thinking_tokens is not None:
            parts.append(f"cap={self.max_thinking_tokens}")
        if self.num_ignore:
            parts.append(f"wait×{self.num_ignore}")
        if self.min_thinking_tokens:
            parts.append(f"min={self.min_thinking_tokens}")
        if (self.num_ignore or self.min_thinking_tokens) and self.ignore_list() != ["Wait"]:
            parts.append("ignore=" + ("/".join(self.ignore_list()) or "none"))
        if self.adaptive is not None:
            parts.append(self.adaptive.label())
        return " ".join(parts) or "no forcing"

    def compile(
        self,
        tokenizer: Any,
        eos_token_ids: Iterable[int] | None = None,
        extract: Callable[[str], str | None] | None = None,
    ) -> CompiledPolicy:
        """Resolve every string to token ids with this tokenizer. ``extract`` reads a probe's answer from its text
        (the delimiter, the answer prefix, the answer tokens): the evaluation's extractor unless given."""
        delims = get_delimiters(self.delimiters)
        eos = set(eos_token_ids or [])
        if not eos and getattr(tokenizer, "eos_token_id", None) is not None:
            eos = {int(tokenizer.eos_token_id)}
        if not eos:
            raise ValueError("The tokenizer has no eos_token_id; pass eos_token_ids explicitly")
        return CompiledPolicy(
            policy=self,
            delimiters=delims,
            think_start_ids=encode_delimiter(tokenizer, delims.think_start, "delimiters.think_start"),
            think_end_ids=encode_delimiter(tokenizer, delims.think_end, "delimiters.think_end"),
            answer_prefix_ids=(
                encode_delimiter(tokenizer, self.answer_prefix, "answer_prefix") if self.answer_prefix else []
            ),
            ignore_ids=[encode_delimiter(tokenizer, s, "ignore_strings") for s in self.ignore_list()],
            eos_token_ids=frozenset(int(t) for t in eos),
            decode=tokenizer.decode,
            extract=extract or (lambda text: extract_answer(text, delims)),
            probe_opening_ids=(
                encode_delimiter(tokenizer, self.adaptive.probe_opening, "adaptive.probe_opening")
                if self.adaptive is not None and self.adaptive.probe_opening
                else []
            ),
        )


@dataclass(frozen=True)
class CompiledPolicy:
    """A policy with every string resolved to token ids for one tokenizer."""

    policy: BudgetPolicy
    delimiters: Delimiters
    think_start_ids: list[int]
    think_end_ids: list[int]
    answer_prefix_ids: list[int]
    ignore_ids: list[list[int]]
    eos_token_ids: frozenset[int]
    decode: Callable[[list[int]], str] | None = field(default=None, compare=False, repr=False)
    """Ids to text (probes need their text to extract an answer)."""
    extract: Callable[[str], str | None] | None = field(default=None, compare=False, repr=False)
    """A probe's answer from its text."""
    probe_opening_ids: list[int] = field(default_factory=list)
    """The adaptive rule's probe opening (forced in probes only)."""

    @property
    def probe_prefix_ids(self) -> tuple[int, ...]:
        """What every probe is forced to begin with: the end delimiter and the answer prefix (as at the cap), then
        the rule's probe opening."""
        return (*self.think_end_ids, *self.answer_prefix_ids, *self.probe_opening_ids)

    def probe_complete(self, answer_ids: Sequence[int]) -> bool:
        """Whether a probe's answer ids (after its prefix) close its answer (:func:`answer_closed`)."""
        if self.decode is None:
            return False
        return answer_closed(self.decode([*self.probe_opening_ids, *answer_ids]))

    @property
    def transition_ids(self) -> frozenset[int]:
        """First tokens of the ignore strings: where the model itself starts a "Wait" (DEER's transition points)."""
        return frozenset(ids[0] for ids in self.ignore_ids if ids)

    @property
    def end_attempt_ids(self) -> frozenset[int]:
        """Tokens whose choice during thinking means "stop thinking"."""
        return frozenset({self.think_end_ids[0], *self.eos_token_ids})

    def max_new_tokens(self) -> int | None:
        """An upper bound on generated tokens, or None when a phase is unbounded."""
        p = self.policy
        if not p.thinking_phase:
            return None if p.max_answer_tokens is None else p.max_answer_tokens + 1
        if p.max_thinking_tokens is None or p.max_answer_tokens is None:
            return None
        # Thinking is capped, then the delimiter and prefix, then the answer, then one end-of-sequence token.
        return p.max_thinking_tokens + len(self.think_end_ids) + len(self.answer_prefix_ids) + p.max_answer_tokens + 1
