"""Finding graphs by name or `module:attr`, compiling them, and checking thread ids."""

from __future__ import annotations

import pytest
from langgraph.graph import StateGraph

from graphwright import GraphNotFoundError, GraphSetupError, InvalidThreadIdError
from graphwright.graphs import check_thread_id, compile_graph, load_graph


def test_builtin_and_module_references_load() -> None:
    assert isinstance(load_graph("assistant"), StateGraph)
    assert isinstance(load_graph("scripted_graphs:slow_assistant"), StateGraph)


def test_a_compiled_graph_gets_the_given_checkpointer() -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    compiled = compile_graph(load_graph("assistant"))
    saver = InMemorySaver()
    assert compile_graph(compiled, checkpointer=saver).checkpointer is saver
    assert compiled.checkpointer is None


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("nosuch", "unknown graph 'nosuch'"),
        ("nosuchmodule:g", "cannot import module"),
        ("scripted_graphs:missing", "has no attribute"),
        ("scripted_graphs:re", "is a module"),
        ("scripted_graphs:adding_rule", "could not be called as a graph builder"),
    ],
)
def test_bad_references_raise_graph_not_found(ref: str, message: str) -> None:
    with pytest.raises(GraphNotFoundError, match=message):
        load_graph(ref)


def test_malformed_graph_fails_at_compile_time() -> None:
    from typing import TypedDict

    class S(TypedDict):
        x: int

    graph = StateGraph(S)
    graph.add_node("a", lambda s: s)
    graph.add_edge("a", "nowhere")
    with pytest.raises(GraphSetupError):
        compile_graph(graph)


@pytest.mark.parametrize("bad", ["", " ", "a b", "x" * 129, "-lead", "new\nline", "ü"])
def test_malformed_thread_ids_are_rejected(bad: str) -> None:
    with pytest.raises(InvalidThreadIdError):
        check_thread_id(bad)
