"""Int8 linear layers: half the bytes of bf16 per decoded token.

Decoding reads every weight once per token, so its speed follows the bytes read. `quantize_int8` replaces a
model's `nn.Linear` layers (the LM head too) by `Int8Linear`: int8 weights with one bf16 scale per output
channel (symmetric, round to nearest). Which kernel a call takes depends on its shape alone:

- Up to `NATIVE_ROWS` rows (decode steps, a batch of them, short prompt suffixes after a reused prefix), our
  AVX-512 VNNI kernel (`models/_native.py`: activations quantized to int8 in blocks of 128, integer dot
  products): at one row ~3x faster than torch's int8 kernel with weights from memory (~38 vs ~13 GB/s) and
  ~4-5x faster than a bf16 matmul, and still faster than bf16 at 64 rows. Its rows are independent: a row computes the same alone or batched.
- More rows (long prompts): a bf16 matmul on the dense bf16 weight when the layer keeps it (`keep_dense=True`,
  the default: 1.5x the weight memory), else on the weight dequantized for the call (prefill ~2x slower).
- Without the native kernel: decode steps (one position per sequence) on `torch.ops.aten._weight_int8pack_mm`
  (which needs widths that are multiples of 16: other layers dequantize), everything else as above.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ._native import Kernels, kernel

NATIVE_ROWS = 64
"""Calls with at most this many rows (positions x sequences) take the native int8 kernel (measured on a
4864x896 layer: 1.3 ms vs 1.5 ms for bf16 at 64 rows; about equal per row beyond)."""


class Int8Linear(nn.Module):
    """A linear layer whose weight is int8 with one scale per output channel; activations come and go in bf16."""

    def __init__(
        self, weight: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None, dense: torch.Tensor | None = None
    ) -> None:
        """Hold `weight` (int8, [out, in]), `scale` (bf16, [out]), an optional `bias` (bf16, [out]) and an optional
        `dense` bf16 copy of the weight for long inputs."""
        super().__init__()
        self.in_features, self.out_features = weight.shape[1], weight.shape[0]
        self.register_buffer("weight", weight)
        self.register_buffer("scale", scale)
        self.register_buffer("bias", bias)
        self.register_buffer("dense", dense)
        self.register_buffer("scale32", scale.float())
        native = kernel()
        self.native: Kernels | None = native if native is not None and native.fits(self.in_features) else None

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
        weight = linear.weight.detach().float()
        scale = (weight.abs().amax(dim=1) / 127).clamp(min=1e-8)
        quantized = torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8)
        bias = None if linear.bias is None else linear.bias.detach().to(torch.bfloat16)
        dense = linear.weight.detach().to(torch.bfloat16) if keep_dense else None  # shares a bf16 weight's storage
        return cls(quantized.contiguous(), scale.to(torch.bfloat16), bias, dense)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return `x @ W.T + b` for `x` of shape [batch, positions, in] or [rows, in] (cast to bf16), on the
        kernel its shape calls for (see the module's docstring)."""
        shape = x.shape
        rows = x.reshape(-1, shape[-1]).to(torch.bfloat16)
        if self.native is not None and rows.shape[0] <= NATIVE_ROWS:
            out = self.native.linear(rows, self.weight, self.scale32, self.bias)
        elif self.native is None and (x.dim() < 3 or shape[-2] == 1) and self.in_features % 16 == 0:
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
        kernel = "vnni" if self.native is not None else "int8pack" if self.in_features % 16 == 0 else "dequantized"
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
