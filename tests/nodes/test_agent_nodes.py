"""The plan writer, LLM critic, citing responder, step runner and human approval: each writes only the keys
it declares, and does what its docstring says."""

from __future__ import annotations

import pytest
from fakes import ScriptedChatModel, call
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import START, StateGraph
from langgraph.types import Command

from graphwright import GraphSetupError, calculator
from graphwright.graphs import RagState, compile_graph, make_step_runner, thread_config
from graphwright.memory import open_checkpointer
from graphwright.nodes import (
    ANSWER_APPROVAL,
    APPROVAL_WRITES,
    CITED_RESPONDER_WRITES,
    CRITIC,
    LLM_CRITIC_WRITES,
    PLAN_WRITES,
    Budget,
    add_usage,
    cites_a_source,
    make_cited_responder,
    make_human_approval,
    make_llm_critic,
    make_plan_writer,
    metered,
    spent,
)

QUESTION = {"messages": [HumanMessage("What is (2+3)*4?")]}


def test_plan_writer_writes_the_steps_and_shows_a_failure_when_replanning() -> None:
    model = ScriptedChatModel(rule=lambda messages, tools: call("plan", "p", steps=["add", "multiply", "check", "more"]))
    node = make_plan_writer(model, max_steps=3)
    update = node({**QUESTION, "context": ["add: 5"], "failure": "multiply: bad input"})
    assert set(update) <= PLAN_WRITES and update["plan"] == ["add", "multiply", "check"]
    prompt = model.calls[-1][-1].text
    assert "Done so far:\n- add: 5" in prompt and "This step failed: multiply: bad input" in prompt


def test_plan_writer_falls_back_to_the_question_when_the_plan_cannot_be_read() -> None:
    node = make_plan_writer(ScriptedChatModel(rule=lambda messages, tools: AIMessage("no json")))
    assert node(QUESTION) == {"plan": ["What is (2+3)*4?"]}
    with pytest.raises(GraphSetupError):
        make_plan_writer(ScriptedChatModel(rule=lambda m, t: AIMessage("")), max_steps=0)


@pytest.mark.parametrize(
    ("score", "earlier_feedback", "verdict"),
    [(5, 0, "approve"), (4, 0, "approve"), (2, 0, "revise"), (2, 1, "give_up")],
)
def test_llm_critic_scores_and_routes(score: int, earlier_feedback: int, verdict: str) -> None:
    model = ScriptedChatModel(rule=lambda messages, tools: call("review", "r", score=score, problem="Use the tool result."))
    messages = [*QUESTION["messages"], *[HumanMessage("again", name=CRITIC)] * earlier_feedback]
    update = make_llm_critic(model, max_revisions=1)({"messages": messages, "answer": "20", "context": ["(2+3)*4 = 20"]})
    assert set(update) <= LLM_CRITIC_WRITES
    assert update["verdict"] == verdict and update["score"] == score
    assert ("messages" in update) == (verdict == "revise")
    if verdict == "revise":
        assert update["messages"][0].name == CRITIC and update["messages"][0].text.startswith("Use the tool result.")
    assert "Evidence:\n- (2+3)*4 = 20" in model.calls[-1][-1].text


def test_llm_critic_does_not_approve_an_unreadable_review_or_an_empty_answer() -> None:
    model = ScriptedChatModel(rule=lambda messages, tools: AIMessage("looks fine"))
    node = make_llm_critic(model)
    assert node({**QUESTION, "answer": "20"})["verdict"] == "revise"
    assert node({**QUESTION, "answer": ""})["score"] == 0
    with pytest.raises(GraphSetupError):
        make_llm_critic(model, min_score=6)


def test_cited_responder_numbers_sources_and_records_citations() -> None:
    model = ScriptedChatModel(rule=lambda messages, tools: AIMessage("It is 20 [2], see [7]."))
    update = make_cited_responder(model)({**QUESTION, "context": ["2+3 = 5", "5*4 = 20"]})
    assert set(update) <= CITED_RESPONDER_WRITES
    assert update["citations"] == ["5*4 = 20"]
    assert "[1] 2+3 = 5\n[2] 5*4 = 20" in model.calls[-1][-1].text


def test_cites_a_source_check() -> None:
    assert cites_a_source("It is 20 [1].", []) is None
    assert "cites no source" in cites_a_source("It is 20.", [])
    assert "empty" in cites_a_source("", [])


def test_step_runner_writes_result_or_failure() -> None:
    model = ScriptedChatModel(rule=lambda messages, tools: call("calculator", "s", expression="2+3" if "add" in messages[-1].text else "import os"))
    node = make_step_runner(model, [calculator])
    declared = {"messages", "plan", "context", "failure"}
    ok = node({**QUESTION, "plan": ["add", "multiply"]}, {})
    assert set(ok) <= declared and ok["context"] == ["add: 5"] and ok["plan"] == ["multiply"] and ok["failure"] is None
    bad = node({**QUESTION, "plan": ["multiply"]}, {})
    assert set(bad) <= declared and "plan" not in bad and bad["failure"].startswith("multiply: ")


def test_metered_counts_model_calls_including_nested_ones() -> None:
    model = ScriptedChatModel(rule=lambda messages, tools: AIMessage("one two three"))

    def two_calls(state):
        model.invoke("a")
        inner = metered(lambda s: {"x": model.invoke("b").text})
        return {"inner": inner(state)["usage"]}

    update = metered(two_calls)(QUESTION)
    assert update["usage"]["calls"] == 2 and update["inner"]["calls"] == 1
    assert update["usage"]["question"] == QUESTION["messages"][0].id or update["usage"]["question"] == ""
    assert update["usage"]["seconds"] >= update["inner"]["seconds"] >= 0  # the outer node's time holds the inner's
    assert add_usage(update["usage"], update["usage"])["calls"] == 4


async def test_metered_keeps_an_async_node_async() -> None:
    import inspect

    model = ScriptedChatModel(rule=lambda messages, tools: AIMessage("one two three"))

    async def one_call(state):
        return {"x": (await model.ainvoke("a")).text}

    node = metered(one_call)
    assert inspect.iscoroutinefunction(node)
    update = await node(QUESTION)
    assert update["x"] == "one two three" and update["usage"]["calls"] == 1


def test_a_budget_allows_work_while_every_bound_is_under_its_limit() -> None:
    budget = Budget(model_calls=3, tokens=1000, seconds=2.0)
    assert budget.allows(spent({}))  # nothing spent yet
    assert budget.allows({"calls": 2, "tokens": 999, "seconds": 1.9})
    assert not budget.allows({"calls": 3, "tokens": 0, "seconds": 0.0})
    assert not budget.allows({"calls": 0, "tokens": 1000, "seconds": 0.0})
    assert not budget.allows({"calls": 0, "tokens": 0, "seconds": 2.0})
    assert Budget(seconds=None).allows({"calls": 0, "tokens": 0, "seconds": 1e9})


def test_spent_counts_only_the_current_question() -> None:
    usage = {"question": "q1", "calls": 2, "tokens": 10, "seconds": 0.5}
    assert spent({"messages": [HumanMessage("one", id="q1")], "usage": usage})["calls"] == 2
    assert spent({"messages": [HumanMessage("another", id="other")], "usage": usage})["calls"] == 0


@pytest.mark.parametrize(
    ("decision", "verdict", "answer"),
    [("approve", "approve", "20"), ({"action": "edit", "answer": "It is 20."}, "approve", "It is 20."), ({"action": "reject", "reason": "wrong"}, "revise", "20"), ("maybe", "revise", "20")],
)
def test_human_approval_interrupts_then_applies_the_decision(decision, verdict: str, answer: str) -> None:
    graph = StateGraph(RagState)
    graph.add_node("approve", make_human_approval())
    graph.add_edge(START, "approve")
    with open_checkpointer(":memory:") as saver:
        app = compile_graph(graph, checkpointer=saver)
        config = thread_config("approval")
        app.invoke({**QUESTION, "answer": "20"}, config)
        pending = app.get_state(config).tasks[0].interrupts[0].value
        assert pending == {"type": ANSWER_APPROVAL, "question": "What is (2+3)*4?", "answer": "20"}
        updates = [chunk for chunk in app.stream(Command(resume=decision), config, stream_mode="updates")]
        final = app.get_state(config).values
    written = updates[0]["approve"]
    assert set(written) <= APPROVAL_WRITES
    assert final["verdict"] == verdict and final["answer"] == answer
    if verdict == "revise":
        assert final["messages"][-1].name == CRITIC
