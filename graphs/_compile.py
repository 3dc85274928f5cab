"""Compiling a graph happens here, once, with a checkpointer (and a store when one is given)."""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.pregel import Pregel
from langgraph.store.base import BaseStore

from ..errors import GraphSetupError


def compile_graph(
    graph: StateGraph | Pregel,
    *,
    checkpointer: BaseCheckpointSaver | None = None,
    store: BaseStore | None = None,
    name: str | None = None,
    interrupt_before: list[str] | None = None,
    interrupt_after: list[str] | None = None,
) -> CompiledStateGraph | Pregel:
    """Compile `graph` with `checkpointer` (and `store`) attached; a compiled graph gets them re-attached.

    Args:
        graph: a `StateGraph` (compiled here) or an already compiled graph (copied with the new savers).
        checkpointer: from `graphwright.memory.open_checkpointer`; None compiles without persistence.
        store: a LangGraph store for long-term memory, or None.
        name: the compiled graph's name (shown in traces and as the assistant id when served).
        interrupt_before: nodes to pause before (for a human to look first).
        interrupt_after: nodes to pause after.

    Returns:
        The runnable compiled graph.

    Raises:
        GraphSetupError: the graph is malformed (no entry point, an edge to an unknown node, ...).

    Example:
        >>> from langgraph.graph import StateGraph, START
        >>> from typing import TypedDict
        >>> class S(TypedDict):
        ...     n: int
        >>> g = StateGraph(S)
        >>> _ = g.add_node("double", lambda s: {"n": s["n"] * 2})
        >>> _ = g.add_edge(START, "double")
        >>> compile_graph(g).invoke({"n": 21})
        {'n': 42}
    """
    if isinstance(graph, StateGraph):
        try:
            return graph.compile(
                checkpointer=checkpointer,
                store=store,
                name=name,
                interrupt_before=interrupt_before,
                interrupt_after=interrupt_after,
            )
        except ValueError as exc:
            raise GraphSetupError(f"graph cannot be compiled: {exc}") from exc
    if isinstance(graph, Pregel):
        update: dict[str, Any] = {"checkpointer": checkpointer, "store": store}
        if name:
            update["name"] = name
        if interrupt_before is not None:
            update["interrupt_before_nodes"] = interrupt_before
        if interrupt_after is not None:
            update["interrupt_after_nodes"] = interrupt_after
        return graph.copy(update=update)
    raise GraphSetupError(f"expected a StateGraph or a compiled graph, got {type(graph).__name__}")
