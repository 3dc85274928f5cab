"""Attention for decode steps and prompts: one C call (or two small matmuls) instead of SDPA's CPU kernel.

A decode step asks one new position per sequence to attend over its cache. torch's CPU flash-attention
kernel, which Transformers' `sdpa` attention calls, is built for blocks of queries: for one query it is
several times slower than `softmax(q @ K^T) @ V` done directly (grouped query heads share their key/value
head without copies), and a large share of a decode step. The bf16 matmuls still pay oneDNN's setup (it makes
a new primitive for every cache length), so where the C kernels run (`models/_native.py`) one call does the
whole attention in fp32; else the two matmuls. (Timings per machine: bench/README.md.) The C call also takes several new positions per
sequence, each query row with its own (causal) mask row: a prompt suffix after a reused prefix, the tokens a
grammar forced, a whole prompt of up to `NATIVE_QUERIES` positions.

`use_attention(model)` registers this as a Transformers attention implementation, with `sdpa`'s mask
format, and switches the model to it.
"""

from __future__ import annotations

from typing import Any

from ._native import kernel

NAME = "graphwright"
"""The attention implementation's name in Transformers' registry."""

NATIVE_QUERIES = 1024
"""Forwards with at most this many new positions per sequence take the C kernel, which beat `sdpa` on every
prompt length measured up to 800 positions; longer prompts, where it was not measured, take `sdpa`."""


def attention(
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
    returns ([B, Q, H, D], None). With the C kernels, up to `NATIVE_QUERIES` new positions per sequence are
    computed there (prompt suffixes, tokens a grammar forced); longer prompts go to torch's `sdpa` as Transformers'
    `sdpa` attention calls it (Transformers itself only for its attention options: softcap, position bias).
    """
    import torch

    batch, heads, queries, dim = query.shape
    kv_heads, length = key.shape[1], key.shape[2]
    scale = scaling if scaling is not None else dim**-0.5
    native = kernel()
    plain = kwargs.get("softcap") is None and kwargs.get("position_bias") is None
    bf16 = key.dtype == value.dtype == query.dtype == torch.bfloat16
    if native is not None and plain and bf16 and queries <= NATIVE_QUERIES:
        mask = _row_mask(attention_mask, batch, queries, length)
        rows = query.transpose(1, 2).reshape(batch * queries, heads, dim)
        out = native.attention(rows, key, value, mask, scale, per_sequence=queries)
        if out is not None:
            return out.reshape(batch, queries, heads, dim), None
    if not plain:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    if queries > 1:
        return _sdpa(query, key, value, attention_mask, scale), None
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


def _sdpa(query: Any, key: Any, value: Any, attention_mask: Any, scale: float) -> Any:
    """torch's `scaled_dot_product_attention` as Transformers' `sdpa` attention calls it: causal when there is no
    mask, key/value heads shared by their query heads; returns [B, Q, H, D]."""
    import torch

    groups = query.shape[1] // key.shape[1]
    gqa = groups > 1 and attention_mask is None
    if groups > 1 and not gqa:  # a mask: each query head gets its key/value head's copy, as Transformers does then
        key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    out = torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, is_causal=attention_mask is None, scale=scale, enable_gqa=gqa
    )
    return out.transpose(1, 2).contiguous()


def _row_mask(attention_mask: Any, batch: int, queries: int, length: int) -> Any:
    """The [batch * queries, length] bool mask (True: attend) of each query row, from `sdpa`'s mask (bool or
    additive, [batch or 1, 1, queries, >= length]) or, when there is none, causal over the last `queries`
    positions."""
    import torch

    if attention_mask is None:
        if queries == 1:
            return None
        causal = torch.ones(queries, length, dtype=torch.bool).tril(length - queries)
        return causal.expand(batch, queries, length).reshape(batch * queries, length)
    mask = attention_mask[..., -queries:, -length:]
    mask = mask if mask.dtype == torch.bool else mask > float("-inf")
    return mask.expand(batch, 1, queries, length).reshape(batch * queries, length)


def use_attention(model: Any) -> bool:
    """Switch `model` (a Transformers model using `sdpa`) to `attention`; return whether it was switched.

    Models with another attention implementation (eager, flash, flex) are left as they are.
    """
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import sdpa_mask

    if getattr(model.config, "_attn_implementation", None) != "sdpa":
        return False
    AttentionInterface.register(NAME, attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    model.set_attn_implementation(NAME)
    return True
