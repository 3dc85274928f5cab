"""One budget for every prebuilt graph: each stops starting model work at its `Budget` (calls, tokens or
seconds), and every graph counts the same way: its `usage` key holds every call the model received."""

from __future__ import annotations

import re
import time

import pytest
from fakes import ScriptedChatModel, call
from langchain_core.messages import AIMessage, HumanMessage

from graphwright.graphs import (
    AssistantOptions,
    PlanExecuteOptions,
    RagOptions,
    ReactOptions,
    SupervisorOptions,
    build_assistant,
    build_plan_execute,
    build_rag,
    build_react,
    build_supervisor,
    compile_graph,
)
from graphwright.nodes import Budget
from graphwright.tools import calculator

TOKENS_PER_CALL = 1000


def endless(messages, tools) -> AIMessage:
    """A model that never finishes on its own: it always calls a tool, plans long, routes on, fails the critic."""
    text = messages[-1].text
    if tools == ["plan"]:
        return call("plan", "p", steps=["add one", "add two", "add three", "add four"])
    if tools == ["route"]:
        return call("route", "r", next=re.findall(r"^- (\w+)", messages[0].text, re.M)[0], reason="next")
    if tools:
        return call("calculator", f"c{len(messages)}", expression="1+1")
    if text.startswith("Question:") and "Feedback:" in text:
        return AIMessage("another query")
    return AIMessage("no idea")


def costly(messages, tools) -> AIMessage:
    reply = endless(messages, tools)
    reply.usage_metadata = {"input_tokens": 900, "output_tokens": 100, "total_tokens": TOKENS_PER_CALL}
    return reply


def slow(messages, tools) -> AIMessage:
    time.sleep(0.01)
    return endless(messages, tools)


def build(name: str, model: ScriptedChatModel, budget: Budget):
    if name == "assistant":
        return build_assistant(model, [calculator], options=AssistantOptions(budget=budget, max_revisions=10))
    if name == "react":
        return build_react(model, options=ReactOptions(budget=budget))
    if name == "plan_execute":
        return build_plan_execute(model, options=PlanExecuteOptions(budget=budget, max_steps=4))
    if name == "rag":
        return build_rag(model, options=RagOptions(budget=budget, max_revisions=10, require_citation=True))
    agents = {name: build_react(model, []) for name in ("a", "b", "c", "d")}
    return build_supervisor(model, agents=agents, options=SupervisorOptions(budget=budget, max_delegations=10))


# Calls each graph has made when it stops, for a budget of 3 calls (or 2,500 tokens at 1,000 a call): the graph
# starts no model work once the budget is spent, except the call that writes its final answer
# (plan_execute's `respond`, supervisor's `merge` of the two answers it has).
AT_THREE_CALLS = {"assistant": 3, "react": 3, "plan_execute": 4, "rag": 3, "supervisor": 5}
# ...and for a budget of seconds that the first call already spends.
AT_FIRST_CALL = {"assistant": 1, "react": 1, "plan_execute": 3, "rag": 1, "supervisor": 2}
GRAPHS = sorted(AT_THREE_CALLS)


def run(name: str, rule, budget: Budget) -> tuple[dict, ScriptedChatModel]:
    model = ScriptedChatModel(rule=rule)
    graph = compile_graph(build(name, model, budget))
    result = graph.invoke({"messages": [HumanMessage("Count forever.")]}, {"recursion_limit": 100})
    return result, model


@pytest.mark.parametrize("name", GRAPHS)
@pytest.mark.parametrize("budget", [Budget(model_calls=3), Budget(tokens=2500)], ids=["calls", "tokens"])
def test_each_prebuilt_graph_stops_at_its_budget(name: str, budget: Budget) -> None:
    result, model = run(name, costly, budget)
    assert len(model.calls) == AT_THREE_CALLS[name]
    assert result["usage"]["calls"] == len(model.calls)  # counted one way: every call the model received
    assert result["usage"]["tokens"] == TOKENS_PER_CALL * len(model.calls)


@pytest.mark.parametrize("name", GRAPHS)
def test_each_prebuilt_graph_stops_when_its_seconds_are_spent(name: str) -> None:
    result, model = run(name, slow, Budget(seconds=0.001))
    assert len(model.calls) == AT_FIRST_CALL[name]
    assert result["usage"]["calls"] == len(model.calls)
    assert result["usage"]["seconds"] >= 0.01 * len(model.calls)


def test_without_a_seconds_bound_the_same_run_goes_on_to_its_call_bound() -> None:
    result, model = run("react", slow, Budget(model_calls=3))
    assert len(model.calls) == 3 and result["usage"]["seconds"] > 0


def test_a_new_question_on_the_same_thread_starts_a_new_count() -> None:
    from graphwright.graphs import thread_config
    from graphwright.memory import open_checkpointer

    model = ScriptedChatModel(rule=costly)
    with open_checkpointer(":memory:") as saver:
        graph = compile_graph(build_react(model, options=ReactOptions(budget=Budget(model_calls=2))), checkpointer=saver)
        config = thread_config("budget-thread")
        first = graph.invoke({"messages": [HumanMessage("one")]}, config)
        second = graph.invoke({"messages": [HumanMessage("two")]}, config)
    assert first["usage"]["calls"] == 2 and second["usage"]["calls"] == 2 and len(model.calls) == 4
