import torch
from s1lib.train.batching import collate
from tests.test_train_data import _examples

def test_dbg(tiny_model, smollm_tokenizer):
    model, _ = tiny_model
    ex = _examples(smollm_tokenizer)
    p = collate(ex, 0, True)
    n = len(ex[0]["input_ids"])
    print([len(e["input_ids"]) for e in ex], p["position_ids"][0, :3], model.config._attn_implementation, model.training)
    with torch.no_grad():
        a = model(input_ids=p["input_ids"], position_ids=p["position_ids"]).logits[0]
        b = model(input_ids=torch.tensor([ex[0]["input_ids"]])).logits[0]
        c = model(input_ids=p["input_ids"][:, :n]).logits[0]
        d = model(input_ids=p["input_ids"][:, :n], position_ids=p["position_ids"][:, :n]).logits[0]
    print((a[:n] - b).abs().max(), (c - b).abs().max(), (d - b).abs().max())
    assert 0
