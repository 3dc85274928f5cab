"""The retriever node: vector, graph or both, within its token budget, on a real Chroma and the real MiniLM."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from graphwright.errors import GraphSetupError
from graphwright.memory import KnowledgeGraph, open_vector_memory, packaged_embeddings
from graphwright.nodes import CRITIC, RETRIEVER_WRITES, RetrieverOptions, approx_tokens, make_retriever

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"


@pytest.fixture(scope="module")
def memory(tmp_path_factory):
    memory = open_vector_memory(tmp_path_factory.mktemp("retriever") / "chroma", ("docs",), embeddings=packaged_embeddings())
    for name in ("networkx.txt", "aiosqlite.txt", "uvicorn.md"):
        memory.ingest_file(CORPUS / name, source=name)
    return memory


@pytest.fixture
def kg() -> KnowledgeGraph:
    graph = KnowledgeGraph()
    graph.add("NetworkX", "written in", "Python", source="networkx.txt")
    graph.add("Python", "created by", "Guido van Rossum", source="history")
    graph.add("Uvicorn", "implements", "ASGI", source="uvicorn.md")
    return graph


def ask(question: str) -> dict:
    return {"messages": [HumanMessage(question), AIMessage("draft"), HumanMessage("Be shorter.", name=CRITIC)]}


def test_vector_mode_puts_the_right_passage_in_context(memory) -> None:
    node = make_retriever(memory)
    update = node(ask("How do I find the shortest path between two nodes in a graph?"))
    assert set(update) <= RETRIEVER_WRITES
    assert update["context"][0].startswith("[networkx.txt] ")
    assert "shortest_path" in update["context"][0]


def test_graph_mode_answers_with_the_facts_two_hops_out(kg) -> None:
    node = make_retriever(graph=kg)
    update = node(ask("Who created the language NetworkX is written in?"))
    assert update == {"context": ["NetworkX written in Python", "Python created by Guido van Rossum"]}


def test_both_modes_put_facts_first_then_passages(memory, kg) -> None:
    update = make_retriever(memory, kg)(ask("Which ASGI server is Uvicorn?"))
    context = update["context"]
    assert context[0] == "Uvicorn implements ASGI"
    assert any(item.startswith("[uvicorn.md] ") for item in context[1:])


def test_the_token_budget_bounds_what_is_added(memory, kg) -> None:
    question = ask("Which ASGI server is Uvicorn, and who created Python?")
    full = make_retriever(memory, kg, options=RetrieverOptions(k=4, score_threshold=None, token_budget=10_000))(question)
    total = sum(approx_tokens(item) for item in full["context"])
    budget = total // 2
    cut = make_retriever(memory, kg, options=RetrieverOptions(k=4, score_threshold=None, token_budget=budget))(question)
    assert 0 < len(cut["context"]) < len(full["context"])
    assert sum(approx_tokens(item) for item in cut["context"]) <= budget
    assert all(item in full["context"] for item in cut["context"])
    by_chars = make_retriever(graph=kg, options=RetrieverOptions(token_budget=30), count_tokens=len)(question)
    assert sum(map(len, by_chars["context"])) <= 30


def test_threshold_and_filter_narrow_the_passages(memory) -> None:
    question = ask("How do I find the shortest path between two nodes in a graph?")
    strict = make_retriever(memory, options=RetrieverOptions(score_threshold=0.95))(question)
    assert strict == {"context": []}
    only = make_retriever(memory, options=RetrieverOptions(filter={"source": "aiosqlite.txt"}, score_threshold=None))(question)
    assert only["context"] and all(item.startswith("[aiosqlite.txt] ") for item in only["context"])


def test_no_question_and_no_memory(kg) -> None:
    assert make_retriever(graph=kg)({"messages": []}) == {"context": []}
    with pytest.raises(GraphSetupError, match="needs vector memory"):
        make_retriever()
    with pytest.raises(GraphSetupError, match="out of range"):
        make_retriever(graph=kg, options=RetrieverOptions(token_budget=0))
