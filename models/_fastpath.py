"""Llama/Qwen2-style decoder layers in eight C calls instead of ~60 small torch ops.

With int8 weights read at memory speed (`models/native.c`), what is left of a decode step on a CPU is the
cost of the step's small operations: each torch op and module call costs microseconds, and a decoder layer
makes ~60 of them (two RMS norms, three projections, rotary embeddings, attention, residuals, the gated MLP),
which over the default model's 24 layers adds up to as much as reading its weights. `use_fast_layers`
gives each supported layer a forward made of the native kernels, for decode steps and prompts alike:

    rmsnorm -> q/k/v in one int8 product (one activation quantization) -> rotary in place -> cache update
    -> attention -> o_proj + residual -> rmsnorm -> silu(gate) * up in one call -> down_proj + residual

Products are rounded to bf16 where the bf16 model rounds them. For a prompt (several positions per sequence)
this saves the same small ops, a smaller share of its time since a prompt's products are larger.
Layers this does not recognise keep Transformers' forward. The q/k/v weights are joined into one tensor once,
and the three layers' weights become views of it: no weight is stored twice.

A batched forward is a rectangle, [sequences, positions], but its sequences may feed different numbers of
tokens (one decode token beside a prompt of 40, in the batching scheduler's mixed steps); the rest is padding.
Inside `real_positions(index)` the layers run their products, norms and rotary embeddings on the real
positions only (`index` into the flattened rectangle), and attention gives padded query positions no keys,
which the attention kernel skips: a step that feeds 4 prompts of 38 tokens beside 4 decode tokens computes
156 positions, not 304.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from ._attention import attention as attend
from ._native import STRIP, Kernels, kernel
from ._quant import Int8Linear

MODEL_TYPES = ("qwen2", "llama")
"""Architectures whose decoder layers get the fast path (the same layer layout, with or without biases)."""


def use_fast_layers(model: Any) -> int:
    """Give every supported decoder layer of `model` the fast path; return how many layers got it (0 when
    the native kernels cannot run, the architecture is not in `MODEL_TYPES`, or the layers are not int8)."""
    native = kernel()
    config = getattr(model, "config", None)
    layers = getattr(getattr(model, "model", None), "layers", None)
    if native is None or getattr(config, "model_type", None) not in MODEL_TYPES or layers is None:
        return 0
    if getattr(config, "hidden_act", None) != "silu" or getattr(config, "use_sliding_window", False):
        return 0
    count = 0
    for layer in layers:
        if _supported(layer):
            fast = _FastLayer(layer, native, config)
            layer.forward = functools.partial(fast, layer.forward)
            count += 1
    return count


def fast_layer_count(model: Any) -> tuple[int, int]:
    """Return (layers on the fast path, decoder layers) of `model`."""
    layers = getattr(getattr(model, "model", None), "layers", None) or []
    fast = [layer for layer in layers if isinstance(getattr(layer.forward, "func", None), _FastLayer)]
    return len(fast), len(layers)


_packing = threading.local()


@contextmanager
def real_positions(index: torch.Tensor | None) -> Iterator[None]:
    """Within this block, fast layers on this thread compute products only at `index` (long, into the flattened
    [batch * positions] of their input; None: everywhere); their output is zero at the other positions."""
    _packing.index, _packing.masks = index, None
    try:
        yield
    finally:
        _packing.index, _packing.masks = None, None


def _real_queries(mask: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """`mask` ([batch or 1, 1, positions, keys] bool, True = attend, as `sdpa` takes it) with every query
    position outside `real` attending to nothing; made once per forward, for all its layers."""
    held = _packing.masks
    if held is not None and held[0] is mask:
        return held[1]
    batch, positions = mask.shape[0], mask.shape[2]
    keep = torch.zeros(batch * positions, dtype=torch.bool).index_fill_(0, real, True)
    only = mask & keep.view(batch, 1, positions, 1)
    _packing.masks = (mask, only)
    return only


def _joined(weights: list[torch.Tensor]) -> torch.Tensor:
    """The weights stacked along their first dimension: a view when they already lie one after another in one
    storage (as a model mapped from the load cache has them), else a new tensor."""
    first = weights[0]
    ptr, rows = first.data_ptr(), 0
    for weight in weights:
        same = weight.untyped_storage().data_ptr() == first.untyped_storage().data_ptr()
        if not (same and weight.is_contiguous() and weight.shape[1:] == first.shape[1:] and weight.data_ptr() == ptr):
            return torch.cat(weights)
        ptr += weight.numel() * weight.element_size()
        rows += weight.shape[0]
    return first.as_strided((rows, *first.shape[1:]), first.stride())


def _supported(layer: Any) -> bool:
    attention, mlp = getattr(layer, "self_attn", None), getattr(layer, "mlp", None)
    linears = [getattr(attention, n, None) for n in ("q_proj", "k_proj", "v_proj", "o_proj")]
    linears += [getattr(mlp, n, None) for n in ("gate_proj", "up_proj", "down_proj")]
    norms = [getattr(layer, n, None) for n in ("input_layernorm", "post_attention_layernorm")]
    return (
        all(isinstance(m, Int8Linear) and m.native is not None for m in linears)
        and all(hasattr(n, "weight") and hasattr(n, "variance_epsilon") for n in norms)
        and getattr(attention, "sliding_window", None) is None
        and hasattr(attention, "layer_idx")
    )


class _FastLayer:
    """One layer's forward on the kernels; called as `layer.forward(hidden_states, ...)` with the original forward bound first."""

    def __init__(self, layer: Any, native: Kernels, config: Any) -> None:
        attention, mlp = layer.self_attn, layer.mlp
        self.native, self.attention, self.mlp = native, attention, mlp
        self.norms = (layer.input_layernorm, layer.post_attention_layernorm)
        self.heads, self.kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.dim = attention.head_dim
        projections = (attention.q_proj, attention.k_proj, attention.v_proj)
        self.weight = _joined([p.weight for p in projections])
        self.scale = torch.cat([p.scale32 for p in projections])
        biases = [p.bias for p in projections]
        self.bias = None if any(b is None for b in biases) else torch.cat(biases)
        start = 0
        for projection in projections:  # the three layers now read views of the joined (packed) weight
            strips = projection.out_features // STRIP
            projection.weight = self.weight[start : start + strips]
            start += strips

    def __call__(
        self,
        original: Any,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        past_key_values: Any = None,
        use_cache: bool | None = False,
        position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """Return the layer's output for `hidden_states` [batch, positions, hidden] (bf16) after updating its
        cache, or the original forward's for anything else (more rows than the kernels take, no cache, other
        dtypes)."""
        if (
            hidden_states.shape[0] * hidden_states.shape[1] > self.native.max_rows
            or hidden_states.dtype != torch.bfloat16
            or past_key_values is None
            or position_embeddings is None
        ):
            return original(
                hidden_states,
                attention_mask=attention_mask,
                position_ids=position_ids,
                past_key_values=past_key_values,
                use_cache=use_cache,
                position_embeddings=position_embeddings,
                **kwargs,
            )
        native, attention, mlp = self.native, self.attention, self.mlp
        batch, positions, hidden = hidden_states.shape
        rows = batch * positions
        heads, kv_heads, dim = self.heads, self.kv_heads, self.dim
        real = getattr(_packing, "index", None)
        if real is not None and real.numel() == rows:
            real = None
        mask = attention_mask
        if real is not None and mask is not None and mask.dtype == torch.bool and mask.shape[0] == batch:
            attention_mask = _real_queries(mask, real)
        x = hidden_states.reshape(rows, hidden)
        # [1, ...] without position ids
        cos, sin = (t.expand(batch, positions, dim).reshape(rows, dim) for t in position_embeddings)
        if real is not None:
            x, cos, sin = x.index_select(0, real), cos.index_select(0, real), sin.index_select(0, real)
        h = native.rmsnorm(x, self.norms[0].weight, self.norms[0].variance_epsilon)
        qkv = native.linear(h, self.weight, self.scale, self.bias)
        native.rotary(qkv, heads + kv_heads, dim, cos, sin)  # q's heads, then k's, lead each row
        if real is not None:  # attention takes the rectangle: padding gets zeros, which the mask hides
            qkv = qkv.new_zeros(rows, qkv.shape[1]).index_copy_(0, real, qkv)
        qkv = qkv.view(batch, positions, heads + 2 * kv_heads, dim).transpose(1, 2)  # [batch, heads, positions, dim]
        query, key, value = qkv.split([heads, kv_heads, kv_heads], dim=1)
        key, value = past_key_values.update(key, value, attention.layer_idx)
        out, _ = attend(attention, query, key, value, attention_mask, scaling=attention.scaling)
        out = out.reshape(rows, heads * dim)
        if real is not None:
            out = out.index_select(0, real)
        o = attention.o_proj
        x = native.linear(out, o.weight, o.scale32, o.bias, residual=x)
        h = native.rmsnorm(x, self.norms[1].weight, self.norms[1].variance_epsilon)
        gate, up, down = mlp.gate_proj, mlp.up_proj, mlp.down_proj
        h = native.silu_mul(h, gate.weight, gate.scale32, up.weight, up.scale32)
        x = native.linear(h, down.weight, down.scale32, down.bias, residual=x)
        if real is not None:
            x = x.new_zeros(rows, hidden).index_copy_(0, real, x)
        return x.view(batch, positions, hidden)
