"""Time travel: list a thread's checkpoints, read the state at one, and fork from one with edited values.

A fork is LangGraph's: `update_state` on a past checkpoint writes a new checkpoint whose parent is that one
(the thread's history branches; nothing is deleted), and running with `None` input from the returned config
continues from the edited state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.pregel import Pregel
from langgraph.types import StateSnapshot

from ..errors import GraphSetupError, ThreadStateError
from ..memory import forking_past_corruption
from ._threads import check_thread_id


@dataclass(frozen=True)
class CheckpointInfo:
    """One saved checkpoint of a thread, as `list_checkpoints` reports it."""

    checkpoint_id: str
    """Its id (pass it to `state_at` or `fork`)."""
    step: int
    """The super-step it was saved after (-1 is the run's input)."""
    source: str
    """What wrote it: "input", "loop", "update" (a fork or edit) or "fork"."""
    next: tuple[str, ...]
    """The nodes that run next from it (empty when the run had finished)."""
    writes: tuple[str, ...]
    """The nodes whose updates it holds."""
    parent_id: str | None
    """The checkpoint it follows (a fork's parent is the checkpoint it was forked from)."""
    created_at: str
    """When it was saved (ISO 8601)."""


def checkpoint_config(thread_id: str, checkpoint_id: str | None = None) -> RunnableConfig:
    """Return the config that addresses `thread_id` (checked), at `checkpoint_id` when given.

    Example:
        >>> checkpoint_config("t1", "1ef")["configurable"]
        {'thread_id': 't1', 'checkpoint_ns': '', 'checkpoint_id': '1ef'}
    """
    configurable: dict[str, Any] = {"thread_id": check_thread_id(thread_id), "checkpoint_ns": ""}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def list_checkpoints(graph: Pregel, thread_id: str, *, limit: int | None = None) -> list[CheckpointInfo]:
    """Return `thread_id`'s checkpoints, newest first (at most `limit`).

    Raises:
        GraphSetupError: `graph` was compiled without a checkpointer.
        ThreadStateError: the thread has no checkpoints.
    """
    _require_saver(graph)
    found = [_info(snapshot) for snapshot in graph.get_state_history(checkpoint_config(thread_id), limit=limit)]
    if not found:
        raise ThreadStateError(f"thread {thread_id!r} has no checkpoints")
    return found


def state_at(graph: Pregel, thread_id: str, checkpoint_id: str | None = None) -> StateSnapshot:
    """Return the state of `thread_id` at `checkpoint_id` (None: its latest checkpoint).

    Raises:
        GraphSetupError: `graph` was compiled without a checkpointer.
        ThreadStateError: the thread has no such checkpoint.
    """
    _require_saver(graph)
    snapshot = graph.get_state(checkpoint_config(thread_id, checkpoint_id))
    if snapshot.created_at is None:
        where = f"checkpoint {checkpoint_id!r}" if checkpoint_id else "checkpoints"
        raise ThreadStateError(f"thread {thread_id!r} has no {where}")
    return snapshot


def fork(
    graph: Pregel,
    thread_id: str,
    checkpoint_id: str,
    values: Mapping[str, Any] | None = None,
    *,
    as_node: str | None = None,
) -> RunnableConfig:
    """Write `values` on top of checkpoint `checkpoint_id` as a new branch; return the config to continue it.

    Continue with `graph.invoke(None, returned_config)` (or `stream`). Values go through the state's
    reducers as if node `as_node` had returned them (None: LangGraph picks the node that wrote last); a
    message with the id of an existing one replaces it.

    Raises:
        GraphSetupError: `graph` was compiled without a checkpointer.
        ThreadStateError: the thread has no such checkpoint, or a value names a key the state does not have.
    """
    snapshot = state_at(graph, thread_id, checkpoint_id)
    keys = set(getattr(getattr(graph, "builder", None), "channels", {}) or {}) or set(snapshot.values)
    unknown = sorted(set(values or {}) - keys)
    if unknown:
        raise ThreadStateError(f"the state has no key(s) {', '.join(unknown)}; its keys are {', '.join(sorted(keys))}")
    try:
        with forking_past_corruption(graph.checkpointer):  # a corrupt latest checkpoint must not block the fork
            return graph.update_state(checkpoint_config(thread_id, checkpoint_id), dict(values or {}), as_node=as_node)
    except ValueError as exc:
        raise ThreadStateError(f"cannot fork thread {thread_id!r} at {checkpoint_id!r}: {exc}") from exc


def _require_saver(graph: Pregel) -> None:
    if getattr(graph, "checkpointer", None) in (None, False):
        raise GraphSetupError("time travel needs a graph compiled with a checkpointer")


def _info(snapshot: StateSnapshot) -> CheckpointInfo:
    metadata = snapshot.metadata or {}
    parent = (snapshot.parent_config or {}).get("configurable", {}).get("checkpoint_id")
    return CheckpointInfo(
        checkpoint_id=snapshot.config["configurable"]["checkpoint_id"],
        step=int(metadata.get("step", -1)),
        source=str(metadata.get("source", "")),
        next=tuple(snapshot.next),
        writes=tuple((metadata.get("writes") or {}).keys()) if isinstance(metadata.get("writes"), dict) else (),
        parent_id=parent,
        created_at=str(snapshot.created_at or ""),
    )
