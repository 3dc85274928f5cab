"""A key/value cache layer that appends in place: no copy of the whole cache at every decode step.

Transformers' `DynamicLayer` grows by concatenating its keys and values with the new ones into new tensors, so
every decode step copies the whole cache of every layer, a cost that grows with the batch and the length of
its sequences. `GrowingLayer` keeps them in buffers with free room after the end and writes new
positions into that room; `keys`/`values` are views of the filled part.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import DynamicLayer

ROOM = 128
"""Free positions a layer leaves after its end when it (re)allocates its buffers."""


class GrowingLayer(DynamicLayer):
    """A `DynamicLayer` whose `update` appends into free room instead of concatenating.

    Whoever replaces `keys`/`values` (the batching scheduler joins and drops rows that way) or shortens them
    makes the next `update` copy them into fresh buffers: a position, once handed out in a view, is never
    written again, so views kept elsewhere (the prefix cache) stay valid.

    Example:
        >>> layer = GrowingLayer()
        >>> keys, _ = layer.update(torch.zeros(1, 2, 3, 4), torch.zeros(1, 2, 3, 4))
        >>> keys, _ = layer.update(torch.ones(1, 2, 1, 4), torch.ones(1, 2, 1, 4))
        >>> keys.shape, keys[0, 0, :, 0].tolist(), keys._base.shape[2] == 3 + ROOM
        (torch.Size([1, 2, 4, 4]), [0.0, 0.0, 0.0, 1.0], True)
    """

    _layer_type = None  # not registered as a Transformers layer type: `cache_from` builds these itself

    def __init__(self, **kwargs: Any) -> None:
        """An empty layer (Transformers' layer arguments are accepted and passed on)."""
        super().__init__(**kwargs)
        self._buffers: tuple[torch.Tensor, torch.Tensor] | None = None
        self._filled = 0

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
