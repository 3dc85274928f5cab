"""The prebuilt react, plan_execute, rag and supervisor graphs: their logic on a scripted model, their
budgets, and one short real task each on the default model."""

from __future__ import annotations

import re

import pytest
from agent_rules import arithmetic_agent
from fakes import ScriptedChatModel, call
from langchain_core.messages import AIMessage, HumanMessage

from graphwright import GraphSetupError
from graphwright.graphs import (
    PlanExecuteOptions,
    RagOptions,
    ReactOptions,
    SupervisorOptions,
    build_plan_execute,
    build_rag,
    build_react,
    build_supervisor,
    compile_graph,
)
from graphwright.memory import KnowledgeGraph
from graphwright.nodes import Budget, make_llm_critic


def ask(graph, question: str, **config):
    return compile_graph(graph).invoke({"messages": [HumanMessage(question)]}, config or None)


@pytest.fixture
def kg() -> KnowledgeGraph:
    graph = KnowledgeGraph()
    graph.add("NetworkX", "written in", "Python", source="networkx.txt")
    graph.add("Python", "created by", "Guido van Rossum", source="history")
    graph.add("Uvicorn", "implements", "ASGI", source="uvicorn.md")
    return graph


# react


def test_react_loops_through_the_tool_and_answers() -> None:
    result = ask(build_react(ScriptedChatModel(rule=arithmetic_agent)), "What is 6*7?")
    assert result["answer"] == "The answer is 42."
    assert [m.type for m in result["messages"]] == ["human", "ai", "tool", "ai"]


def test_react_stops_when_model_calls_are_spent() -> None:
    counter = iter(range(100))
    model = ScriptedChatModel(rule=lambda messages, tools: call("calculator", f"c{next(counter)}", expression="1+1"))
    result = ask(build_react(model, options=ReactOptions(budget=Budget(model_calls=3))), "loop")
    assert sum(m.type == "ai" for m in result["messages"]) == 3
    assert not result.get("answer")


def test_react_stops_when_tokens_are_spent() -> None:
    def costly(messages, tools):
        reply = call("calculator", f"c{len(messages)}", expression="1+1")
        reply.usage_metadata = {"input_tokens": 900, "output_tokens": 100, "total_tokens": 1000}
        return reply

    result = ask(build_react(ScriptedChatModel(rule=costly), options=ReactOptions(budget=Budget(tokens=2500))), "loop")
    assert sum(m.type == "ai" for m in result["messages"]) == 3  # 1000, 2000, 3000: the third crosses the budget


def test_react_recalls_memory_before_the_first_step(kg) -> None:
    model = ScriptedChatModel(rule=lambda messages, tools: AIMessage("Guido van Rossum."))
    result = ask(build_react(model, memory=kg), "Who created the language NetworkX is written in?")
    assert result["context"] == ["NetworkX written in Python", "Python created by Guido van Rossum"]
    assert "Python created by Guido van Rossum" in model.calls[0][0].text  # the agent's system prompt


# plan_execute


def test_plan_execute_does_each_step_with_the_tool_and_cites_the_last() -> None:
    result = ask(build_plan_execute(ScriptedChatModel(rule=arithmetic_agent)), "What is (2+3)*4?")
    assert result["context"] == ["compute 2+3: 5", "multiply the result by 4: 20"]
    assert result["plan"] == [] and result["answer"] == "It is 20 [2]."
    assert result["citations"] == ["multiply the result by 4: 20"]
    assert result["usage"]["calls"] == 4  # plan, two steps, respond


def test_plan_execute_replans_after_a_failed_step() -> None:
    def clumsy(messages, tools):
        text = messages[-1].text
        if tools == ["plan"]:
            return call("plan", "p", steps=["compute 6*7 again"] if "failed" in text else ["run the shell"])
        if "Step to do now: run the shell" in text:
            return call("calculator", "bad", expression="import os")
        if "Step to do now: compute 6*7" in text:
            return call("calculator", "good", expression="6*7")
        value = re.findall(r": (\d+)$", text, re.M)[-1]
        return AIMessage(f"It is {value} [1].")

    result = ask(build_plan_execute(ScriptedChatModel(rule=clumsy)), "What is 6*7?")
    assert result["replans"] == 1 and result["context"] == ["compute 6*7 again: 42"]
    assert any(m.type == "tool" and m.status == "error" for m in result["messages"])
    assert result["answer"] == "It is 42 [1]."


def test_plan_execute_budget_ends_the_steps_early() -> None:
    result = ask(build_plan_execute(ScriptedChatModel(rule=arithmetic_agent), options=PlanExecuteOptions(budget=Budget(model_calls=2))), "What is (2+3)*4?")
    assert result["context"] == ["compute 2+3: 5"] and result["plan"] == ["multiply the result by 4"]


# rag


def test_rag_answers_with_a_citation_of_the_retrieved_fact(kg) -> None:
    model = ScriptedChatModel(rule=lambda messages, tools: AIMessage("It is ASGI [1]."))
    result = ask(build_rag(model, memory=kg), "Which protocol does Uvicorn implement?")
    assert result["context"][0] == "Uvicorn implements ASGI"
    assert result["citations"] == ["Uvicorn implements ASGI"] and result["verdict"] == "approve"


def test_rag_rewrites_the_query_and_retrieves_again_when_the_answer_cites_nothing(kg) -> None:
    def rule(messages, tools):
        text = messages[-1].text
        if text.startswith("Question:") and "Feedback:" in text:
            return AIMessage("Guido van Rossum Python")  # the rewritten query
        if "Python created by Guido van Rossum" in text:
            return AIMessage("Guido van Rossum [1].")
        return AIMessage("I do not know.")

    options = RagOptions(require_citation=True)
    result = ask(build_rag(ScriptedChatModel(rule=rule), memory=kg, options=options), "Who made Uvicorn's rival?")
    assert result["query"] == "Guido van Rossum Python"
    assert "Python created by Guido van Rossum" in result["context"]
    assert result["answer"] == "Guido van Rossum [1]." and result["verdict"] == "approve"


def test_rag_approves_an_uncited_answer_unless_citations_are_required(kg) -> None:
    model = ScriptedChatModel(rule=lambda messages, tools: AIMessage("It is ASGI."))
    assert ask(build_rag(model, memory=kg), "What does Uvicorn implement?")["verdict"] == "approve"
    strict = ask(build_rag(model, memory=kg, options=RagOptions(require_citation=True)), "What does Uvicorn implement?")
    assert strict["verdict"] == "give_up" and strict["citations"] == []


def test_rag_gives_up_after_its_revisions(kg) -> None:
    model = ScriptedChatModel(rule=lambda messages, tools: AIMessage("no idea"))
    result = ask(build_rag(model, memory=kg, options=RagOptions(max_revisions=2, require_citation=True)), "Unanswerable?")
    assert result["verdict"] == "give_up"
    assert sum(m.type == "human" and m.name == "critic" for m in result["messages"]) == 2


def test_rag_fans_sub_questions_out_to_parallel_retrievals(kg) -> None:
    def rule(messages, tools):
        if tools == ["plan"]:
            return call("plan", "p", steps=["What does Uvicorn implement?", "Who created Python?"])
        return AIMessage("ASGI [1], Guido van Rossum [2].")

    graph = compile_graph(build_rag(ScriptedChatModel(rule=rule), memory=kg, options=RagOptions(sub_questions=2)))
    steps = list(graph.stream({"messages": [HumanMessage("Uvicorn and Python?")]}, stream_mode="updates"))
    retrieval_step = [step for step in steps if "retrieve" in step]
    assert len(retrieval_step) == 2 and steps.index(retrieval_step[1]) == steps.index(retrieval_step[0]) + 1
    final = graph.invoke({"messages": [HumanMessage("Uvicorn and Python?")]})
    assert "Uvicorn implements ASGI" in final["context"] and "Python created by Guido van Rossum" in final["context"]


def test_rag_with_an_llm_critic_swapped_in(kg) -> None:
    def rule(messages, tools):
        if tools == ["review"]:
            return call("review", "r", score=2 if "Paris" in messages[-1].text else 5, problem="Not supported.")
        return AIMessage("ASGI [1]." if "Fix this" in messages[-1].text else "Paris [1].")

    model = ScriptedChatModel(rule=rule)
    result = ask(build_rag(model, memory=kg, nodes={"critic": make_llm_critic(model)}), "What does Uvicorn implement?")
    assert result["score"] == 5 and result["answer"] == "ASGI [1]." and result["verdict"] == "approve"


# supervisor


def test_supervisor_delegates_then_finishes_with_the_agents_answer() -> None:
    model = ScriptedChatModel(rule=arithmetic_agent)
    result = ask(build_supervisor(model), "What is 6*7?")
    assert [m.name for m in result["messages"] if m.type == "ai" and m.name] == ["calculator"]
    assert result["answer"] == "The answer is 42."
    assert result["usage"]["calls"] == 4  # route, the agent's two calls, route again (finish)


def test_supervisor_runs_user_agents_and_merges_their_answers() -> None:
    def rule(messages, tools):
        if tools == ["route"]:
            offered = re.findall(r"^- (\w+)", messages[0].text, re.M)
            return call("route", "r", next=offered[0], reason="next")
        if "Sources:" in messages[-1].text:
            return AIMessage("Both [1] [2].")
        return AIMessage(f"from {messages[0].text.split()[0]}")

    from graphwright.graphs import build_react

    agents = {
        "alpha": (build_react(ScriptedChatModel(rule=lambda m, t: AIMessage("alpha says 1")), []), "first"),
        "beta": compile_graph(build_react(ScriptedChatModel(rule=lambda m, t: AIMessage("beta says 2")), [])),
    }
    result = ask(build_supervisor(ScriptedChatModel(rule=rule), agents=agents), "Ask both.")
    assert result["context"] == ["alpha: alpha says 1", "beta: beta says 2"]
    assert result["answer"] == "Both [1] [2]." and result["citations"] == result["context"]


def test_supervisor_delegation_bound() -> None:
    def rule(messages, tools):
        if tools != ["route"]:
            return AIMessage("merged [1] [2]")
        offered = re.findall(r"^- (\w+)", messages[0].text, re.M)
        return call("route", "r", next=offered[0], reason="next")

    agents = {name: build_react(ScriptedChatModel(rule=lambda m, t, n=name: AIMessage(n)), []) for name in ("a", "b", "c")}
    result = ask(build_supervisor(ScriptedChatModel(rule=rule), agents=agents, options=SupervisorOptions(max_delegations=2)), "Go.")
    assert result["consulted"] == ["a", "b"]


@pytest.mark.parametrize("bad", [{}, {"merge": None}, {"not an id": None}])
def test_supervisor_rejects_bad_agent_sets(bad) -> None:
    agents = {name: build_react(ScriptedChatModel(rule=lambda m, t: AIMessage("x")), []) for name in bad}
    with pytest.raises(GraphSetupError):
        build_supervisor(ScriptedChatModel(rule=arithmetic_agent), agents=agents)


@pytest.mark.parametrize("builder", [build_react, build_plan_execute, build_rag, build_supervisor])
def test_bounds_and_overrides_are_checked_at_build_time(builder) -> None:
    model = ScriptedChatModel(rule=arithmetic_agent)
    with pytest.raises(GraphSetupError, match="no node 'nosuch'"):
        builder(model, nodes={"nosuch": lambda state: {}})
    options = {build_react: ReactOptions, build_plan_execute: PlanExecuteOptions, build_rag: RagOptions, build_supervisor: SupervisorOptions}[builder]
    with pytest.raises(GraphSetupError, match="budget.model_calls"):
        builder(model, options=options(budget=Budget(model_calls=0)))
    with pytest.raises(GraphSetupError, match="budget.seconds"):
        builder(model, options=options(budget=Budget(seconds=0)))


# the real default model: one short task per graph


@pytest.mark.model
def test_real_model_react(local_chat_model) -> None:
    result = ask(build_react(local_chat_model, options=ReactOptions(budget=Budget(model_calls=3))), "What is 12 * 12 - 4?")
    assert any(m.type == "tool" and m.text == "140" for m in result["messages"])


@pytest.mark.model
def test_real_model_plan_execute(local_chat_model) -> None:
    result = ask(build_plan_execute(local_chat_model, options=PlanExecuteOptions(max_steps=2)), "What is 37 * 3?")
    assert any(m.type == "tool" and m.text == "111" for m in result["messages"]), result["messages"]


@pytest.mark.model
def test_real_model_rag(local_chat_model, kg) -> None:
    result = ask(build_rag(local_chat_model, memory=kg, options=RagOptions(max_revisions=0)), "What does Uvicorn implement?")
    assert "ASGI" in result["answer"]


@pytest.mark.model
def test_real_model_supervisor(local_chat_model) -> None:
    result = ask(build_supervisor(local_chat_model, options=SupervisorOptions(max_delegations=1)), "What is 25 * 4?")
    assert "100" in result["answer"]


def test_assistant_with_memory_recalls_before_planning(kg) -> None:
    from graphwright.graphs import build_assistant

    model = ScriptedChatModel(rule=lambda messages, tools: AIMessage("Guido van Rossum."))
    graph = build_assistant(model, memory=kg)
    assert "retriever" in graph.nodes
    result = ask(graph, "Who created the language NetworkX is written in?")
    assert result["context"] == ["NetworkX written in Python", "Python created by Guido van Rossum"]
    assert "Python created by Guido van Rossum" in model.calls[0][0].text and result["verdict"] == "approve"


@pytest.mark.parametrize("name", ["assistant", "plan_execute", "rag", "react", "supervisor"])
def test_every_conditional_edge_declares_its_destinations(name: str) -> None:
    from graphwright.graphs import BUILTIN_GRAPHS, load_graph

    assert name in BUILTIN_GRAPHS
    graph = load_graph(name, model=ScriptedChatModel(rule=arithmetic_agent))
    assert graph.branches, name
    for source, branches in graph.branches.items():
        for branch in branches.values():
            assert branch.ends and set(branch.ends.values()) <= {*graph.nodes, "__end__"}, (name, source)
