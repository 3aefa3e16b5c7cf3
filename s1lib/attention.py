"""``s1_sdpa``: transformers' sdpa attention without copying the KV cache, and with padding-free batches on CPU.

Two costs of the stock sdpa path on a CPU, both measured here on SmolLM2-135M (9 query heads, 3 KV heads):

- **Grouped-query attention.** With an attention mask (every left-padded batch, i.e. every batched generation),
  transformers repeats the KV heads before calling sdpa (``repeat_kv``), copying the whole cache in every layer at
  every decoding step: 26 % of a budget sweep's time. torch's sdpa takes the grouped heads itself
  (``enable_gqa=True``), exactly, with no copy (2.8× faster per call). transformers only does so without a mask,
  because on CUDA a masked GQA call falls back to the slow math kernel; that concern is CUDA's, so on CUDA this
  keeps transformers' choice.
- **Padding-free training.** transformers' padding-free path builds one dense block-diagonal mask over the whole
  packed row, so the kernel still computes (and in backward stores) attention between every pair of tokens in the
  row, across examples (0.68× the useful tokens/s of padded batches). Here the row is split at TRL's
  ``cu_seq_lens_q`` boundaries and each example runs causal sdpa with no mask at all, as flash attention's varlen
  kernel does on a GPU.

Everything else is transformers' own sdpa. A model saved after training is switched back to ``sdpa`` first, so it
loads anywhere without s1lib.
"""

from __future__ import annotations

from typing import Any

S1_SDPA = "s1_sdpa"
_registered = False


def _native_gqa(query: Any, attention_mask: Any) -> bool:
    return query.device.type == "cpu" or attention_mask is None


def s1_sdpa_forward(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs: Any,
) -> tuple[Any, None]:
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    special = kwargs.get("position_bias") is not None or kwargs.get("cache") is not None
    if special or kwargs.get("output_attentions"):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, is_causal=is_causal, **kwargs
        )
    groups = getattr(module, "num_key_value_groups", 1)
    causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
    bounds = kwargs.get("cu_seq_lens_q")
    sdpa = torch.nn.functional.scaled_dot_product_attention
    if bounds is not None and query.shape[0] == 1 and query.shape[2] == key.shape[2] and causal:
        lengths = [int(n) for n in bounds.diff()]
        # split (not slicing): its backward is one concatenation, where each slice's backward would zero-fill and
        # copy a full-size gradient per example.
        pieces = [
            sdpa(q, k, v, dropout_p=dropout, scale=scaling, is_causal=True, enable_gqa=groups > 1)
            for q, k, v in zip(query.split(lengths, dim=2), key.split(lengths, dim=2), value.split(lengths, dim=2))
        ]
        return torch.cat(pieces, dim=2).transpose(1, 2).contiguous(), None
    if groups > 1 and not _native_gqa(query, attention_mask):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, is_causal=is_causal, **kwargs
        )
    q_length, kv_length = query.shape[2], key.shape[2]
    causal = q_length > 1 and attention_mask is None and causal
    if causal and kv_length > q_length:  # prefill of an empty static cache: the masked tail is never attended
        key, value = key[:, :, :q_length], value[:, :, :q_length]
    output = sdpa(
        query,
        key,
        value,
        attn_mask=attention_mask,
        dropout_p=dropout,
        scale=scaling,
        is_causal=causal,
        enable_gqa=groups > 1,
    )
    return output.transpose(1, 2).contiguous(), None


def register_s1_sdpa() -> str:
    """Register the attention (and sdpa's mask builder under its name) with transformers; return its name."""
    global _registered
    if not _registered:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

        AttentionInterface.register(S1_SDPA, s1_sdpa_forward)
        AttentionMaskInterface.register(S1_SDPA, sdpa_mask)
        _registered = True
    return S1_SDPA


def use_s1_sdpa(model: Any) -> bool:
    """Switch a model that runs transformers' ``sdpa`` to ``s1_sdpa`` (same results, no KV copy); True if switched."""
    config = getattr(model, "config", None)
    if getattr(config, "_attn_implementation", None) != "sdpa":
        return False
    model.set_attn_implementation(register_s1_sdpa())
    return True
