"""Int8 linear layers: half the bytes of bf16 per decoded token, and (on our kernel) integer products for prompts.

`quantize_int8` replaces a model's `nn.Linear` layers (the LM head too) by `Int8Linear`: int8 weights with one
scale per output channel (symmetric, round to nearest). Which kernel serves a layer depends on the machine and
its shape:

- Our int8 kernel (`models/_native.py`: AVX-512 VNNI, or AVX2 on CPUs without AVX-512), for every call, when it
  runs here and the layer fits (inputs a multiple of 128, outputs of 16): the weight is kept only in the kernel's
  packed layout, activations are quantized to int8 per block of 128 and the products are integer dot products,
  faster than a bf16 matmul for decode steps and prompts alike (timings per machine: bench/README.md). Rows are
  independent: a row computes the same alone or batched.
- Otherwise decode steps (one position per sequence) take `torch.ops.aten._weight_int8pack_mm` (which needs
  widths that are multiples of 16: other layers dequantize), and longer inputs a bf16 matmul on the dense bf16
  weight when the layer keeps it (`keep_dense=True`, the default: 1.5x the weight memory), else on the weight
  dequantized for the call.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ._native import Kernels, kernel


class Int8Linear(nn.Module):
    """A linear layer whose weight is int8 with one scale per output channel; activations come and go in bf16."""

    def __init__(
        self, weight: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None, dense: torch.Tensor | None = None
    ) -> None:
        """Hold `weight` (int8, [out, in]), `scale` (bf16, [out]), an optional `bias` (bf16, [out]) and an optional
        `dense` bf16 copy of the weight for long inputs. Where the native kernel serves the layer, `weight`
        becomes its packed form (`Kernels.pack`) and `dense` is dropped: that kernel takes every call."""
        super().__init__()
        self.in_features, self.out_features = weight.shape[1], weight.shape[0]
        native = kernel()
        self.native: Kernels | None = native if native is not None and native.fits(*weight.shape[::-1]) else None
        if self.native is not None:
            weight, dense = self.native.pack(weight), None
        self.register_buffer("weight", weight)
        self.register_buffer("scale", scale)
        self.register_buffer("bias", bias)
        self.register_buffer("dense", dense)
        self.register_buffer("scale32", scale.float())

    @classmethod
    def from_linear(cls, linear: nn.Linear, *, keep_dense: bool = True) -> Int8Linear:
        """Return the int8 version of `linear`: per output channel, scale = max |w| / 127, q = round(w / scale).

        Example:
            >>> layer = nn.Linear(64, 32, bias=False).to(torch.bfloat16)
            >>> quantized = Int8Linear.from_linear(layer)
            >>> x = torch.randn(3, 64, dtype=torch.bfloat16)
            >>> error = (quantized(x) - layer(x)).abs().max() / layer(x).abs().max()
            >>> quantized.weight.dtype, bool(error < 0.05)
            (torch.int8, True)
        """
        if linear.weight.is_meta:  # modules built without weights, which the load cache fills (`models/_packed.py`)
            return cls._without_weights(linear, keep_dense=keep_dense)
        weight = linear.weight.detach().float()
        scale = (weight.abs().amax(dim=1) / 127).clamp(min=1e-8)
        quantized = torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8)
        bias = None if linear.bias is None else linear.bias.detach().to(torch.bfloat16)
        dense = linear.weight.detach().to(torch.bfloat16) if keep_dense else None  # shares a bf16 weight's storage
        return cls(quantized.contiguous(), scale.to(torch.bfloat16), bias, dense)

    @classmethod
    def _without_weights(cls, linear: nn.Linear, *, keep_dense: bool) -> Int8Linear:
        out, inputs = linear.weight.shape

        def meta(*shape: int, dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
            return torch.empty(*shape, dtype=dtype, device="meta")

        bias = None if linear.bias is None else meta(out)
        return cls(meta(out, inputs, dtype=torch.int8), meta(out), bias, meta(out, inputs) if keep_dense else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return `x @ W.T + b` for `x` of shape [batch, positions, in] or [rows, in] (cast to bf16), on the
        kernel its shape calls for (see the module's docstring)."""
        shape = x.shape
        rows = x.reshape(-1, shape[-1]).to(torch.bfloat16)
        if self.native is not None:
            out = self.native.linear(rows, self.weight, self.scale32, self.bias)
        elif (x.dim() < 3 or shape[-2] == 1) and self.in_features % 16 == 0:
            # torch's int8 kernel, for decode steps only (its cost grows with the rows); it crashes on other widths
            out = torch.ops.aten._weight_int8pack_mm(rows, self.weight, self.scale)
            if self.bias is not None:
                out = out + self.bias
        elif self.dense is not None:
            out = nn.functional.linear(rows, self.dense, self.bias)
        else:
            out = nn.functional.linear(rows, self.weight.to(torch.bfloat16) * self.scale[:, None], self.bias)
        return out.reshape(*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        kernel = self.native.build if self.native is not None else "int8pack" if self.in_features % 16 == 0 else "dequantized"
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 ({kernel})"


def quantize_int8(model: nn.Module, *, keep_dense: bool = True) -> int:
    """Replace every `nn.Linear` inside `model` by an `Int8Linear`, in place; return how many were replaced.

    With `keep_dense` each layer keeps its bf16 weight for long inputs (a weight tied to the input embeddings,
    as the LM head's often is, stays shared, not copied).

    Example:
        >>> net = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2)).to(torch.bfloat16)
        >>> quantize_int8(net), type(net[2]).__name__
        (2, 'Int8Linear')
    """
    targets: list[tuple[Any, str, nn.Linear]] = []
    for parent in model.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.Linear):
                targets.append((parent, name, child))
    for parent, name, child in targets:
        setattr(parent, name, Int8Linear.from_linear(child, keep_dense=keep_dense))
    return len(targets)
