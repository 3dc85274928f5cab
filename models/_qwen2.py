"""graphwright's own Qwen2 decoder: the forward pass inference needs, built from `config.json`, without Transformers.

Importing Transformers' Qwen2 model code costs seconds at every start (it pulls in torch's compiler and
distributed packages and Transformers' hub machinery), more than mapping the model's weights from the load
cache. Inference uses a small part of it: token embeddings, RMSNorm, rotary embeddings, grouped-query attention
over a key/value cache, the SwiGLU MLP and the output layer. `Qwen2ForCausalLM` here builds the same modules
under the same names as Transformers' class (so `quantize_int8`, the load cache of `models/_packed.py` and the
fast path of `models/_fastpath.py` apply unchanged, and a cache written by either is mapped by the other) and
computes what Transformers computes, op for op: the same float32 rotary angles and norms, the same masks, the
same attention function (`models/_attention.py`). tests/models/test_qwen2.py holds it to the Transformers
model's logits and greedy tokens.

The forward takes what the batching scheduler passes (`input_ids`, a 2D `attention_mask` over cache and new
positions, `position_ids`, a `KVCache` as `past_key_values`, `logits_to_keep`). Transformers' model stays the
path for training (LoRA in `learning/`), for weights without int8 quantization and for every architecture
`read_config` does not accept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from ._attention import attention
from ._kvcache import KVCache


@dataclass(frozen=True)
class DecoderConfig:
    """The fields of a Qwen2 `config.json` this decoder reads (missing ones take Transformers' `Qwen2Config` defaults)."""

    vocab_size: int
    """Rows of the embedding and of the output layer."""
    hidden_size: int
    """Width of the residual stream."""
    intermediate_size: int
    """Width of the MLP's gate and up projections."""
    num_hidden_layers: int
    """Decoder layers."""
    num_attention_heads: int
    """Query heads per layer."""
    num_key_value_heads: int
    """Key/value heads per layer; each serves num_attention_heads / num_key_value_heads query heads."""
    head_dim: int
    """Width of one head."""
    rms_norm_eps: float
    """Added to the mean square in every RMSNorm."""
    rope_theta: float
    """Base of the rotary embeddings' frequencies."""
    max_position_embeddings: int
    """The context length the model was trained for."""
    tie_word_embeddings: bool
    """Whether the output layer reuses the embedding's weight."""
    pad_token_id: int | None = None
    """The padding token (the embedding of this id is not special at inference)."""
    eos_token_id: Any = None
    """End-of-sequence token id(s) from config.json (generation_config.json's take precedence)."""
    model_type: str = "qwen2"
    """Read by `models/_fastpath.py`."""
    hidden_act: str = "silu"
    """Always silu here (others fall back to Transformers)."""
    use_sliding_window: bool = False
    """Always False here (sliding-window attention falls back to Transformers)."""


def read_config(folder: Path) -> DecoderConfig | None:
    """Return the decoder config of Transformers folder `folder`, or None when this decoder does not compute that
    model exactly as Transformers does: another architecture, an activation other than silu, sliding-window
    layers, rotary scaling, or weights quantized by another library (then use Transformers' model)."""
    try:
        raw = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None
    rope = raw.get("rope_parameters") or raw.get("rope_scaling") or {}
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    layer_types = raw.get("layer_types") or []
    if (
        raw.get("model_type") != "qwen2"
        or raw.get("architectures", ["Qwen2ForCausalLM"]) != ["Qwen2ForCausalLM"]
        or raw.get("hidden_act", "silu") != "silu"
        or raw.get("use_sliding_window", False)
        or any(kind != "full_attention" for kind in layer_types)
        or rope_type != "default"
        or raw.get("quantization_config")
        or raw.get("auto_map")
    ):
        return None
    heads = int(raw.get("num_attention_heads", 32))
    hidden = int(raw.get("hidden_size", 4096))
    return DecoderConfig(
        vocab_size=int(raw.get("vocab_size", 151936)),
        hidden_size=hidden,
        intermediate_size=int(raw.get("intermediate_size", 22016)),
        num_hidden_layers=int(raw.get("num_hidden_layers", 32)),
        num_attention_heads=heads,
        num_key_value_heads=int(raw.get("num_key_value_heads") or heads),
        head_dim=int(raw.get("head_dim") or hidden // heads),
        rms_norm_eps=float(raw.get("rms_norm_eps", 1e-6)),
        rope_theta=float(rope.get("rope_theta", raw.get("rope_theta", 10000.0))),
        max_position_embeddings=int(raw.get("max_position_embeddings", 32768)),
        tie_word_embeddings=bool(raw.get("tie_word_embeddings", False)),
        pad_token_id=raw.get("pad_token_id"),
        eos_token_id=raw.get("eos_token_id"),
    )


def generation_config(folder: Path, config: DecoderConfig) -> SimpleNamespace:
    """The folder's `generation_config.json` as attributes (`eos_token_id`, ...), config.json's tokens where it
    has none."""
    try:
        values = json.loads((folder / "generation_config.json").read_text())
    except (OSError, ValueError):
        values = {}
    values.setdefault("eos_token_id", config.eos_token_id)
    values.setdefault("pad_token_id", config.pad_token_id)
    return SimpleNamespace(**values)


class Output(SimpleNamespace):
    """A forward's results: `logits` or `last_hidden_state`, and `past_key_values` (the cache, None without one)."""


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight, computed in float32 and rounded to the input's dtype before the weight."""

    def __init__(self, size: int, eps: float) -> None:
        """A norm over the last dimension of width `size`."""
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.variance_epsilon = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalize `x` [..., size]."""
        dtype = x.dtype
        x = x.to(torch.float32)
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
        return self.weight * x.to(dtype)


class RotaryEmbedding(nn.Module):
    """cos and sin of position * theta^(-2i/dim), in float32, rounded to the activations' dtype."""

    def __init__(self, config: DecoderConfig) -> None:
        """Frequencies for `config`'s head width and `rope_theta`."""
        super().__init__()
        dim = config.head_dim  # computed on the CPU even inside `build`'s meta device: a few floats, no reference ops
        inv_freq = 1.0 / (config.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.float, device="cpu") / dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.register_buffer("original_inv_freq", inv_freq.clone(), persistent=False)  # kept: Transformers' layout

    @torch.no_grad()
    def forward(self, x: torch.Tensor, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (cos, sin), each [batch or 1, positions, head_dim] in `x`'s dtype, for `position_ids`."""
        freqs = position_ids[..., None].float() * self.inv_freq.float()
        angles = torch.cat((freqs, freqs), dim=-1)
        return angles.cos().to(x.dtype), angles.sin().to(x.dtype)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


class Attention(nn.Module):
    """Grouped-query self-attention with biased q/k/v projections and rotary embeddings."""

    def __init__(self, config: DecoderConfig, layer_idx: int) -> None:
        """Projections for `config`; `layer_idx` names this layer's slot in the cache."""
        super().__init__()
        self.layer_idx = layer_idx
        self.head_dim = config.head_dim
        self.num_key_value_groups = config.num_attention_heads // config.num_key_value_heads
        self.scaling = self.head_dim**-0.5
        self.is_causal = True
        self.sliding_window = None
        self.q_proj = nn.Linear(config.hidden_size, config.num_attention_heads * self.head_dim, bias=True)
        self.k_proj = nn.Linear(config.hidden_size, config.num_key_value_heads * self.head_dim, bias=True)
        self.v_proj = nn.Linear(config.hidden_size, config.num_key_value_heads * self.head_dim, bias=True)
        self.o_proj = nn.Linear(config.num_attention_heads * self.head_dim, config.hidden_size, bias=False)

    def forward(self, x: torch.Tensor, position_embeddings: tuple[torch.Tensor, torch.Tensor], mask: torch.Tensor | None, cache: Any) -> torch.Tensor:
        """Attend from `x` [batch, positions, hidden] over the cache's keys and the new ones (appended to `cache`)."""
        shape = (*x.shape[:-1], -1, self.head_dim)
        query = self.q_proj(x).view(shape).transpose(1, 2)
        key = self.k_proj(x).view(shape).transpose(1, 2)
        value = self.v_proj(x).view(shape).transpose(1, 2)
        cos, sin = (t.unsqueeze(1) for t in position_embeddings)
        query, key = _rotate(query, cos, sin), _rotate(key, cos, sin)
        if cache is not None:
            key, value = cache.update(key, value, self.layer_idx)
        out, _ = attention(self, query, key, value, mask, scaling=self.scaling)
        return self.o_proj(out.reshape(*x.shape[:-1], -1).contiguous())


class MLP(nn.Module):
    """down(silu(gate(x)) * up(x))."""

    def __init__(self, config: DecoderConfig) -> None:
        """Projections for `config`."""
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the MLP to `x` [..., hidden]."""
        return self.down_proj(nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    """Pre-norm attention and MLP, each added to the residual stream."""

    def __init__(self, config: DecoderConfig, layer_idx: int) -> None:
        """Layer `layer_idx` of a model of `config`."""
        super().__init__()
        self.self_attn = Attention(config, layer_idx)
        self.mlp = MLP(config)
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        past_key_values: Any = None,
        use_cache: bool | None = False,
        position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """Return the layer's output for `hidden_states` [batch, positions, hidden] (the arguments of Transformers'
        decoder layers, which `models/_fastpath.py` also takes)."""
        x = hidden_states
        x = x + self.self_attn(self.input_layernorm(x), position_embeddings, attention_mask, past_key_values)
        return x + self.mlp(self.post_attention_layernorm(x))


class Qwen2Model(nn.Module):
    """Embeddings, decoder layers and the final norm."""

    def __init__(self, config: DecoderConfig) -> None:
        """The modules of a model of `config` (weights as torch initializes them: load them afterwards)."""
        super().__init__()
        self.config = config
        # Given its weight, the embedding skips its random init: on the meta device that init goes through torch's
        # reference ops, whose import (torch._dynamo) costs more than the rest of a load.
        weight = torch.empty(config.vocab_size, config.hidden_size)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, config.pad_token_id, _weight=weight)
        self.layers = nn.ModuleList(DecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.rotary_emb = RotaryEmbedding(config)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        past_key_values: Any = None,
        use_cache: bool | None = True,
        **kwargs: Any,
    ) -> Output:
        """Run `input_ids` [batch, positions] after what `past_key_values` holds (a new `KVCache` when None and
        `use_cache`); `attention_mask` [batch, cached + new positions] is 1 for real tokens, 0 for padding (None:
        all real), `position_ids` [batch or 1, positions] each token's position (None: following the cache).
        Returns `last_hidden_state` (normed) and `past_key_values`."""
        hidden = self.embed_tokens(input_ids)
        if past_key_values is None and use_cache:
            past_key_values = KVCache(self.config.num_hidden_layers)
        past = past_key_values.get_seq_length() if past_key_values is not None else 0
        batch, positions = input_ids.shape
        if position_ids is None:
            position_ids = (torch.arange(positions) + past).unsqueeze(0)
        mask = causal_mask(attention_mask, batch, positions, past)
        position_embeddings = self.rotary_emb(hidden, position_ids)
        for layer in self.layers:
            hidden = layer(
                hidden,
                attention_mask=mask,
                position_ids=position_ids,
                past_key_values=past_key_values,
                use_cache=use_cache,
                position_embeddings=position_embeddings,
            )
        return Output(last_hidden_state=self.norm(hidden), past_key_values=past_key_values if use_cache else None)


class Qwen2ForCausalLM(nn.Module):
    """The decoder and its output layer, as Transformers lays them out (`model`, `lm_head`)."""

    def __init__(self, config: DecoderConfig, generation: SimpleNamespace | None = None) -> None:
        """The modules of a model of `config`; `generation` is its generation config (end-of-sequence tokens)."""
        super().__init__()
        self.config = config
        self.generation_config = generation or SimpleNamespace(eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id)
        self.model = Qwen2Model(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        past_key_values: Any = None,
        use_cache: bool | None = True,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs: Any,
    ) -> Output:
        """Run the decoder (see `Qwen2Model.forward`) and return `logits` [batch, kept, vocabulary] at the last
        `logits_to_keep` positions (0: all) or at the indices it holds, and `past_key_values`."""
        out = self.model(input_ids, attention_mask, position_ids, past_key_values, use_cache)
        hidden = out.last_hidden_state
        kept = hidden[:, -logits_to_keep:] if isinstance(logits_to_keep, int) else hidden[:, logits_to_keep]
        return Output(logits=self.lm_head(kept), past_key_values=out.past_key_values)


def build(folder: Path, config: DecoderConfig, dtype: torch.dtype) -> Qwen2ForCausalLM:
    """The model's modules for `config` on the meta device, parameters in `dtype` (no weight memory: the load cache
    fills them), in eval mode."""
    with torch.device("meta"):
        previous = torch.get_default_dtype()
        torch.set_default_dtype(dtype)
        try:
            model = Qwen2ForCausalLM(config, generation_config(folder, config))
        finally:
            torch.set_default_dtype(previous)
    return model.eval().requires_grad_(False)


def causal_mask(attention_mask: torch.Tensor | None, batch: int, queries: int, past: int) -> torch.Tensor | None:
    """The attention mask Transformers' `sdpa` masks give: [batch, 1, queries, past + queries] bool (True: attend),
    query i (cache position past + i) seeing keys up to its own position that `attention_mask` (2D, 1 = real
    token) marks real; None where plain causal attention is the same (no padding, and one query or no past).

    Example:
        >>> causal_mask(None, 1, 1, 5) is None, causal_mask(torch.tensor([[1, 1, 1]]), 1, 3, 0) is None
        (True, True)
        >>> causal_mask(torch.tensor([[0, 1, 1]]), 1, 2, 1)[0, 0].int().tolist()
        [[0, 1, 0], [0, 1, 1]]
    """
    length = past + queries
    padding = None
    if attention_mask is not None:
        padding = attention_mask.to(torch.bool)[:, :length]
        if padding.shape[-1] < length:
            padding = nn.functional.pad(padding, (0, length - padding.shape[-1]))
    if (queries == 1 or length == queries) and (padding is None or bool(padding.all())):
        return None
    causal = torch.arange(length)[None, :] <= (torch.arange(queries) + past)[:, None]
    mask = causal[None, None]
    if padding is not None:
        mask = mask & padding[:, None, None, :]
    return mask.expand(batch, 1, queries, length)
