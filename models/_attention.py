"""Attention for decode steps: two small matmuls instead of SDPA's CPU flash kernel.

A decode step asks one new position per sequence to attend over its cache. torch's CPU flash-attention
kernel, which Transformers' `sdpa` attention calls, is built for blocks of queries: for one query it took
0.30 ms per layer at batch 1 and 2.5 ms at batch 8 with a 500-token cache, against 0.06 and 0.18 ms for
`softmax(q @ K^T) @ V` done directly (grouped query heads share their key/value head without copies). That
was 20% of a batch-1 step and half of a batch-8 step. The bf16 matmuls cost another ~70 us per layer (oneDNN
makes a new primitive for every cache length), so where the C kernels run (`models/_native.py`) one call
does the whole attention in fp32; else the two matmuls. Prefill (more than one query) still goes to `sdpa`.

`use_decode_attention(model)` registers this as a Transformers attention implementation, with `sdpa`'s mask
format, and switches the model to it.
"""

from __future__ import annotations

from typing import Any

from ._native import kernel

NAME = "graphwright_decode"
"""The attention implementation's name in Transformers' registry."""


def decode_attention(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[Any, None]:
    """Attention with Transformers' attention-function contract: `query` [B, H, Q, D], `key`/`value`
    [B, KV, L, D], `attention_mask` as `sdpa` takes it ([B or 1, 1, Q, L] bool, True = attend, or None);
    returns ([B, Q, H, D], None). Q > 1 (prefill) is handed to `sdpa`.
    """
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    batch, heads, queries, dim = query.shape
    if queries != 1 or kwargs.get("softcap") is not None or kwargs.get("position_bias") is not None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    kv_heads, length = key.shape[1], key.shape[2]
    scale = scaling if scaling is not None else dim**-0.5
    native = kernel()
    if native is not None and key.dtype == value.dtype == query.dtype == torch.bfloat16:
        mask = None
        if attention_mask is not None:
            mask = attention_mask[..., -1, -length:].reshape(-1, length)
            mask = (mask if mask.dtype == torch.bool else mask > float("-inf")).expand(batch, length)
        out = native.decode_attention(query.reshape(batch, heads, dim), key, value, mask, scale)
        if out is not None:
            return out.reshape(batch, 1, heads, dim), None
    grouped = query.reshape(batch, kv_heads, heads // kv_heads, dim)  # query heads that share a key/value head
    scores = torch.matmul(grouped, key.transpose(-1, -2)).float() * scale  # [B, KV, group, L]
    if attention_mask is not None:
        mask = attention_mask[..., -1:, -length:].reshape(attention_mask.shape[0], 1, 1, length)
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask.float()
    weights = torch.softmax(scores, dim=-1).to(value.dtype)
    out = torch.matmul(weights, value)  # [B, KV, group, D]
    return out.reshape(batch, heads, 1, dim).transpose(1, 2).contiguous(), None


def use_decode_attention(model: Any) -> bool:
    """Switch `model` (a Transformers model using `sdpa`) to `decode_attention`; return whether it was switched.

    Models with another attention implementation (eager, flash, flex) are left as they are.
    """
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import sdpa_mask

    if getattr(model.config, "_attn_implementation", None) != "sdpa":
        return False
    AttentionInterface.register(NAME, decode_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    model.set_attn_implementation(NAME)
    return True
