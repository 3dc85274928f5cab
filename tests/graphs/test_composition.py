"""Composing agents: swap a prebuilt graph's node, add nodes and edges before compiling, nest a compiled
graph as a subgraph, and fan out with `Send` to parallel retrievers."""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict

from agent_rules import arithmetic_agent
from fakes import ScriptedChatModel, call
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Send

from graphwright.graphs import ReactState, build_assistant, build_react, compile_graph
from graphwright.memory import KnowledgeGraph
from graphwright.nodes import SUB_QUESTION_PROMPT, make_cited_responder, make_plan_writer, make_retriever
from graphwright.tools import calculator


def test_a_users_callable_replaces_a_prebuilt_node() -> None:
    seen: list[str] = []

    def strict_critic(state):
        seen.append(state["answer"])
        return {"verdict": "give_up"}

    graph = compile_graph(build_assistant(ScriptedChatModel(rule=arithmetic_agent), [calculator], nodes={"critic": strict_critic}))
    result = graph.invoke({"messages": [HumanMessage("What is 6*7?")]})
    assert seen == ["It is 42."] and result["verdict"] == "give_up"


def test_nodes_and_edges_added_before_compiling_run() -> None:
    audited: list[str] = []
    graph = build_react(ScriptedChatModel(rule=arithmetic_agent))
    graph.add_node("audit", lambda state: audited.append(state["messages"][-1].text) or {})
    graph.add_edge("tools", "audit")
    graph.add_edge("audit", END)
    result = compile_graph(graph).invoke({"messages": [HumanMessage("What is 6*7?")]})
    assert audited == ["42"] and result["answer"] == "The answer is 42."


def test_a_compiled_prebuilt_graph_runs_as_a_subgraph() -> None:
    math = compile_graph(build_react(ScriptedChatModel(rule=arithmetic_agent)), name="math")
    outer = StateGraph(ReactState)
    outer.add_node("math", math)
    outer.add_node("shout", lambda state: {"answer": state["answer"].upper()})
    outer.add_edge(START, "math")
    outer.add_edge("math", "shout")
    app = compile_graph(outer)
    result = app.invoke({"messages": [HumanMessage("What is 6*7?")]})
    assert result["answer"] == "THE ANSWER IS 42."
    assert [m.type for m in result["messages"]] == ["human", "ai", "tool", "ai"]
    assert {"math:agent", "math:tools"} <= set(app.get_graph(xray=1).nodes)


class FanOut(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    plan: list[str]
    sub_question: str
    context: Annotated[list[str], operator.add]
    answer: str
    citations: list[str]


def test_send_fans_sub_questions_out_to_parallel_retrievers() -> None:
    kg = KnowledgeGraph()
    kg.add("Uvicorn", "implements", "ASGI", source="uvicorn.md")
    kg.add("Python", "created by", "Guido van Rossum", source="history")

    def rule(messages, tools):
        if tools == ["plan"]:
            return call("plan", "p", steps=["What does Uvicorn implement?", "Who created Python?"])
        return AIMessage("ASGI [1] and Guido van Rossum [2].")

    model = ScriptedChatModel(rule=rule)
    recall = make_retriever(graph=kg)
    lookups: list[str] = []

    def retrieve(state):
        lookups.append(state["sub_question"])
        return recall({"messages": [HumanMessage(state["sub_question"])]})

    graph = StateGraph(FanOut)
    graph.add_node("split", make_plan_writer(model, prompt=SUB_QUESTION_PROMPT))
    graph.add_node("retrieve", retrieve)
    graph.add_node("answer", make_cited_responder(model))
    graph.add_edge(START, "split")
    graph.add_conditional_edges("split", lambda s: [Send("retrieve", {"sub_question": q}) for q in s["plan"]], ["retrieve"])
    graph.add_edge("retrieve", "answer")
    app = compile_graph(graph)
    steps = list(app.stream({"messages": [HumanMessage("Uvicorn's protocol and Python's author?")]}, stream_mode="updates"))
    assert [list(step) for step in steps] == [["split"], ["retrieve"], ["retrieve"], ["answer"]]
    assert sorted(lookups) == ["What does Uvicorn implement?", "Who created Python?"]
    answer = steps[-1]["answer"]
    assert sorted(answer["citations"]) == ["Python created by Guido van Rossum", "Uvicorn implements ASGI"]
