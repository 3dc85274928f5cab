"""A custom graph composed from graphwright's nodes: the plan writer splits the question into independent
sub-questions, `Send` hands each to its own retriever at once, and the citing responder answers.

Run: python examples/custom_fanout.py
"""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict

from _show import run_and_show
from langchain_core.messages import AnyMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Send

from graphwright.graphs import compile_graph
from graphwright.memory import KnowledgeGraph
from graphwright.models import ChatLocal
from graphwright.nodes import SUB_QUESTION_PROMPT, make_cited_responder, make_plan_writer, make_retriever

QUESTION = "Which protocol does Uvicorn implement, and who created Python?"
EXPECTED = "ASGI"


class FanOutState(TypedDict, total=False):
    """The question, its sub-questions, what the retrievers found, and the cited answer."""

    messages: Annotated[list[AnyMessage], add_messages]
    plan: list[str]
    sub_question: str
    context: Annotated[list[str], operator.add]
    answer: str
    citations: list[str]


def build_fanout(model, memory: KnowledgeGraph) -> StateGraph:
    """Build split → retrieve (one task per sub-question, in parallel) → answer."""
    recall = make_retriever(graph=memory)
    graph = StateGraph(FanOutState)
    graph.add_node("split", make_plan_writer(model, max_steps=2, prompt=SUB_QUESTION_PROMPT))
    graph.add_node("retrieve", lambda state: recall({"messages": [HumanMessage(state["sub_question"])]}))
    graph.add_node("answer", make_cited_responder(model))
    graph.add_edge(START, "split")
    graph.add_conditional_edges("split", lambda s: [Send("retrieve", {"sub_question": q}) for q in s["plan"]], ["retrieve"])
    graph.add_edge("retrieve", "answer")
    graph.add_edge("answer", END)
    return graph


def main(model=None) -> dict:
    """Build the knowledge graph and the custom graph, run it on `QUESTION`; return the final state."""
    model = model or ChatLocal(max_new_tokens=64)
    memory = KnowledgeGraph()
    memory.add("Uvicorn", "implements", "ASGI", source="uvicorn METADATA")
    memory.add("Python", "created by", "Guido van Rossum", source="python.org")
    return run_and_show(compile_graph(build_fanout(model, memory)), QUESTION)


if __name__ == "__main__":
    main()
