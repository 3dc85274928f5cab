"""Parts the prebuilt graphs share: defaults, memory to a retriever, node overrides and budget checks."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool

from ..errors import GraphSetupError
from ..nodes import Budget, RetrieverOptions, make_retriever

Node = Callable[..., dict[str, Any]]


def default_model(model: BaseChatModel | None) -> BaseChatModel:
    """Return `model`, or the packaged default model (loaded on its first call) when it is None."""
    if model is not None:
        return model
    from ..models import ChatLocal

    return ChatLocal()


def default_tools(tools: Sequence[BaseTool] | None) -> list[BaseTool]:
    """Return `tools` as a list (the calculator when None), checking their names are unique.

    Raises:
        GraphSetupError: two tools share a name.
    """
    if tools is None:
        from ..tools import calculator

        tools = [calculator]
    names = [tool.name for tool in tools]
    if len(set(names)) != len(names):
        raise GraphSetupError(f"tool names must be unique, got {names}")
    return list(tools)


def retriever_for(memory: Any, options: RetrieverOptions = RetrieverOptions()) -> Node | None:
    """Return a retriever node over `memory`: a `VectorMemory`, a `KnowledgeGraph`, a `(VectorMemory,
    KnowledgeGraph)` pair, or a callable node used as is; None gives None.

    Raises:
        GraphSetupError: `memory` is none of those.
    """
    if memory is None:
        return None
    from ..memory import KnowledgeGraph, VectorMemory

    if isinstance(memory, tuple) and len(memory) == 2:
        return make_retriever(memory[0], memory[1], options=options)
    if isinstance(memory, KnowledgeGraph):
        return make_retriever(graph=memory, options=options)
    if isinstance(memory, VectorMemory):
        return make_retriever(memory, options=options)
    if callable(memory):
        return memory
    raise GraphSetupError(
        f"memory must be a VectorMemory, a KnowledgeGraph, a (VectorMemory, KnowledgeGraph) pair or a retriever node, "
        f"got {type(memory).__name__}"
    )


def swap_nodes(defaults: dict[str, Node], overrides: Mapping[str, Node] | None) -> dict[str, Node]:
    """Return `defaults` with the nodes `overrides` names replaced by the user's callables.

    Raises:
        GraphSetupError: an override names a node the graph does not have, or is not callable.
    """
    chosen = dict(defaults)
    for name, node in (overrides or {}).items():
        if name not in defaults:
            raise GraphSetupError(f"no node {name!r} to replace; this graph's nodes are {', '.join(defaults)}")
        if not callable(node):
            raise GraphSetupError(f"the replacement for node {name!r} is not callable: {node!r}")
        chosen[name] = node
    return chosen


def check_bounds(options: Any) -> None:
    """Check that every integer bound on `options` named `max_*` is positive (`max_revisions` may be 0), and so
    is every bound of its `budget`.

    Raises:
        GraphSetupError: one is not.
    """
    for name in getattr(options, "__dataclass_fields__", {}):
        value = getattr(options, name)
        if name.startswith("max_") and isinstance(value, int):
            low = 0 if name in ("max_revisions", "max_replans") else 1
            if value < low:
                raise GraphSetupError(f"{name} must be at least {low}, got {value} in {options}")
        if isinstance(value, Budget):
            for bound in ("model_calls", "tokens", "seconds"):
                limit = getattr(value, bound)
                if limit is not None and not limit > 0:
                    raise GraphSetupError(f"budget.{bound} must be positive, got {limit} in {options}")
