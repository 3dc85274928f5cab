"""Threads: validating their ids and reading where a thread's run stands."""

from __future__ import annotations

import re
import uuid

from langchain_core.runnables import RunnableConfig
from langgraph.types import StateSnapshot

from ..errors import InvalidThreadIdError

_THREAD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def check_thread_id(thread_id: str) -> str:
    """Return `thread_id` if it is 1-128 characters of `[A-Za-z0-9._:-]` starting with a letter or digit.

    Raises:
        InvalidThreadIdError: it is not.

    Example:
        >>> check_thread_id("user-42.chat:7")
        'user-42.chat:7'
    """
    if not isinstance(thread_id, str) or not _THREAD_ID.fullmatch(thread_id):
        raise InvalidThreadIdError(
            f"invalid thread id {thread_id!r}: use 1-128 letters, digits, '.', '_', ':' or '-', "
            "starting with a letter or digit"
        )
    return thread_id


def new_thread_id() -> str:
    """Return a fresh random thread id."""
    return uuid.uuid4().hex


def thread_config(thread_id: str, *, recursion_limit: int = 50) -> RunnableConfig:
    """Return the run config for `thread_id` (checked) with a bound on super-steps."""
    return {"configurable": {"thread_id": check_thread_id(thread_id)}, "recursion_limit": recursion_limit}


def unfinished_nodes(snapshot: StateSnapshot) -> tuple[str, ...]:
    """Return the nodes of a thread's unfinished run (empty when the run finished), from its latest snapshot.

    That is `snapshot.next`, or, when a process died after a step's writes were saved but before the checkpoint
    that follows them, the nodes whose saved writes are still to be applied: LangGraph then reports no `next`,
    yet `graph.invoke(None, config)` applies those writes and runs on. Either way the run resumes with
    `invoke(None, config)` (or `Command(resume=...)` at an interrupt).

    Example:
        >>> from langgraph.checkpoint.memory import InMemorySaver
        >>> from langgraph.graph import START, StateGraph
        >>> from typing_extensions import TypedDict
        >>> class S(TypedDict):
        ...     n: int
        >>> builder = StateGraph(S).add_node("inc", lambda s: {"n": s["n"] + 1}).add_edge(START, "inc")
        >>> app = builder.compile(checkpointer=InMemorySaver(), interrupt_before=["inc"])
        >>> config = thread_config("t")
        >>> _ = app.invoke({"n": 1}, config)
        >>> unfinished_nodes(app.get_state(config))
        ('inc',)
        >>> _ = app.invoke(None, config)
        >>> unfinished_nodes(app.get_state(config))
        ()
    """
    if snapshot.next:
        return tuple(snapshot.next)
    return tuple(dict.fromkeys(task.name for task in snapshot.tasks))
