"""The fast exact token counter gives the tokenizer's own counts: on every shared text, on edge cases, in parallel,
on a second byte-level BPE trained here, and it refuses tokenizers it cannot re-express."""

from __future__ import annotations

import json
import logging

import pytest

from s1lib.curation import tokencount
from s1lib.curation.tokencount import FastBPECounter, trace_lengths

EDGE_CASES = [
    "",
    "x",
    "héllo wörld 😀 \x00\x01 \t\n  x",
    "’s 's 'S  'll don't I'M  '  ",
    "中文测试，数学题。",
    "a\u00a0b\u2009c\u3000d",
    " \x14\\",  # \x14 is not in SmolLM2's vocabulary: the tokenizer drops it and merges across it
    "\x04\x06\x13\x16\x1d",
    "\U00050000x",  # a 4-byte character whose lead byte (0xF1) is not in the vocabulary
    " " * 50 + "x" + "\n" * 7 + "\t\t y",
    "\r\n\r\n",
    "१२३ ٣٤ ²½ 12345678901234567890",
    "$$\\frac{a}{b}$$\n\n\\boxed{42}",
    "Wait, let me check: 3 + 4 = 7.   Wait",
    "<|im_start|>think\nliteral special-token text",
]


def _original_counts(tokenizer, texts):
    return [len(e.ids) for e in tokenizer.backend_tokenizer.encode_batch(texts, add_special_tokens=False)]


def _shared_texts(shared_data):
    texts = []
    for row in json.loads((shared_data / "s1k_questions.json").read_text()):
        texts += [row["problem"], row["solution"], str(row.get("thinking") or "")]
    for name in ("aime24", "math500", "olympiadbench"):
        with open(shared_data / f"{name}.jsonl") as fh:
            for line in fh:
                texts += [v if isinstance(v, str) else json.dumps(v) for v in json.loads(line).values()]
    return texts


@pytest.fixture(scope="module")
def counter(smollm_tokenizer):
    built = FastBPECounter.from_tokenizer(smollm_tokenizer)
    assert built is not None, FastBPECounter.explain_unsupported(smollm_tokenizer)
    return built


@pytest.mark.parametrize("text", EDGE_CASES)
def test_edge_cases_match_tokenizer(counter, smollm_tokenizer, text):
    assert counter.count([text], verify=0) == _original_counts(smollm_tokenizer, [text])


def test_missing_bytes_go_to_the_original(counter):
    assert b"\x14" in counter.missing_bytes
    assert counter._needs_original(" \x14\\") and not counter._needs_original("plain text")
    # Without the routing, tiktoken would count 3 tokens where the tokenizer counts 1.
    assert len(counter._encoding.encode_ordinary(" \x14\\")) == 3
    assert counter.count([" \x14\\"], verify=0) == [1]


def test_every_shared_text_matches_tokenizer(counter, smollm_tokenizer, shared_data):
    texts = _shared_texts(shared_data)
    assert len(texts) > 10_000
    assert counter.count(texts, verify=0) == _original_counts(smollm_tokenizer, texts)
    # Same token ids, not only the same number of them.
    sample = [t for t in texts[::97] if not counter._needs_original(t)]
    ids = [e.ids for e in smollm_tokenizer.backend_tokenizer.encode_batch(sample, add_special_tokens=False)]
    assert [counter._encoding.encode_ordinary(t) for t in sample] == ids


def test_worker_processes_give_the_same_counts(counter, shared_data, monkeypatch):
    texts = _shared_texts(shared_data)[:3000]
    single = counter.count(texts, workers=1, verify=0)
    monkeypatch.setattr(tokencount, "PARALLEL_MIN_CHARS", 1)
    monkeypatch.setattr(tokencount, "_CHUNK_TEXTS", 250)
    assert counter.count(texts, workers=2, verify=0) == single


def test_a_difference_on_the_sample_falls_back_to_the_tokenizer(counter, smollm_tokenizer, monkeypatch, caplog):
    texts = ["one two three", "four five", "six"] * 10
    monkeypatch.setattr(tokencount, "_count_all", lambda enc, texts, *rest: [999] * len(texts))
    with caplog.at_level(logging.WARNING, logger="s1lib.curation.tokencount"):
        assert counter.count(texts, verify=4) == _original_counts(smollm_tokenizer, texts)
    assert "differ from the tokenizer" in caplog.text


def test_trace_lengths_uses_the_fast_counter(smollm_tokenizer, monkeypatch):
    calls = []
    original = FastBPECounter.count
    monkeypatch.setattr(FastBPECounter, "count", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    texts = ["Let me think. Wait, 2 + 2 = 4.", "The answer is \\boxed{4}."]
    assert trace_lengths(texts, smollm_tokenizer) == _original_counts(smollm_tokenizer, texts)
    assert calls


def _trained_byte_level_bpe(tmp_path, texts):
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    trained = ByteLevelBPETokenizer()
    trained.train_from_iterator(texts, vocab_size=600, min_frequency=2, special_tokens=["<pad>"])
    return PreTrainedTokenizerFast(tokenizer_object=trained._tokenizer)


def test_a_second_trained_byte_level_bpe(tmp_path, shared_data):
    texts = _shared_texts(shared_data)[:2000]
    tok = _trained_byte_level_bpe(tmp_path, texts[:500])
    built = FastBPECounter.from_tokenizer(tok)
    assert built is not None, FastBPECounter.explain_unsupported(tok)
    assert built.count(texts + EDGE_CASES, verify=0) == _original_counts(tok, texts + EDGE_CASES)


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda t: setattr(t, "normalizer", __import__("tokenizers").normalizers.Lowercase()), "normalizer"),
        (lambda t: setattr(t, "pre_tokenizer", __import__("tokenizers").pre_tokenizers.Whitespace()), "pre-tokenizer"),
        (
            lambda t: setattr(t, "pre_tokenizer", __import__("tokenizers").pre_tokenizers.ByteLevel(True)),
            "pre-tokenizer",
        ),
    ],
)
def test_tokenizers_it_cannot_reexpress(tmp_path, shared_data, change, reason):
    tok = _trained_byte_level_bpe(tmp_path, _shared_texts(shared_data)[:300])
    change(tok.backend_tokenizer)
    assert reason in FastBPECounter.explain_unsupported(tok)
    assert FastBPECounter.from_tokenizer(tok) is None
    # trace_lengths still counts with the tokenizer itself.
    assert trace_lengths(["Some text, 12 + 3."], tok) == _original_counts(tok, ["Some text, 12 + 3."])


def test_not_a_fast_tokenizer():
    class Encoder:
        def encode(self, text):
            return text.split()

    assert "not a `tokenizers`" in FastBPECounter.explain_unsupported(Encoder())
    assert trace_lengths(["a b c", "d"], Encoder()) == [3, 1]
