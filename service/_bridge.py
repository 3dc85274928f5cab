"""Giving a sync-only checkpointer (SQLite, Postgres from `open_checkpointer`) the async methods a server needs.

The server runs graphs with `astream`, which calls `aget_tuple`, `aput`, ... . The savers `open_checkpointer`
returns implement only the sync side; `async_capable` wraps them so each async call runs the sync one in a
worker thread. Savers that already implement the async side (the in-memory one) are returned unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, ChannelVersions, Checkpoint, CheckpointMetadata

from ..memory import checkpointer_backend


def async_capable(saver: BaseCheckpointSaver) -> BaseCheckpointSaver:
    """Return `saver` if its async methods work, else a wrapper whose async methods run the sync ones in threads.

    Example:
        >>> from langgraph.checkpoint.memory import InMemorySaver
        >>> s = InMemorySaver()
        >>> async_capable(s) is s
        True
    """
    backend = checkpointer_backend(saver)
    # LangGraph's sync savers override the async methods only to raise `NotImplementedError`
    inherited = type(saver).aget_tuple is BaseCheckpointSaver.aget_tuple
    sync_only = inherited or (backend is not None and backend.api == "sync")
    return ThreadedSaver(saver) if sync_only else saver


class ThreadedSaver(BaseCheckpointSaver):
    """A checkpointer that forwards to a sync `inner` saver, running each async call in a worker thread."""

    def __init__(self, inner: BaseCheckpointSaver) -> None:
        super().__init__(serde=inner.serde)
        self.inner = inner

    # sync side: straight through
    def get_tuple(self, config: RunnableConfig) -> Any:
        return self.inner.get_tuple(config)

    def list(self, config: RunnableConfig | None, **kwargs: Any) -> Iterator[Any]:
        return self.inner.list(config, **kwargs)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self.inner.put(config, checkpoint, metadata, new_versions)

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        return self.inner.put_writes(config, writes, task_id, task_path)

    def delete_thread(self, thread_id: str) -> None:
        return self.inner.delete_thread(thread_id)

    def get_next_version(self, current: Any, channel: Any) -> Any:
        return self.inner.get_next_version(current, channel)

    def get_delta_channel_history(self, *, config: RunnableConfig, channels: Sequence[str]) -> Any:
        return self.inner.get_delta_channel_history(config=config, channels=channels)

    # async side: the same calls in a thread
    async def aget_tuple(self, config: RunnableConfig) -> Any:
        return await asyncio.to_thread(self.inner.get_tuple, config)

    async def alist(self, config: RunnableConfig | None, **kwargs: Any) -> AsyncIterator[Any]:
        items = await asyncio.to_thread(lambda: list(self.inner.list(config, **kwargs)))
        for item in items:
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await asyncio.to_thread(self.inner.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        return await asyncio.to_thread(self.inner.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        return await asyncio.to_thread(self.inner.delete_thread, thread_id)

    async def aget_delta_channel_history(self, *, config: RunnableConfig, channels: Sequence[str]) -> Any:
        return await asyncio.to_thread(
            lambda: self.inner.get_delta_channel_history(config=config, channels=channels)
        )
