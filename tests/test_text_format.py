"""The s1 text format: prompts, SFT text exactly as the spec writes it, delimiter presets, splitting."""

from __future__ import annotations

import copy

import pytest

from s1lib.text_format import (
    QWEN_SYSTEM_PROMPT,
    Delimiters,
    build_prompt,
    encode_delimiter,
    get_delimiters,
    record_sft_text,
    sft_text,
    split_completion,
)


def test_prompt_ends_with_think_delimiter(smollm_tokenizer):
    prompt = build_prompt(smollm_tokenizer, "How many r in raspberry?")
    assert prompt.endswith(
        "<|im_start|>user\nHow many r in raspberry?<|im_end|>\n<|im_start|>assistant\n<|im_start|>think"
    )
    assert prompt.startswith("<|im_start|>system\n")  # the template's own default system line


def test_sft_text_matches_the_spec_exactly(smollm_tokenizer):
    text = sft_text(
        smollm_tokenizer, "What is 2+2?", "2 plus 2 is 4.\nWait, yes.", "\\boxed{4}", system=QWEN_SYSTEM_PROMPT
    )
    expected = (
        f"<|im_start|>system\n{QWEN_SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
        "<|im_start|>assistant\n<|im_start|>think\n2 plus 2 is 4.\nWait, yes.\n<|im_start|>answer\n"
        "Answer: \\boxed{4}<|im_end|>\n"
    )
    assert text.text == expected
    assert text.prompt.endswith("<|im_start|>assistant\n")
    assert text.completion.startswith("<|im_start|>think\n") and text.completion.endswith("<|im_end|>\n")


def test_answer_prefix_only_when_missing(smollm_tokenizer):
    text = sft_text(smollm_tokenizer, "q", "t", "Answer: 5")
    assert "Answer: Answer:" not in text.text and "answer\nAnswer: 5<|im_end|>" in text.text


def test_record_sft_text_reads_s1k_schema(smollm_tokenizer):
    record = {"question": "q?", "thinking_trajectories": ["think hard"], "attempt": "42"}
    assert (
        "<|im_start|>think\nthink hard\n<|im_start|>answer\nAnswer: 42"
        in record_sft_text(smollm_tokenizer, record).text
    )
    with pytest.raises(ValueError, match="empty thinking"):
        record_sft_text(smollm_tokenizer, {"question": "q", "thinking_trajectories": [], "attempt": "1"})


LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}"
    "<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


def test_any_chat_template(smollm_tokenizer):
    tok = copy.deepcopy(smollm_tokenizer)
    tok.chat_template = LLAMA3_TEMPLATE
    prompt = build_prompt(tok, "Q", "think-tags")
    assert prompt.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n<think>")
    text = sft_text(tok, "Q", "T", "A", delimiters="think-tags")
    assert text.completion == "<think>\nT\n</think>\nAnswer: A<|eot_id|>"
    tok.chat_template = None
    assert build_prompt(tok, "Q").endswith("<|im_start|>assistant\n<|im_start|>think")  # ChatML fallback


def test_delimiter_presets_and_custom():
    assert get_delimiters("s1") == Delimiters("<|im_start|>think", "<|im_start|>answer", "s1")
    assert get_delimiters("think-tags").think_end == "</think>"
    assert get_delimiters(("<r>", "</r>")).think_start == "<r>"
    with pytest.raises(ValueError, match="unknown preset"):
        get_delimiters("r1")
    with pytest.raises(ValueError, match="think_end"):
        Delimiters("<a>", "")


@pytest.mark.parametrize(
    ("text", "thinking", "answer", "ended"),
    [
        ("\nlet me see\n<|im_start|>answer\nAnswer: 4", "let me see", "Answer: 4", True),
        ("\nno end yet", "no end yet", "", False),
        ("a<|im_start|>answer\nx<|im_start|>answer\ny", "a", "x<|im_start|>answer\ny", True),  # the first ends it
    ],
)
def test_split_completion(text, thinking, answer, ended):
    out = split_completion(text)
    assert (out.thinking, out.answer, out.ended_thinking) == (thinking, answer, ended)


def test_split_completion_think_tags():
    out = split_completion("<think>hmm</think>The answer is 3", "think-tags")
    assert out.thinking == "hmm" and out.answer == "The answer is 3"


def test_multi_token_delimiters_encode(smollm_tokenizer):
    assert encode_delimiter(smollm_tokenizer, "<|im_start|>answer", "d") == [1, *smollm_tokenizer.encode("answer")]
    assert len(encode_delimiter(smollm_tokenizer, "</think>", "d")) > 1
