"""Training data: the assistant-only loss mask, the pad token, validation errors, over-long policy, packing."""

from __future__ import annotations

import json

import pytest
import torch

from s1lib.toy import toy_records
from s1lib.train.batching import collate, model_inputs
from s1lib.train.data import (
    IGNORE_INDEX,
    DataError,
    Fields,
    build_examples,
    choose_pad_token,
    encode_example,
    load_records,
    validate_records,
)


def _real_record(shared_data):
    item = json.loads((shared_data / "s1k_questions.json").read_text())[3]
    return {"question": item["problem"], "thinking_trajectories": [item["solution"]], "attempt": "\\boxed{42}"}


def test_loss_covers_exactly_the_assistant_turn(smollm_tokenizer, shared_data):
    tok = smollm_tokenizer
    record = _real_record(shared_data)
    ex = encode_example(tok, record["question"], record["thinking_trajectories"][0], record["attempt"])
    ids, labels = ex["input_ids"], ex["labels"]
    start = next(i for i, t in enumerate(labels) if t != IGNORE_INDEX)
    # Everything before is masked and ends with the assistant header; the loss starts with the think delimiter.
    assert all(t == IGNORE_INDEX for t in labels[:start])
    assert tok.decode(ids[:start]).endswith("<|im_start|>assistant\n")
    assert tok.decode(ids[:start]).count("<|im_start|>") == 3  # system, user, assistant headers all masked
    learned = labels[start:]
    assert learned == ids[start:]
    text = tok.decode(learned)
    assert text.startswith("<|im_start|>think\n")
    assert "<|im_start|>answer\nAnswer: \\boxed{42}" in text
    # The loss ends with the template's end of turn: <|im_end|> (id 2) is learned, then its newline.
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert text.endswith("<|im_end|>\n") and learned[-2] == im_end


def test_pad_token_is_never_end_of_turn(smollm_tokenizer, tmp_path):
    tok = smollm_tokenizer
    assert tok.pad_token == "<|im_end|>"  # the trap: SmolLM2's default pad is its end of turn
    pad, added = choose_pad_token(tok)
    assert (pad, added) == ("<|endoftext|>", False) and tok.convert_tokens_to_ids(pad) == 0
    with pytest.raises(ValueError, match="end-of-turn"):
        choose_pad_token(tok, "<|im_end|>")
    examples, _ = build_examples(toy_records(8), tok, Fields(), block_size=512)
    assert all(0 not in e["input_ids"] for e in examples)  # the pad id never occurs in real text


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"question": "q", "thinking_trajectories": [""], "attempt": "a"}, "row 1: field 'thinking_trajectories'"),
        ({"question": "", "thinking_trajectories": ["t"], "attempt": "a"}, "row 1: field 'question' is an empty"),
        ({"question": None, "thinking_trajectories": ["t"], "attempt": "a"}, "row 1: field 'question' is null"),
        ({"question": "q", "thinking_trajectories": ["t"]}, "row 1: field 'attempt' is missing"),
        ({"question": "q", "thinking_trajectories": ["t", "u"], "attempt": "a"}, "a list of 2 items"),
    ],
)
def test_bad_records_are_named_by_row_and_field(record, message):
    good = toy_records(1)[0]
    with pytest.raises(DataError, match=message) as err:
        validate_records([good, record], Fields(), "data.jsonl")
    assert "data.jsonl" in str(err.value)


def test_empty_set_and_wrong_column():
    with pytest.raises(DataError, match="empty training set"):
        validate_records([], Fields(), "x.jsonl")
    rows = [{"question": "q", "deepseek_thinking_trajectory": "t", "deepseek_attempt": "a"}]
    with pytest.raises(DataError, match=r"\['thinking_trajectories', 'attempt'\] not found.*deepseek"):
        validate_records(rows, Fields(), "s11.parquet")
    validate_records(rows, Fields(thinking="deepseek_thinking_trajectory", attempt="deepseek_attempt"), "s11")


def test_loaders_jsonl_parquet_json_folder(tmp_path):
    import datasets

    records = toy_records(3)
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    (tmp_path / "d.json").write_text(json.dumps(records))
    datasets.Dataset.from_list(records).to_parquet(str(tmp_path / "d.parquet"))
    datasets.Dataset.from_list(records).save_to_disk(str(tmp_path / "folder"))
    for name in ("d.jsonl", "d.json", "d.parquet", "folder"):
        loaded = load_records(str(tmp_path / name))
        assert [r["question"] for r in loaded] == [r["question"] for r in records], name
        assert loaded[0]["thinking_trajectories"] == records[0]["thinking_trajectories"], name
    (tmp_path / "bad.jsonl").write_text(json.dumps(records[0]) + "\n{not json\n")
    with pytest.raises(DataError, match=r"bad\.jsonl line 2"):
        load_records(str(tmp_path / "bad.jsonl"))
    with pytest.raises(DataError, match="does not exist"):
        load_records(str(tmp_path / "missing.jsonl"))


def test_overlong_truncate_drop_error(smollm_tokenizer):
    records = toy_records(6, long_tail=True)
    full, report = build_examples(records, smollm_tokenizer, Fields(), block_size=10_000)
    lengths = [len(e["input_ids"]) for e in full]
    block = sorted(lengths)[-2]  # exactly one example is longer
    kept, report = build_examples(records, smollm_tokenizer, Fields(), block_size=block, overlong="truncate")
    assert (report.overlong, report.truncated, report.dropped, len(kept)) == (1, 1, 0, 6)
    assert max(len(e["input_ids"]) for e in kept) == block
    kept, report = build_examples(records, smollm_tokenizer, Fields(), block_size=block, overlong="drop")
    assert (report.overlong, report.dropped, len(kept)) == (1, 1, 5)
    assert report.overlong_rows == [lengths.index(max(lengths))]
    with pytest.raises(DataError, match=f"row {lengths.index(max(lengths))}: .* exceed block_size"):
        build_examples(records, smollm_tokenizer, Fields(), block_size=block, overlong="error")


def _examples(tokenizer, n=4):
    examples, _ = build_examples(toy_records(n, seed=3, long_tail=True), tokenizer, Fields(), block_size=512)
    assert len({len(e["input_ids"]) for e in examples}) > 1  # really different lengths, so padding happens
    return examples


def test_padding_free_isolates_examples(tiny_model, smollm_tokenizer):
    model, _ = tiny_model
    examples = _examples(smollm_tokenizer)
    packed = collate(examples, pad_token_id=0, padding_free=True)
    assert packed["input_ids"].shape[0] == 1 and "attention_mask" not in packed
    with torch.no_grad():
        packed_logits = model(**{k: v for k, v in model_inputs(packed).items() if k != "labels"}).logits[0]
        # Same tokens, positions running on across examples and no reset: a control that must differ.
        leaky = model(input_ids=packed["input_ids"], use_cache=False).logits[0]
        offset = 0
        for i, e in enumerate(examples):
            n = len(e["input_ids"])
            alone = model(input_ids=torch.tensor([e["input_ids"]]), use_cache=False).logits[0]
            torch.testing.assert_close(packed_logits[offset : offset + n], alone, atol=1e-4, rtol=1e-4)
            if i > 0:
                assert (leaky[offset : offset + n] - alone).abs().max() > 1e-3
            offset += n


def test_padding_free_loss_equals_padded_loss(tiny_model, smollm_tokenizer):
    model, _ = tiny_model
    examples = _examples(smollm_tokenizer)
    padded = collate(examples, pad_token_id=0, padding_free=False)
    packed = collate(examples, pad_token_id=0, padding_free=True)
    assert padded["input_ids"].numel() > packed["input_ids"].numel()  # padding really was saved
    with torch.no_grad():
        loss_padded = model(**model_inputs(padded)).loss
        loss_packed = model(**model_inputs(packed)).loss
    torch.testing.assert_close(loss_packed, loss_padded, atol=1e-5, rtol=1e-5)


def test_per_example_attention_matches_padded_and_isolates(tiny_model_dir, smollm_tokenizer):
    from transformers import AutoModelForCausalLM

    from s1lib.attention import register_s1_sdpa

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation=register_s1_sdpa())
    examples = _examples(smollm_tokenizer)
    packed = collate(examples, pad_token_id=0, padding_free=True)
    padded = collate(examples, pad_token_id=0, padding_free=False)
    loss_padded = model(**model_inputs(padded)).loss
    loss_packed = model(**model_inputs(packed, varlen=True)).loss
    torch.testing.assert_close(loss_packed, loss_padded, atol=1e-5, rtol=1e-5)
    # Gradients agree too (the backward through the per-example split is the padded one, without the pad).
    grads = []
    for loss in (loss_padded, loss_packed):
        model.zero_grad()
        loss.backward()
        grads.append(model.model.layers[0].self_attn.q_proj.weight.grad.clone())
    torch.testing.assert_close(grads[1], grads[0], atol=1e-5, rtol=1e-4)
    with torch.no_grad():
        logits = model(**{k: v for k, v in model_inputs(packed, varlen=True).items() if k != "labels"}).logits[0]
    last = examples[-1]["input_ids"]
    alone = model(input_ids=torch.tensor([last]), use_cache=False).logits[0].detach()
    torch.testing.assert_close(logits[-len(last) :], alone, atol=1e-4, rtol=1e-4)
