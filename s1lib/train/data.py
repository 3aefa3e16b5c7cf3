"""s1K-schema records -> tokenized training examples whose labels cover only the assistant turn.

We build ``input_ids`` and ``labels`` ourselves (labels = -100 on the prompt) instead of relying on TRL's
``assistant_only_loss``, which needs ``{% generation %}`` markers that SmolLM2's template (and many others) lack.
TRL uses a dataset that already has ``labels`` as is. Every bad record is reported by source, row and field before
a model is loaded; over-long examples are counted and truncated, dropped, or refused as configured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from s1lib.tables import EmptyTableError, TableError, read_rows
from s1lib.text_format import sft_text

IGNORE_INDEX = -100
PAD_CANDIDATES = ("<|fim_pad|>", "<|endoftext|>", "<|pad|>", "<pad>")
"""Never-used tokens tried as pad, in order (``<|fim_pad|>`` as in the reference for Qwen, id 0 for SmolLM2)."""
ADDED_PAD_TOKEN = "<|pad|>"
MAX_LISTED_ERRORS = 10


class DataError(ValueError):
    """Training data that cannot be used, with the source, row and field named."""


# --------------------------------------------------------------------------------------------------- loading
def load_records(source: str, split: str = "train", toy_examples: int = 64, seed: int = 42) -> list[dict[str, Any]]:
    """Records from a table (``s1lib.tables``: a file, a ``datasets`` folder or a hub id) or ``toy`` (``s1lib.toy``)."""
    if source == "toy":
        from s1lib.toy import toy_records  # numpy and the toy task only when asked for

        return toy_records(toy_examples, seed=seed)
    try:
        return read_rows(source, split=split)
    except EmptyTableError as exc:
        raise DataError(f"{exc.file}: no records (an empty training set)") from exc
    except (TableError, FileNotFoundError) as exc:
        raise DataError(f"training data: {exc}") from exc


# ------------------------------------------------------------------------------------------------ validation
@dataclass(frozen=True)
class Fields:
    """Which columns hold the question, the thinking trace and the answer (s1K or s1.1 names)."""

    question: str = "question"
    thinking: str = "thinking_trajectories"
    attempt: str = "attempt"


def thinking_text(value: Any) -> str | None:
    """The trace as a string: s1K stores a list with one string, s1.1 a plain string."""
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            return None
        value = value[0]
    return value if isinstance(value, str) else None


def _problem(record: dict[str, Any], fields: Fields) -> str | None:
    for name, getter in ((fields.question, None), (fields.thinking, thinking_text), (fields.attempt, None)):
        value = record.get(name)
        text = getter(value) if getter else value
        if not isinstance(text, str) or not text.strip():
            if name not in record:
                return f"field {name!r} is missing"
            shape = "a non-empty string or a list with one string" if getter else "a non-empty string"
            return f"field {name!r} is {_describe(value)}; expected {shape}"
    return None


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return "an empty string"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} items" if len(value) != 1 else f"a list holding {type(value[0]).__name__}"
    return f"a {type(value).__name__}"


def validate_records(records: Sequence[dict[str, Any]], fields: Fields, origin: str) -> None:
    """Raise one DataError listing every unusable record (row numbers from 0) before training starts."""
    if not records:
        raise DataError(f"{origin}: no records (an empty training set)")
    columns = set().union(*(r.keys() for r in records[:100]))
    missing = [name for name in (fields.question, fields.thinking, fields.attempt) if name not in columns]
    if missing:
        raise DataError(
            f"{origin}: column(s) {missing} not found; columns are {sorted(columns)}. "
            "Set TrainConfig.question_field / thinking_field / attempt_field (s1.1: "
            "thinking_field='deepseek_thinking_trajectory', attempt_field='deepseek_attempt')."
        )
    problems = [(i, p) for i, r in enumerate(records) if (p := _problem(r, fields))]
    if problems:
        listed = "; ".join(f"row {i}: {p}" for i, p in problems[:MAX_LISTED_ERRORS])
        more = f" (and {len(problems) - MAX_LISTED_ERRORS} more)" if len(problems) > MAX_LISTED_ERRORS else ""
        raise DataError(f"{origin}: {len(problems)} unusable record(s): {listed}{more}")


# ------------------------------------------------------------------------------------------------- pad token
def choose_pad_token(tokenizer: Any, preferred: str | None = None) -> tuple[str, bool]:
    """Pick a pad token that is never the end-of-turn/EOS token; return ``(token, added)``.

    With ``<|im_end|>`` as pad (SmolLM2's default) a collator that masks by pad id would drop the very token
    that teaches the model to stop. ``added`` means a new token was added and the embeddings must grow.
    """
    vocab = tokenizer.get_vocab()
    forbidden = {t for t in (tokenizer.eos_token, "<|im_end|>", "<|im_start|>", tokenizer.bos_token) if t}
    if preferred is not None:
        if preferred in forbidden:
            raise ValueError(
                f"TrainConfig.pad_token: {preferred!r} is an end-of-turn/start token; pick a never-used one"
            )
        if preferred not in vocab:
            raise ValueError(f"TrainConfig.pad_token: {preferred!r} is not in the tokenizer's vocabulary")
        return preferred, False
    current = tokenizer.pad_token
    for candidate in (PAD_CANDIDATES[0], current, *PAD_CANDIDATES[1:]):
        if candidate and candidate in vocab and candidate not in forbidden:
            return candidate, False
    tokenizer.add_special_tokens({"pad_token": ADDED_PAD_TOKEN})
    return ADDED_PAD_TOKEN, True


# --------------------------------------------------------------------------------------------------- encoding
@dataclass
class LengthReport:
    """What happened to each record on its way to a training example."""

    records: int = 0
    examples: int = 0
    block_size: int = 0
    overlong: int = 0
    truncated: int = 0
    dropped: int = 0
    overlong_rows: list[int] = field(default_factory=list)
    tokens: int = 0
    loss_tokens: int = 0
    max_length: int = 0
    mean_length: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        text = (
            f"{self.examples}/{self.records} examples, {self.tokens} tokens ({self.loss_tokens} in the loss), "
            f"mean {self.mean_length:.0f}, max {self.max_length}; block_size {self.block_size}: "
            f"{self.overlong} over-long"
        )
        if self.overlong:
            text += f" ({self.truncated} truncated, {self.dropped} dropped; rows {self.overlong_rows[:10]})"
        return text


def encode_example(
    tokenizer: Any, question: str, thinking: str, attempt: str, delimiters: str = "s1", system: str | None = None
) -> dict[str, list[int]]:
    """``input_ids`` of prompt + completion and ``labels`` equal to them on the completion only.

    The completion is the assistant content plus the template's own end of turn (``<|im_end|>\\n``), so the
    loss teaches the model to close its answer.
    """
    text = sft_text(tokenizer, question, thinking, attempt, delimiters=delimiters, system=system)
    prompt_ids = tokenizer(text.prompt, add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(text.completion, add_special_tokens=False)["input_ids"]
    return {
        "input_ids": prompt_ids + completion_ids,
        "labels": [IGNORE_INDEX] * len(prompt_ids) + list(completion_ids),
    }


def build_examples(
    records: Sequence[dict[str, Any]],
    tokenizer: Any,
    fields: Fields,
    block_size: int,
    overlong: str = "truncate",
    delimiters: str = "s1",
    system: str | None = None,
    origin: str = "data",
) -> tuple[list[dict[str, list[int]]], LengthReport]:
    """Validate and encode every record; apply the over-long policy and report it."""
    validate_records(records, fields, origin)
    report = LengthReport(records=len(records), block_size=block_size)
    examples = []
    for row, record in enumerate(records):
        example = encode_example(
            tokenizer,
            record[fields.question],
            thinking_text(record[fields.thinking]) or "",
            record[fields.attempt],
            delimiters=delimiters,
            system=system,
        )
        n = len(example["input_ids"])
        if n > block_size:
            report.overlong += 1
            report.overlong_rows.append(row)
            prompt_len = example["labels"].count(IGNORE_INDEX)
            if overlong == "error":
                raise DataError(
                    f"{origin} row {row}: {n} tokens exceed block_size={block_size} "
                    "(set TrainConfig.overlong to 'truncate' or 'drop', or raise block_size)"
                )
            if overlong == "drop" or prompt_len >= block_size:
                report.dropped += 1  # a prompt alone filling the block leaves nothing to learn
                continue
            example = {k: v[:block_size] for k, v in example.items()}
            report.truncated += 1
        examples.append(example)
    if not examples:
        raise DataError(f"{origin}: every record was dropped as over-long (block_size={block_size})")
    lengths = [len(e["input_ids"]) for e in examples]
    report.examples = len(examples)
    report.tokens = sum(lengths)
    report.loss_tokens = sum(sum(1 for t in e["labels"] if t != IGNORE_INDEX) for e in examples)
    report.max_length = max(lengths)
    report.mean_length = report.tokens / len(lengths)
    return examples, report


def to_dataset(examples: Sequence[dict[str, list[int]]]) -> Any:
    """A ``datasets.Dataset`` with ``input_ids``, ``labels`` and ``length`` (for length-grouped sampling)."""
    from datasets import Dataset

    return Dataset.from_dict(
        {
            "input_ids": [e["input_ids"] for e in examples],
            "labels": [e["labels"] for e in examples],
            "length": [len(e["input_ids"]) for e in examples],
        }
    )
