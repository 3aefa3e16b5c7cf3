"""The s1 text format: chat prompt, thinking delimiters, SFT text, and splitting a completion.

The paper's model thinks between ``<|im_start|>think`` and ``<|im_start|>answer`` inside the assistant turn.
Everything here works from the tokenizer's own chat template, so the same code serves ChatML models (Qwen,
SmolLM2) and any other family; the delimiters are named presets or custom strings. LIMO's format (``PLAIN``) has
no delimiters: the chain is the assistant answer itself, so a model trained on it has no end of thinking to force.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

QWEN_SYSTEM_PROMPT = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
"""The reference's default system prompt (Qwen2.5 chat template)."""

LIMO_SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."
"""LIMO's system prompt (GAIR-NLP/LIMO README), in training and evaluation."""

PLAIN = "plain"
"""The ``delimiters`` value of LIMO's text format: the chain inside a plain assistant answer, no think delimiters."""

ANSWER_PREFIX = "Answer: "
"""Prefixed to the attempt in the SFT text unless the attempt already contains ``Answer:``."""

FINAL_ANSWER = "\nFinal Answer:"
"""Forced after the end-of-thinking delimiter when the thinking budget runs out."""


@dataclass(frozen=True)
class Delimiters:
    """Where thinking starts and ends inside the assistant turn."""

    think_start: str
    think_end: str
    name: str = "custom"

    def __post_init__(self) -> None:
        for field_name in ("think_start", "think_end"):
            if not getattr(self, field_name):
                raise ValueError(f"Delimiters.{field_name} must be a non-empty string")


DELIMITER_PRESETS: dict[str, Delimiters] = {
    "s1": Delimiters("<|im_start|>think", "<|im_start|>answer", name="s1"),
    "think-tags": Delimiters("<think>", "</think>", name="think-tags"),
}
"""``s1`` for s1/s1.1 and models trained here; ``think-tags`` for DeepSeek-R1 distills, QwQ and Qwen3."""


def get_delimiters(spec: str | Delimiters | tuple[str, str] | None = "s1") -> Delimiters:
    """Resolve a preset name, a custom ``(think_start, think_end)`` pair, or a Delimiters."""
    if spec is None:
        return DELIMITER_PRESETS["s1"]
    if isinstance(spec, Delimiters):
        return spec
    if isinstance(spec, (tuple, list)):
        if len(spec) != 2:
            raise ValueError(f"delimiters: expected a (think_start, think_end) pair, got {spec!r}")
        return Delimiters(str(spec[0]), str(spec[1]))
    if spec in DELIMITER_PRESETS:
        return DELIMITER_PRESETS[spec]
    if spec == PLAIN:
        raise ValueError(
            "delimiters: 'plain' (LIMO's format) has no end of thinking to force or split at; budget-force such a "
            "model with a delimiter preset it was trained with (train it with delimiters='s1'), or run it unforced"
        )
    raise ValueError(
        f"delimiters: unknown preset {spec!r}; expected one of {sorted(DELIMITER_PRESETS)} "
        "or a (think_start, think_end) pair of custom strings"
    )


_CHATML_FALLBACK = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _messages(question: str, system: str | None) -> list[dict[str, str]]:
    messages = [] if system is None else [{"role": "system", "content": system}]
    messages.append({"role": "user", "content": question})
    return messages


def _render(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
    template = None if getattr(tokenizer, "chat_template", None) else _CHATML_FALLBACK
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=add_generation_prompt, chat_template=template
    )


def chat_prefix(tokenizer: Any, question: str, system: str | None = None) -> str:
    """The rendered chat up to and including the assistant header (the template's generation prompt).

    ``system=None`` keeps the template's own default system line, if it has one.
    """
    return _render(tokenizer, _messages(question, system), add_generation_prompt=True)


def build_prompt(
    tokenizer: Any,
    question: str,
    delimiters: str | Delimiters = "s1",
    system: str | None = None,
    suffix: str = "",
    think: bool = True,
) -> str:
    """The generation prompt: chat up to the assistant turn, then the think-start delimiter (none when ``think``
    is false: an instruction model answering directly).

    ``suffix`` is appended to the question (the baselines' "Think for up to N tokens." prompts).
    """
    delims = get_delimiters(delimiters)
    return chat_prefix(tokenizer, question + suffix, system) + (delims.think_start if think else "")


def assistant_content(thinking: str, attempt: str, delimiters: str | Delimiters = "s1") -> str:
    """The assistant message of one training example, exactly as the reference writes it.

    ``delimiters='plain'`` (LIMO): the chain alone, as LIMO trains (its chains end with their own ``\\boxed{}``
    answer); the attempt follows on a new paragraph only when the chain has no ``\\boxed{`` at all (an s1K trace).
    """
    if delimiters == PLAIN:
        chain, attempt = thinking.strip(), (attempt or "").strip()
        return chain if not attempt or "\\boxed{" in chain else f"{chain}\n\n{attempt}"
    delims = get_delimiters(delimiters)
    answer = attempt if "Answer:" in attempt else ANSWER_PREFIX + attempt
    return f"{delims.think_start}\n{thinking.strip()}\n{delims.think_end}\n{answer}"


@dataclass(frozen=True)
class SFTText:
    """One training example split where the loss starts: ``prompt`` is masked, ``completion`` is learned."""

    prompt: str
    completion: str

    @property
    def text(self) -> str:
        return self.prompt + self.completion


def sft_text(
    tokenizer: Any,
    question: str,
    thinking: str,
    attempt: str,
    delimiters: str | Delimiters = "s1",
    system: str | None = None,
) -> SFTText:
    """The SFT text of a record, split at the start of the assistant content.

    The full text is rendered by the tokenizer's chat template with the assistant message included, so the
    end-of-turn marker (``<|im_end|>\\n`` for ChatML) is the template's own and belongs to the completion.
    """
    if not question or not question.strip():
        raise ValueError("sft_text: the record has an empty question")
    if not thinking or not thinking.strip():
        raise ValueError("sft_text: the record has an empty thinking trace")
    messages = _messages(question, system)
    prompt = _render(tokenizer, messages, add_generation_prompt=True)
    content = assistant_content(thinking, attempt, delimiters)
    full = _render(tokenizer, [*messages, {"role": "assistant", "content": content}], add_generation_prompt=False)
    if not full.startswith(prompt):
        # Some templates render the assistant header differently once content follows; fall back to locating
        # the content, which is unique enough (it starts with the think delimiter).
        start = full.rfind(content)
        if start < 0:
            raise ValueError("sft_text: the chat template does not reproduce the assistant content verbatim")
        return SFTText(full[:start], full[start:])
    return SFTText(prompt, full[len(prompt) :])


def record_sft_text(tokenizer: Any, record: dict[str, Any], **kwargs: Any) -> SFTText:
    """SFT text of an s1K-schema record (``question``, ``thinking_trajectories`` list, ``attempt``)."""
    trajectories = record.get("thinking_trajectories")
    thinking = trajectories[0] if isinstance(trajectories, (list, tuple)) and trajectories else trajectories
    return sft_text(tokenizer, record["question"], thinking or "", record.get("attempt") or "", **kwargs)


@dataclass(frozen=True)
class Completion:
    """A generated completion split at the end-of-thinking delimiter."""

    thinking: str
    answer: str
    ended_thinking: bool


def split_completion(text: str, delimiters: str | Delimiters = "s1") -> Completion:
    """Split generated text (which starts after the think-start delimiter) into thinking and answer.

    The split is at the FIRST end-of-thinking delimiter, the one that ended thinking (the answer extraction reads
    the same segment); with no delimiter the whole text is thinking.
    """
    delims = get_delimiters(delimiters)
    if text.startswith(delims.think_start):
        text = text[len(delims.think_start) :]
    idx = text.find(delims.think_end)
    if idx < 0:
        return Completion(thinking=text.strip(), answer="", ended_thinking=False)
    return Completion(
        thinking=text[:idx].strip(), answer=text[idx + len(delims.think_end) :].strip(), ended_thinking=True
    )


PROMPT_FORMAT_FILE = "s1_prompt.json"
"""Written beside a model trained here: the system line it was trained with, so every engine prompts it the same."""


def save_prompt_format(folder: str | Path, system: str | None, delimiters: str | Delimiters = "s1") -> Path:
    """Record the prompt a model was trained on (``system=None``: the chat template's own default line; ``plain``
    delimiters are recorded as null)."""
    delims = None if delimiters == PLAIN else get_delimiters(delimiters)
    path = Path(folder) / PROMPT_FORMAT_FILE
    record = {
        "system": system,
        "think_start": delims.think_start if delims else None,
        "think_end": delims.think_end if delims else None,
    }
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def load_prompt_format(folder: str | Path | None) -> dict[str, Any]:
    """The recorded prompt of a model folder, or ``{}`` (a hub model, or one not trained here)."""
    if folder is None:
        return {}
    path = Path(folder) / PROMPT_FORMAT_FILE
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f'{path}: not valid JSON ({error.msg}); delete it or write {{"system": ...}}') from None
    if not isinstance(record, dict) or not (record.get("system") is None or isinstance(record["system"], str)):
        raise ValueError(f"{path}: expected an object whose 'system' is a string or null, got {record!r}")
    return record


def encode_delimiter(tokenizer: Any, text: str, field_name: str) -> list[int]:
    """Token ids of a delimiter or forced string; a clear error only if it cannot be encoded at all."""
    ids = list(tokenizer.encode(text, add_special_tokens=False))
    unk = getattr(tokenizer, "unk_token_id", None)
    if not ids or (unk is not None and unk in ids and getattr(tokenizer, "unk_token", None) not in text):
        raise ValueError(f"{field_name}: {text!r} cannot be encoded by this tokenizer (got ids {ids})")
    return ids
