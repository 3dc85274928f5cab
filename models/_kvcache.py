"""Key/value caches that append in place: no copy of the whole cache at every decode step.

Transformers' `DynamicLayer` grows by concatenating its keys and values with the new ones into new tensors, so
every decode step copies the whole cache of every layer, a cost that grows with the batch and the length of
its sequences. `KVLayer` keeps them in buffers with free room after the end and writes new positions into that
room; `keys`/`values` are views of the filled part.

`KVCache` holds one `KVLayer` per decoder layer for graphwright's own decoder (`models/_qwen2.py`), without
importing Transformers. Models that run through Transformers get `GrowingLayer`, the same layer as a
`DynamicLayer` inside Transformers' `DynamicCache` (built on first use, so Transformers is imported only then).
"""

from __future__ import annotations

import functools
from typing import Any

import torch

ROOM = 128
"""Free positions a layer leaves after its end when it (re)allocates its buffers."""


class KVLayer:
    """One layer's keys and values, [batch, heads, positions, dim]; `update` appends into free room.

    Whoever replaces `keys`/`values` (the batching scheduler joins and drops rows that way) or shortens them
    makes the next `update` copy them into fresh buffers: a position, once handed out in a view, is never
    written again, so views kept elsewhere (the prefix cache) stay valid.

    Example:
        >>> layer = KVLayer()
        >>> keys, _ = layer.update(torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 4))
        >>> keys, _ = layer.update(torch.ones(1, 2, 1, 4), torch.ones(1, 2, 1, 4))
        >>> keys.shape, keys[0, 0, :, 0].tolist(), keys._base.shape[2] == 3 + ROOM
        (torch.Size([1, 2, 4, 4]), [0.0, 0.0, 0.0, 1.0], True)
    """

    def __init__(self, **kwargs: Any) -> None:
        """An empty layer (keyword arguments go to the next class in line: Transformers' layer, in `GrowingLayer`)."""
        super().__init__(**kwargs)
        self.keys: Any = None
        self.values: Any = None
        self.is_initialized = False
        self._buffers: tuple[torch.Tensor, torch.Tensor] | None = None
        self._filled = 0

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        """Start empty, in the dtype and on the device of the first keys (as Transformers' layers do)."""
        self.dtype, self.device = key_states.dtype, key_states.device
        self.keys = torch.tensor([], dtype=self.dtype, device=self.device)
        self.values = torch.tensor([], dtype=self.dtype, device=self.device)
        self.is_initialized = True

    def get_seq_length(self) -> int:
        """Positions held."""
        if not self.is_initialized or self.keys is None or self.keys.numel() == 0:
            return 0
        return self.keys.shape[-2]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Append `key_states`/`value_states` [batch, heads, new, dim] and return all keys and values held."""
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        held, new = self.get_seq_length(), key_states.shape[-2]
        if not self._appendable(key_states, held + new):
            shape = (*key_states.shape[:2], held + new + ROOM, key_states.shape[-1])
            buffers = tuple(torch.empty(shape, dtype=s.dtype, device=s.device) for s in (key_states, value_states))
            if held:
                buffers[0][:, :, :held] = self.keys
                buffers[1][:, :, :held] = self.values
            self._buffers = buffers
        keys, values = self._buffers
        keys[:, :, held : held + new] = key_states
        values[:, :, held : held + new] = value_states
        self._filled = held + new
        self.keys, self.values = keys[:, :, : self._filled], values[:, :, : self._filled]
        return self.keys, self.values

    def _appendable(self, key_states: torch.Tensor, length: int) -> bool:
        """True when `keys`/`values` are still this layer's own views, as long as it left them, with room for
        `length` positions."""
        if self._buffers is None:
            return False
        keys, values = self._buffers
        return (
            self.keys._base is keys
            and self.values._base is values
            and self.get_seq_length() == self._filled
            and keys.shape[:2] == key_states.shape[:2]
            and keys.shape[-1] == key_states.shape[-1]
            and length <= keys.shape[-2]
        )


class KVCache:
    """The keys and values of every decoder layer of graphwright's own decoder, the part of Transformers'
    `Cache` interface that it and the batching scheduler use (`layers`, `update`, `get_seq_length`).

    Example:
        >>> cache = KVCache(2)
        >>> _ = cache.update(torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 4), 1)
        >>> cache.get_seq_length(1), cache.get_seq_length(0)
        (3, 0)
    """

    def __init__(self, layers: int) -> None:
        """An empty cache for `layers` decoder layers."""
        self.layers = [KVLayer() for _ in range(layers)]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *args: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Append to layer `layer_idx` and return all its keys and values."""
        return self.layers[layer_idx].update(key_states, value_states)

    def get_seq_length(self, layer_idx: int = 0) -> int:
        """Positions held by layer `layer_idx` (padding included)."""
        return self.layers[layer_idx].get_seq_length()


def __getattr__(name: str) -> Any:
    if name == "GrowingLayer":
        return _growing_layer()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _growing_layer() -> type:
    """`KVLayer` as a Transformers `DynamicLayer`, for models that run through Transformers."""
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(KVLayer, DynamicLayer):
        """A `DynamicLayer` whose `update` appends into free room instead of concatenating (see `KVLayer`)."""

        _layer_type = None  # not registered as a Transformers layer type: `cache_from` builds these itself

    GrowingLayer.__module__ = __name__
    return GrowingLayer
