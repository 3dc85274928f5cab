"""Corrupt checkpoints: reading one raises a clear `CheckpointerError` naming its thread and id, and listing a
thread's checkpoints skips it, so the intact ones stay visible (and can be forked from).

A checkpoint is corrupt when its bytes do not deserialize (garbage, truncated, a serializer tag the strict
serializer refuses) or what they hold is not shaped like a checkpoint (a mapping with an id, channel values,
channel versions and versions seen; metadata a mapping with an integer step; pending writes of
(task, channel, value)). Other threads, and the thread's other checkpoints, are read as usual.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple, empty_checkpoint

from ..errors import CheckpointerError


def checkpoint_problem(found: CheckpointTuple) -> str | None:
    """Return what is wrong with the shape of a loaded checkpoint, or None when it looks like one.

    Example:
        >>> from langgraph.checkpoint.base import empty_checkpoint
        >>> config = {"configurable": {"thread_id": "t", "checkpoint_id": "1"}}
        >>> checkpoint_problem(CheckpointTuple(config, {**empty_checkpoint(), "id": "1"}, {"step": 0}, None, []))
        >>> checkpoint_problem(CheckpointTuple(config, 5, {}, None, []))
        'the checkpoint is a int, not a mapping'
    """
    checkpoint = found.checkpoint
    if not isinstance(checkpoint, dict):
        return f"the checkpoint is a {type(checkpoint).__name__}, not a mapping"
    for key, kind in (("id", str), ("channel_values", dict), ("channel_versions", dict), ("versions_seen", dict)):
        if not isinstance(checkpoint.get(key), kind):
            return f"its {key!r} is {type(checkpoint.get(key)).__name__}, not {kind.__name__}"
    wanted = (found.config.get("configurable") or {}).get("checkpoint_id")
    if wanted is not None and checkpoint["id"] != wanted:
        return f"it holds checkpoint {checkpoint['id']!r} under id {wanted!r}"
    if not all(isinstance(k, str) for k in checkpoint["channel_values"]):
        return "a channel name is not text"
    for channel, version in checkpoint["channel_versions"].items():
        if not isinstance(channel, str) or isinstance(version, bool) or not isinstance(version, (str, int, float)):
            return f"the version of channel {channel!r} is {type(version).__name__}"
    for node, seen in checkpoint["versions_seen"].items():
        if not isinstance(node, str) or not isinstance(seen, dict):
            return f"what node {node!r} has seen is {type(seen).__name__}, not a mapping"
    metadata = found.metadata
    if not isinstance(metadata, dict):
        return f"its metadata is a {type(metadata).__name__}, not a mapping"
    step = metadata.get("step")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
        return f"its step is {type(step).__name__}, not an integer"
    for write in found.pending_writes or []:
        if not (isinstance(write, tuple | list) and len(write) == 3 and isinstance(write[0], str) and isinstance(write[1], str)):
            return "a pending write is not (task, channel, value)"
    return None


def guard_reads(saver: BaseCheckpointSaver, ids: Any, aids: Any = None) -> BaseCheckpointSaver:
    """Make `saver`'s reads report corrupt checkpoints clearly, and its listing skip them; return `saver`.

    Args:
        saver: a SQLite or Postgres saver (sync or async); its read methods are replaced on the instance.
        ids: `ids(thread_id, checkpoint_ns, before_id, limit) -> list[str]`, the thread's checkpoint ids,
            newest first, read without deserializing anything; None for an async saver.
        aids: the same as a coroutine function, for an async saver's `alist`; None leaves `alist` as it is.
    """
    get_tuple, aget_tuple = saver.get_tuple, saver.aget_tuple

    def checked(config: RunnableConfig, load: Any) -> CheckpointTuple | None:
        try:
            found = load()
        except CheckpointerError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure to deserialize stored bytes is corruption
            raise _corrupt(config, ids, f"{type(exc).__name__}: {exc}") from exc
        if found is not None and (problem := checkpoint_problem(found)) is not None:
            raise _corrupt(found.config, ids, problem)
        return found

    def guarded_get_tuple(config: RunnableConfig) -> CheckpointTuple | None:
        try:
            return checked(config, lambda: get_tuple(config))
        except CheckpointerError:
            conf = config.get("configurable") or {}
            if not getattr(saver, "graphwright_tolerant", False) or conf.get("checkpoint_id") or ids is None:
                raise
            latest = ids(str(conf.get("thread_id")), conf.get("checkpoint_ns", ""), None, 1)
            if not latest:
                raise
            stub = {**empty_checkpoint(), "id": latest[0]}  # only its id: "the thread has moved past the fork point"
            return CheckpointTuple({"configurable": {**conf, "checkpoint_id": latest[0]}}, stub, {}, None, [])

    async def guarded_aget_tuple(config: RunnableConfig) -> CheckpointTuple | None:
        try:
            found = await aget_tuple(config)
        except CheckpointerError:
            raise
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise _corrupt(config, None, f"{type(exc).__name__}: {exc}") from exc
        return checked(config, lambda: found)

    saver.aget_tuple = guarded_aget_tuple  # type: ignore[method-assign]
    if _sync(saver):
        saver.get_tuple = guarded_get_tuple  # type: ignore[method-assign]
    if ids is not None:
        inner_list = saver.list

        def guarded_list(
            config: RunnableConfig | None, *, filter: dict[str, Any] | None = None, before: RunnableConfig | None = None, limit: int | None = None
        ) -> Iterator[CheckpointTuple]:
            conf = (config or {}).get("configurable") or {}
            if filter or "thread_id" not in conf:  # a search across threads: no skipping, but clear errors
                for found in inner_list(config, filter=filter, before=before, limit=limit):
                    yield checked(found.config, lambda f=found: f)  # type: ignore[misc]
                return
            ns = conf.get("checkpoint_ns", "")
            before_id = ((before or {}).get("configurable") or {}).get("checkpoint_id")
            for checkpoint_id in ids(str(conf["thread_id"]), ns, before_id, limit):
                one = {"configurable": {"thread_id": conf["thread_id"], "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}}
                try:
                    found = guarded_get_tuple(one)
                except CheckpointerError:
                    continue  # corrupt: the intact ones are still listed (see `corrupt_checkpoints`)
                if found is not None:
                    yield found

        saver.list = guarded_list  # type: ignore[method-assign]
        saver.graphwright_ids = ids  # type: ignore[attr-defined]
    if aids is not None:
        inner_alist = saver.alist

        async def guarded_alist(
            config: RunnableConfig | None, *, filter: dict[str, Any] | None = None, before: RunnableConfig | None = None, limit: int | None = None
        ) -> AsyncIterator[CheckpointTuple]:
            conf = (config or {}).get("configurable") or {}
            if filter or "thread_id" not in conf:  # a search across threads: no skipping, but clear errors
                async for found in inner_alist(config, filter=filter, before=before, limit=limit):
                    yield checked(found.config, lambda f=found: f)  # type: ignore[misc]
                return
            ns = conf.get("checkpoint_ns", "")
            before_id = ((before or {}).get("configurable") or {}).get("checkpoint_id")
            for checkpoint_id in await aids(str(conf["thread_id"]), ns, before_id, limit):
                one = {"configurable": {"thread_id": conf["thread_id"], "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}}
                try:
                    found = await guarded_aget_tuple(one)
                except CheckpointerError:
                    continue  # corrupt: skipped, as the sync listing does
                if found is not None:
                    yield found

        saver.alist = guarded_alist  # type: ignore[method-assign]
    return saver


def corrupt_checkpoints(saver: BaseCheckpointSaver, thread_id: str, checkpoint_ns: str = "") -> list[tuple[str, str]]:
    """Return `(checkpoint id, what is wrong)` for each corrupt checkpoint of a thread, newest first.

    Empty for a saver `open_checkpointer` did not make (an in-memory one holds objects, not bytes).
    """
    ids = getattr(saver, "graphwright_ids", None)
    if ids is None:
        return []
    found = []
    for checkpoint_id in ids(thread_id, checkpoint_ns, None, None):
        config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns, "checkpoint_id": checkpoint_id}}
        try:
            saver.get_tuple(config)
        except CheckpointerError as exc:
            found.append((checkpoint_id, str(exc)))
    return found


@contextmanager
def forking_past_corruption(saver: BaseCheckpointSaver | None) -> Iterator[None]:
    """Within this block, a corrupt latest checkpoint does not stop a fork from an intact earlier one.

    LangGraph reads a thread's latest checkpoint when it forks, only to see that the fork point is not it; here
    a corrupt latest one answers with its id alone. Reads that name a checkpoint still raise.
    """
    previous = getattr(saver, "graphwright_tolerant", None)
    if saver is not None:
        saver.graphwright_tolerant = True  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if saver is not None:
            saver.graphwright_tolerant = bool(previous)  # type: ignore[attr-defined]


def _sync(saver: BaseCheckpointSaver) -> bool:
    return type(saver).get_tuple is not BaseCheckpointSaver.get_tuple


def _corrupt(config: RunnableConfig, ids: Any, why: str) -> CheckpointerError:
    conf = config.get("configurable") or {}
    thread = conf.get("thread_id")
    checkpoint = conf.get("checkpoint_id")
    if checkpoint is None and ids is not None:
        try:
            latest = ids(str(thread), conf.get("checkpoint_ns", ""), None, 1)
            checkpoint = latest[0] if latest else None
        except Exception:  # noqa: BLE001 - the id is only for the message
            checkpoint = None
    where = f"checkpoint {checkpoint}" if checkpoint else "its latest checkpoint"
    return CheckpointerError(
        f"thread {thread!r}: {where} is corrupt and cannot be read ({why[:300]}); "
        "earlier checkpoints may be intact: list the thread's history and fork from one"
    )
