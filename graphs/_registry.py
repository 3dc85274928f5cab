"""Finding a graph by reference: a built-in name such as `assistant`, or `module:attr` for your own."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel

from ..errors import GraphNotFoundError
from ._assistant import build_assistant
from ._env_agent import build_env_agent, build_random_agent
from ._plan_execute import build_plan_execute
from ._rag import build_rag
from ._react import build_react
from ._supervisor import build_supervisor

BUILTIN_GRAPHS: dict[str, Callable[..., StateGraph]] = {
    "assistant": build_assistant,
    "env_agent": build_env_agent,
    "plan_execute": build_plan_execute,
    "rag": build_rag,
    "random": build_random_agent,
    "react": build_react,
    "supervisor": build_supervisor,
}
"""Built-in graph names and their builders; each builder takes `model=` (except `random`, which has no model) and
returns a `StateGraph`. `env_agent` and `random` built without an environment take it from each episode's input
(`{"env": "twx:coin", "seed": 0}`)."""

DEFAULT_GRAPH = "assistant"
"""The graph commands use when none is named."""


def load_graph(ref: str, *, model: BaseChatModel | None = None) -> StateGraph | Pregel:
    """Return the graph `ref` names: a built-in name, or `module:attr` for a graph in your own code.

    `attr` may be a `StateGraph`, a compiled graph, or a function that returns one (called with `model=`
    when it takes that argument and a model is given). The current folder is importable, as with
    `python -m`.

    Args:
        ref: `assistant`, or e.g. `my_agents:graph` or `my_agents.support:build_graph`.
        model: a chat model for the builders that take one; None lets them choose (the default model).

    Raises:
        GraphNotFoundError: the name is unknown, the module cannot be imported, the attribute is missing,
            or it is not a graph.

    Example:
        >>> type(load_graph("assistant")).__name__
        'StateGraph'
    """
    target = graph_target(ref)
    if isinstance(target, (StateGraph, Pregel)):
        return target
    try:
        built = _call_builder(target, model)
    except TypeError as exc:
        if ref in BUILTIN_GRAPHS:
            raise
        raise GraphNotFoundError(f"{ref!r} could not be called as a graph builder: {exc}") from exc
    if isinstance(built, (StateGraph, Pregel)):
        return built
    raise GraphNotFoundError(f"{ref!r} returned {type(built).__name__}, not a StateGraph or compiled graph")


def graph_target(ref: str) -> Any:
    """Return what `ref` names without building it: a built-in's builder, or the graph or builder at `module:attr`.

    For callers that build the graph themselves (with learned examples, say); `load_graph` builds it.

    Raises:
        GraphNotFoundError: the name is unknown, the module cannot be imported, the attribute is missing,
            or it is neither a graph nor callable.

    Example:
        >>> graph_target("assistant").__name__
        'build_assistant'
    """
    if ref in BUILTIN_GRAPHS:
        return BUILTIN_GRAPHS[ref]
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise GraphNotFoundError(
            f"unknown graph {ref!r}: use a built-in name ({', '.join(sorted(BUILTIN_GRAPHS))}) or module:attr"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise GraphNotFoundError(f"cannot import module {module_name!r} for graph {ref!r}: {exc}") from exc
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise GraphNotFoundError(f"module {module_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    if isinstance(target, (StateGraph, Pregel)) or callable(target):
        return target
    raise GraphNotFoundError(f"{ref!r} is a {type(target).__name__}, not a StateGraph, compiled graph or builder")


def _call_builder(builder: Callable[..., Any], model: BaseChatModel | None) -> Any:
    try:
        accepts_model = "model" in inspect.signature(builder).parameters
    except (TypeError, ValueError):
        accepts_model = False
    return builder(model=model) if accepts_model and model is not None else builder()
