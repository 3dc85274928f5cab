"""The assistant graph's logic on a scripted model: tool path, direct answers, critic loops, bounds.

These build the assistant with the calculator, so the planner calls tools; without tools it acts by writing
programs (tests/nodes/test_code.py).
"""

from __future__ import annotations

import re

import pytest
from fakes import ScriptedChatModel, call
from langchain_core.messages import AIMessage, HumanMessage

from graphwright import GraphSetupError, calculator
from graphwright.graphs import AssistantOptions, build_assistant, compile_graph, thread_config
from graphwright.memory import open_checkpointer
from graphwright.nodes import CRITIC_WRITES, PLANNER_WRITES, RESPONDER_WRITES, Budget


def arithmetic(messages, tool_names) -> AIMessage:
    text = messages[-1].text
    if "Tool results:" in text:
        result = re.findall(r"returned: (\S+)", text)[-1]
        return AIMessage(f"It is {result}.")
    if tool_names and messages[-1].type == "human":
        return call("calculator", "c1", expression=re.search(r"What is (.*)\?", text).group(1))
    return AIMessage("done")


def run(model, question: str, **options):
    graph = compile_graph(build_assistant(model=model, tools=[calculator], **options))
    return graph.invoke({"messages": [HumanMessage(question)]})


def test_tool_path_answers_from_the_tool_result() -> None:
    result = run(ScriptedChatModel(rule=arithmetic), "What is 6 * 7?")
    assert result["answer"] == "It is 42."
    assert result["verdict"] == "approve"
    assert [m.type for m in result["messages"]] == ["human", "ai", "tool", "ai"]


def test_direct_answer_goes_straight_to_the_critic() -> None:
    model = ScriptedChatModel(rule=lambda messages, tools: AIMessage("Paris."))
    result = run(model, "Capital of France?")
    assert result["answer"] == "Paris." and result["verdict"] == "approve"
    assert len(model.calls) == 1


def test_critic_sends_an_ungrounded_answer_back_then_gives_up() -> None:
    def stubborn(messages, tools):
        if messages[-1].type == "human" and messages[-1].name is None and tools:
            return call("calculator", "c1", expression="6*7")
        return AIMessage("I think it is 41.")

    result = run(ScriptedChatModel(rule=stubborn), "What is 6*7?", options=AssistantOptions(max_revisions=1))
    assert result["verdict"] == "give_up"
    feedback = [m for m in result["messages"] if m.type == "human" and m.name == "critic"]
    assert len(feedback) == 1 and "does not state the result" in feedback[0].text


def test_critic_revision_is_used_by_the_planner() -> None:
    def learns(messages, tools):
        if messages[-1].type == "human" and messages[-1].name == "critic":
            return AIMessage("Paris is the capital.")
        return AIMessage("")

    result = run(ScriptedChatModel(rule=learns), "Capital of France?")
    assert result["answer"] == "Paris is the capital." and result["verdict"] == "approve"


def test_model_call_limit_stops_a_looping_planner() -> None:
    counter = iter(range(100))
    model = ScriptedChatModel(rule=lambda messages, tools: call("calculator", f"c{next(counter)}", expression="1+1") if tools else AIMessage(""))
    result = run(model, "loop", options=AssistantOptions(budget=Budget(model_calls=3), max_revisions=5))
    ai_turns = [m for m in result["messages"] if m.type == "ai"]
    assert len(ai_turns) <= 3 + 1
    assert result.get("verdict") != "approve"


def test_bad_tool_arguments_come_back_as_an_error_message() -> None:
    def wrong(messages, tools):
        if tools and messages[-1].type == "human":
            return call("calculator", "c1", expression="import os")
        return AIMessage("It failed.")

    result = run(ScriptedChatModel(rule=wrong), "What is it?")
    tool_message = next(m for m in result["messages"] if m.type == "tool")
    assert tool_message.status == "error" and "not an arithmetic expression" in tool_message.text


def test_duplicate_tool_names_fail_at_build_time() -> None:
    with pytest.raises(GraphSetupError, match="unique"):
        build_assistant(model=ScriptedChatModel(rule=arithmetic), tools=[calculator, calculator])


def test_nodes_write_only_the_keys_they_declare() -> None:
    declared = {"planner": PLANNER_WRITES, "responder": RESPONDER_WRITES, "critic": CRITIC_WRITES}
    graph = compile_graph(build_assistant(model=ScriptedChatModel(rule=arithmetic), tools=[calculator]))
    seen = set()
    for chunk in graph.stream({"messages": [HumanMessage("What is 2+2?")]}, stream_mode="updates"):
        for node, update in chunk.items():
            if node in declared:  # and `usage`: the graph meters every node (model calls, tokens, seconds)
                assert set(update) <= declared[node] | {"usage"} and "usage" in update, node
                seen.add(node)
    assert seen == set(declared)


def test_a_thread_remembers_across_questions_and_bounds_reset_per_question() -> None:
    with open_checkpointer(":memory:") as saver:
        graph = compile_graph(build_assistant(model=ScriptedChatModel(rule=arithmetic), tools=[calculator]), checkpointer=saver)
        config = thread_config("t")
        graph.invoke({"messages": [HumanMessage("What is 2+2?")]}, config)
        second = graph.invoke({"messages": [HumanMessage("What is 3+3?")]}, config)
    assert second["answer"] == "It is 6." and second["verdict"] == "approve"
    assert sum(m.type == "human" for m in second["messages"]) == 2


@pytest.mark.model
def test_assistant_answers_on_the_default_model(local_chat_model) -> None:
    result = run(local_chat_model, "What is 12 * 12 - 4?")
    assert any(m.type == "tool" and m.text == "140" for m in result["messages"])
    assert "140" in result["answer"] and result["verdict"] == "approve"


def test_without_tools_the_assistant_acts_by_code() -> None:
    model = ScriptedChatModel(rule=lambda messages, tools: AIMessage("```python\nprint(6 * 7)\n```"))
    result = compile_graph(build_assistant(model=model)).invoke({"messages": [HumanMessage("What is 6 * 7?")]})
    assert [m.type for m in result["messages"]] == ["human", "ai", "tool", "ai"]
    assert result["messages"][1].tool_calls[0]["name"] == "python"
    assert result["answer"] == "42" and result["verdict"] == "approve"
