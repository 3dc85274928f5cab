"""Decode speed-ups on the real default model: int8 weights and prompt-prefix reuse keep the answers."""

from __future__ import annotations

import pytest
import torch
from langchain_core.messages import HumanMessage, SystemMessage

from graphwright import calculator
from graphwright.errors import ModelLoadError
from graphwright.models import ChatLocal, LocalModel
from graphwright.models._batching import BatchingOptions
from graphwright.models._prefix import PrefixCache
from graphwright.models._quant import Int8Linear

QUESTION = [SystemMessage("You are a helpful assistant. Use the calculator for arithmetic."), HumanMessage("What is 17 * 23 + 4?")]


@pytest.mark.parametrize(
    ("options", "message"),
    [({"quantize": "int4"}, "quantize must be one of int8, int8-lean"), ({"dtype": "float32"}, "needs dtype='bfloat16'")],
)
def test_bad_quantize_settings_are_refused_before_anything_loads(options: dict, message: str) -> None:
    with pytest.raises(ModelLoadError, match=message):
        LocalModel.load("/nonexistent/model/folder", **options)


def test_int8_layer_matches_its_bf16_layer_for_decode_and_prefill_shapes() -> None:
    torch.manual_seed(0)
    layer = torch.nn.Linear(256, 96, bias=True).to(torch.bfloat16)
    for keep_dense in (True, False):
        quantized = Int8Linear.from_linear(layer, keep_dense=keep_dense)
        for shape in ((1, 256), (8, 1, 256), (2, 20, 256)):  # decode shapes use the int8 kernel, prefill bf16
            x = torch.randn(*shape, dtype=torch.bfloat16)
            want, got = layer(x).float(), quantized(x).float()
            assert got.shape == want.shape
            assert (got - want).abs().max() <= 0.03 * want.abs().max(), (keep_dense, shape)


@pytest.mark.model
def test_the_int8_default_makes_the_same_tool_call_as_bf16(local_chat_model: ChatLocal) -> None:
    assert local_chat_model.quantize == "int8"
    assert any(isinstance(m, Int8Linear) for m in local_chat_model.load().model.modules())
    dense = ChatLocal(max_new_tokens=64, quantize=None)
    assert not any(isinstance(m, Int8Linear) for m in dense.load().model.modules())
    calls = [m.bind_tools([calculator]).invoke(QUESTION).tool_calls for m in (local_chat_model, dense)]
    # The same call: name and arguments. Ids hash the reply's text, which may frame the same call differently
    # (a fenced block or a bare object) and so differ.
    assert [(c["name"], c["args"]) for c in calls[0]] == [(c["name"], c["args"]) for c in calls[1]]
    assert calculator.invoke(calls[0][0]["args"]["expression"]) == "395"


@pytest.mark.model
@pytest.mark.parametrize("batching", [True, False], ids=["batched", "alone"])
def test_a_shared_prompt_prefix_is_reused_and_changes_no_token(batching: bool) -> None:
    """In float32, reuse changes no token: the reused keys and values are those a full prefill computes, up to
    the summation order of a matmul of another shape. (In bf16 that rounding can turn a near-tie: on a Xeon with
    AMX, where torch's bf16 matmul takes another kernel for another shape, "Apple." came out as "Apple"; with
    the int8 default the decode kernel's int8 activations did the same once.)"""
    local = LocalModel.load(None, dtype="float32", quantize=None)
    options = BatchingOptions() if batching else None
    system = {"role": "system", "content": "You are a terse assistant. Answer in one short sentence. " * 4}
    prompts = [local.render([system, {"role": "user", "content": q}]) for q in ("Name a color.", "Name a fruit.")]
    try:
        local.prefix_cache = PrefixCache(0)  # no reuse: every prompt prefilled in full
        fresh = [local.generate(p, max_new_tokens=8, batching=options).text for p in prompts]
        local.prefix_cache = PrefixCache()
        reused = [local.generate(p, max_new_tokens=8, batching=options).text for p in prompts]
        shared = local.prefix_cache.hits
    finally:
        local.prefix_cache = PrefixCache()
    assert reused == fresh
    system_tokens = local.count_tokens(local.render([system]))
    assert shared >= system_tokens - 8  # the second prompt reused (about) the system prompt's tokens


def test_decode_attention_matches_sdpa_for_one_query_with_grouped_heads_and_padding() -> None:
    from graphwright.models._attention import attention

    torch.manual_seed(0)
    batch, heads, kv_heads, length, dim = 3, 14, 2, 40, 64
    query = torch.randn(batch, heads, 1, dim, dtype=torch.bfloat16)
    key, value = (torch.randn(batch, kv_heads, length, dim, dtype=torch.bfloat16) for _ in range(2))
    mask = torch.ones(batch, 1, 1, length, dtype=torch.bool)
    mask[1, ..., :7] = False  # a left-padded row
    mask[2, ..., 20:25] = False  # padding inside a row (a batched prefill's)
    module = torch.nn.Module()
    got, _ = attention(module, query, key, value, mask, scaling=dim**-0.5)
    groups = heads // kv_heads
    want = torch.nn.functional.scaled_dot_product_attention(
        query.float(), key.float().repeat_interleave(groups, 1), value.float().repeat_interleave(groups, 1), attn_mask=mask, scale=dim**-0.5
    ).transpose(1, 2)
    assert got.shape == (batch, 1, heads, dim)
    assert (got.float() - want).abs().max() < 0.02


@pytest.mark.parametrize("with_mask", [True, False], ids=["padded", "causal-without-mask"])
def test_attention_of_a_few_new_positions_matches_sdpa(with_mask: bool) -> None:
    """Several queries per sequence (a prompt suffix after its cached prefix): each attends causally."""
    from graphwright.models._attention import attention

    torch.manual_seed(1)
    batch, heads, kv_heads, queries, length, dim = 2, 14, 2, 5, 30, 64
    query = torch.randn(batch, heads, queries, dim, dtype=torch.bfloat16)
    key, value = (torch.randn(batch, kv_heads, length, dim, dtype=torch.bfloat16) for _ in range(2))
    causal = torch.ones(queries, length, dtype=torch.bool).tril(length - queries)
    mask = causal.expand(batch, 1, queries, length).clone()
    if with_mask:
        mask[1, ..., :6] = False  # a left-padded row
    got, _ = attention(torch.nn.Module(), query, key, value, mask if with_mask else None, scaling=dim**-0.5)
    groups = heads // kv_heads
    want = torch.nn.functional.scaled_dot_product_attention(
        query.float(), key.float().repeat_interleave(groups, 1), value.float().repeat_interleave(groups, 1), attn_mask=mask, scale=dim**-0.5
    ).transpose(1, 2)
    assert got.shape == (batch, queries, heads, dim)
    assert (got.float() - want).abs().max() < 0.02


def test_a_growing_cache_layer_never_writes_where_it_handed_out_a_view() -> None:
    """Appends go into free room after the end; a layer that was shortened or whose tensors were replaced
    copies them into new buffers first, so views kept elsewhere (the prefix cache) keep their numbers."""
    from graphwright.models._kvcache import GrowingLayer

    layer = GrowingLayer()
    layer.update(torch.zeros(1, 2, 4, 8), torch.zeros(1, 2, 4, 8))
    kept = layer.keys[:, :, :4]
    buffer = layer.keys._base
    layer.update(torch.ones(1, 2, 1, 8), torch.ones(1, 2, 1, 8))
    assert layer.keys._base is buffer and layer.keys.shape[2] == 5  # appended in place, no new tensor
    layer.crop(-3)  # shortened to 2: the next update must not write over positions 2..4
    layer.update(torch.full((1, 2, 2, 8), 7.0), torch.full((1, 2, 2, 8), 7.0))
    assert kept.abs().sum() == 0 and layer.keys._base is not buffer
    assert layer.keys[0, 0, :, 0].tolist() == [0.0, 0.0, 7.0, 7.0]
    layer.keys, layer.values = layer.keys[[0, 0]], layer.values[[0, 0]]  # rows replaced, as the scheduler does
    keys, _ = layer.update(torch.ones(2, 2, 1, 8), torch.ones(2, 2, 1, 8))
    assert keys.shape == (2, 2, 5, 8) and keys[1, 1, :, 0].tolist() == [0.0, 0.0, 7.0, 7.0, 1.0]
