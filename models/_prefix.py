"""Reuse of prompt prefixes: the keys and values of recent prompts, so a new prompt prefills only what it adds.

An agent's calls repeat themselves: every step of a run renders the same system prompt and tool list, then
the conversation so far, which the previous step's prompt already held; concurrent runs of one graph share
everything up to the user's question. `PrefixCache` keeps the per-layer keys and values of recent prompts
(one sequence each) and, for a new prompt, finds the longest shared token prefix and hands back a cache
holding it, so only the remaining tokens go through the model.

Stored tensors are never written to: a cache only ever appends past the end of what it holds (see
`KVLayer`), so a stored view of a prefill's keys and values keeps seeing the same numbers.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

MIN_REUSE = 8
"""Shared prefixes shorter than this many tokens are prefilled again (not worth a cache copy)."""


class PrefixCache:
    """Keys and values of recent prompts, least recently used dropped first, bounded in total tokens."""

    def __init__(self, max_tokens: int = 8192) -> None:
        """Keep at most `max_tokens` prompt tokens (~12 KB each for the default model); 0 keeps none.

        Example:
            >>> import torch
            >>> cache = PrefixCache(max_tokens=15)
            >>> layer = (torch.zeros(1, 2, 10, 4), torch.ones(1, 2, 10, 4))
            >>> cache.add(list(range(10)), [layer])
            >>> cache.add(list(range(5)), [layer])  # a prefix of a held prompt: nothing new
            >>> cache.add(list(range(100, 110)), [layer])  # over the bound: the least recently used goes
            >>> cache.tokens
            10
        """
        self.max_tokens = max_tokens
        self.tokens = 0
        """Prompt tokens held now."""
        self.hits = 0
        """Prompt tokens served from the cache so far (not prefilled again)."""
        self._entries: OrderedDict[tuple[int, ...], tuple[np.ndarray, list[tuple[Any, Any]]]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, ids: list[int], layers: list[tuple[Any, Any]]) -> None:
        """Remember the per-layer `(keys, values)` (each [1, heads, len(ids), dim]) of prompt `ids`.

        A prompt that is the prefix of one already held adds nothing; held prompts that are prefixes of
        `ids` are replaced by it.
        """
        if not ids or len(ids) > self.max_tokens:
            return
        key = tuple(ids)
        array = np.asarray(ids, dtype=np.int64)
        with self._lock:
            for other, (held, _) in list(self._entries.items()):
                if len(held) >= len(array) and np.array_equal(held[: len(array)], array):
                    self._entries.move_to_end(other)
                    return
                if len(held) < len(array) and np.array_equal(array[: len(held)], held):
                    del self._entries[other]
                    self.tokens -= len(held)
            self._entries[key] = (array, layers)
            self.tokens += len(array)
            while self.tokens > self.max_tokens:
                _, (dropped, _) = self._entries.popitem(last=False)
                self.tokens -= len(dropped)

    def longest(self, ids: list[int]) -> tuple[int, list[tuple[Any, Any]] | None]:
        """Return `(n, layers)`: the longest held prefix of `ids` (at most `len(ids) - 1` tokens, so one is left
        to compute the next token's logits) and its per-layer keys and values cut to `n`; `(0, None)` when
        none reaches `MIN_REUSE` tokens.

        Example:
            >>> import torch
            >>> cache = PrefixCache()
            >>> keys = torch.arange(12.0).reshape(1, 1, 12, 1)
            >>> cache.add(list(range(12)), [(keys, keys)])
            >>> n, layers = cache.longest(list(range(10)) + [99, 98])
            >>> n, layers[0][0].shape[-2]
            (10, 10)
            >>> cache.longest([5, 6, 7])
            (0, None)
        """
        if not ids or self.max_tokens <= 0:
            return 0, None
        array = np.asarray(ids, dtype=np.int64)
        best, best_key = 0, None
        with self._lock:
            for key, (held, _) in self._entries.items():
                n = min(len(held), len(array) - 1)
                differ = np.flatnonzero(held[:n] != array[:n])
                shared = int(differ[0]) if len(differ) else n
                if shared > best:
                    best, best_key = shared, key
            if best < MIN_REUSE or best_key is None:
                return 0, None
            self._entries.move_to_end(best_key)
            layers = [(k[:, :, :best], v[:, :, :best]) for k, v in self._entries[best_key][1]]
            self.hits += best
        return best, layers


def cache_from(layers: list[tuple[Any, Any]] | None, config: Any) -> Any:
    """Return a new cache for a model of `config`, holding `layers` (per-layer keys and values) if given: a
    `KVCache` for graphwright's own decoder (`models/_qwen2.py`), else a Transformers `DynamicCache` whose
    full-attention layers are `GrowingLayer`s."""
    from ._kvcache import KVCache
    from ._qwen2 import DecoderConfig

    if isinstance(config, DecoderConfig):
        cache = KVCache(config.num_hidden_layers)
    else:
        from transformers import DynamicCache
        from transformers.cache_utils import DynamicLayer

        from ._kvcache import GrowingLayer

        cache = DynamicCache(config=config)
        cache.layers = [GrowingLayer() if type(layer) is DynamicLayer else layer for layer in cache.layers]
    for index, (keys, values) in enumerate(layers or ()):
        cache.update(keys, values, index)
    return cache
