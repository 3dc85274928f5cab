"""The memory writer: only approved answers are kept; episodes and facts land in real memory, once."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired, TypedDict

import pytest
from fakes import ScriptedChatModel, call
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from graphwright.errors import GraphSetupError
from graphwright.graphs import compile_graph
from graphwright.memory import Fact, KnowledgeGraph, open_checkpointer, open_vector_memory, packaged_embeddings
from graphwright.nodes import EPISODE, MEMORY_WRITER_WRITES, make_critic, make_memory_writer, make_retriever


@pytest.fixture
def memory(tmp_path):
    return open_vector_memory(tmp_path / "chroma", ("agent", "assistant"), embeddings=packaged_embeddings())


def approved(question: str, answer: str, **extra: Any) -> dict:
    return {"messages": [HumanMessage(question), AIMessage(answer)], "answer": answer, "verdict": "approve", **extra}


CONFIG = {"configurable": {"thread_id": "t-1"}}


def test_only_an_approved_answer_is_remembered(memory) -> None:
    writer = make_memory_writer(memory)
    for verdict in ("revise", "give_up", None):
        state = {**approved("What is 2+2?", "5"), "verdict": verdict}
        assert writer(state, CONFIG) == {"remembered": []}
    assert memory.count() == 0
    update = writer(approved("What is 2+2?", "4"), CONFIG)
    assert set(update) <= MEMORY_WRITER_WRITES and len(update["remembered"]) == 1
    doc = memory.get_by_ids(update["remembered"])[0]
    assert doc.page_content == "Question: What is 2+2?\nAnswer: 4"
    assert doc.metadata == {"kind": EPISODE, "source": "thread:t-1", "thread_id": "t-1"}
    assert writer(approved("What is 2+2?", "4"), {"configurable": {"thread_id": "t-2"}})["remembered"] == update["remembered"]
    assert memory.count() == 1  # the same outcome twice is stored once


def test_facts_from_state_and_from_an_extractor_go_to_the_graph(tmp_path) -> None:
    kg = KnowledgeGraph()
    path = tmp_path / "kg.json"
    extractor = ScriptedChatModel(
        rule=lambda messages, tools: call(tools[0], "x1", facts=[{"subject": "Oslo", "relation": "capital of", "object": "Norway"}])
    )
    writer = make_memory_writer(graph=kg, extractor=extractor, graph_path=path)
    state = approved("What is the capital of Norway?", "Oslo.", facts=[{"subject": "Norway", "relation": "in", "object": "Europe"}])
    update = writer(state, CONFIG)
    assert update == {"remembered": ["Norway in Europe", "Oslo capital of Norway"]}
    saved = KnowledgeGraph.load(path)
    assert {f.sentence() for f in saved.facts()} == {"Norway in Europe", "Oslo capital of Norway"}
    assert saved.facts("Oslo")[0].sources == ("thread:t-1",)
    assert [f.sentence() for f in saved.about("Which continent is Oslo in?")] == ["Oslo capital of Norway", "Norway in Europe"]
    assert isinstance(kg.facts()[0], Fact)


def test_setup_errors() -> None:
    with pytest.raises(GraphSetupError, match="needs vector memory"):
        make_memory_writer()
    with pytest.raises(GraphSetupError, match="needs a knowledge graph"):
        make_memory_writer(open_vector_memory(":memory:", ("setup",), embeddings=packaged_embeddings()), graph_path="kg.json")


class MemoryState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    context: NotRequired[list[str]]
    answer: NotRequired[str | None]
    verdict: NotRequired[Literal["approve", "revise", "give_up"] | None]
    remembered: NotRequired[list[str]]


def _knows_password(messages, tools) -> AIMessage:
    """A model that can answer only when the password is somewhere in what it is shown."""
    seen = " ".join(m.text for m in messages)
    return AIMessage("The wifi password is plum-42." if "plum-42" in seen else "I don't know.")


def build(memory) -> StateGraph:
    model = ScriptedChatModel(rule=_knows_password)

    def answer(state: MemoryState) -> dict:
        notes = "\n".join(state.get("context") or [])
        reply = model.invoke([SystemMessage(f"Notes:\n{notes}"), *state["messages"]])
        return {"messages": [reply], "answer": reply.text}

    graph = StateGraph(MemoryState)
    graph.add_node("retriever", make_retriever(memory))
    graph.add_node("answer", answer)
    graph.add_node("critic", make_critic(lambda text, _: "unknown" if "don't know" in text else None, max_revisions=0))
    graph.add_node("remember", make_memory_writer(memory))
    graph.add_edge(START, "retriever")
    graph.add_edge("retriever", "answer")
    graph.add_edge("answer", "critic")
    graph.add_edge("critic", "remember")
    graph.add_edge("remember", END)
    return graph


def test_an_approved_run_is_recalled_by_a_later_thread(memory, tmp_path) -> None:
    with open_checkpointer(tmp_path / "runs.sqlite") as saver:
        app = compile_graph(build(memory), checkpointer=saver)
        cold = app.invoke({"messages": [("human", "What is the wifi password?")]}, {"configurable": {"thread_id": "a"}})
        assert (cold["answer"], cold["verdict"], cold["remembered"]) == ("I don't know.", "give_up", [])
        told = app.invoke(
            {"messages": [("human", "Remember that the wifi password is plum-42. What is the wifi password?")]},
            {"configurable": {"thread_id": "b"}},
        )
        assert told["verdict"] == "approve" and len(told["remembered"]) == 1
        later = app.invoke({"messages": [("human", "What is the wifi password?")]}, {"configurable": {"thread_id": "c"}})
    assert later["answer"] == "The wifi password is plum-42."
    assert any("plum-42" in item and item.startswith("[thread:b]") for item in later["context"])


@pytest.mark.model
def test_the_local_model_extracts_a_fact_the_graph_then_answers_with(local_chat_model) -> None:
    kg = KnowledgeGraph()
    kg.add("Warsaw", "capital of", "Poland", source="atlas")
    writer = make_memory_writer(graph=kg, extractor=local_chat_model)
    update = writer(approved("Where was Marie Curie born?", "Marie Curie was born in Warsaw."), CONFIG)
    assert update["remembered"], "the model extracted no fact"
    chain = kg.paths("Marie Curie", "Poland")
    assert chain and chain[0][-1].sentence() == "Warsaw capital of Poland"
    assert {f.object for f in kg.about("In which country was Marie Curie born?")} >= {"Warsaw", "Poland"}
