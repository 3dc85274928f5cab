"""The `supervisor` graph: a router that delegates the question to sub-agents (compiled graphs) and merges.

The router is the model choosing among the agents not yet consulted and "finish" (decoded under an enum
grammar with `ChatLocal`, see `graphwright.models.choose_route`). Each agent is a compiled graph run on the
question alone; its answer is added to `context` as `agent: answer`. When the router finishes (or the budget
or the agents run out), `merge` answers: with the one agent's answer as it is, or from all of them.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, NotRequired, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.pregel import Pregel

from ..errors import GraphSetupError
from ..nodes import Budget, Usage, add_usage, make_cited_responder, metered, question_of, spent
from ._parts import Node, check_bounds, default_model, default_tools, swap_nodes

FINISH = "merge"


class SupervisorState(TypedDict):
    """State of the supervisor graph. Start a run with `{"messages": [("human", question)]}`."""

    messages: Annotated[list[AnyMessage], add_messages]
    """The question, each agent's answer (an AI message named after the agent) and the final answer."""
    consulted: NotRequired[Annotated[list[str], operator.add]]
    """The agents that have answered this question, in order."""
    context: NotRequired[Annotated[list[str], operator.add]]
    """The agents' answers as `agent: answer`."""
    route: NotRequired[str]
    """The router's last choice and reason."""
    answer: NotRequired[str | None]
    """The merged final answer."""
    citations: NotRequired[list[str]]
    """The agent answers the merged answer cites."""
    usage: NotRequired[Annotated[Usage, add_usage]]
    """Model calls, tokens and node seconds spent on the question (the agents' included)."""


@dataclass(frozen=True)
class SupervisorOptions:
    """Bounds of one supervisor run (per question)."""

    max_delegations: int = 2
    """Agents consulted per question at most."""
    budget: Budget = Budget(model_calls=12, tokens=16000)
    """What one question may spend, the agents' calls included; no more delegation once it is spent."""


def default_agents(model: BaseChatModel, tools: Sequence[BaseTool], memory: Any) -> dict[str, tuple[Pregel, str]]:
    """Return the default sub-agents: `calculator` (react with `tools`) and, with memory, `research` (rag)."""
    from ._compile import compile_graph
    from ._rag import build_rag
    from ._react import build_react

    agents = {"calculator": (compile_graph(build_react(model, tools), name="calculator"), "computes with tools")}
    if memory is not None:
        research = compile_graph(build_rag(model, memory=memory), name="research")
        agents["research"] = (research, "looks things up in documents")
    else:
        agents["chat"] = (compile_graph(build_react(model, []), name="chat"), "answers from general knowledge")
    return agents


def make_agent_node(name: str, agent: Pregel) -> Node:
    """Return a node that runs the compiled graph `agent` on the question and records its answer.

    Reads: `messages` (the question). Writes: `messages` (the agent's answer, an AI message named `name`),
    `consulted`, `context` (`name: answer`).
    """

    def run_agent(state: dict[str, Any]) -> dict[str, Any]:
        result = agent.invoke({"messages": [HumanMessage(question_of(state["messages"]))]})
        answer = (result.get("answer") or "").strip() if isinstance(result, dict) else ""
        text = answer or "(no answer)"
        return {"messages": [AIMessage(text, name=name)], "consulted": [name], "context": [f"{name}: {text}"]}

    run_agent.__name__ = f"agent_{name}"
    return run_agent


def build_supervisor(
    model: BaseChatModel | None = None,
    tools: Sequence[BaseTool] | None = None,
    memory: Any = None,
    *,
    agents: Mapping[str, Pregel | StateGraph | tuple[Pregel | StateGraph, str]] | None = None,
    options: SupervisorOptions = SupervisorOptions(),
    nodes: Mapping[str, Node] | None = None,
) -> StateGraph:
    """Build the supervisor graph: `supervisor` routes to an agent node, which reports back; `merge` answers.

    Args:
        model: the chat model of the router and `merge` (and of the default agents); None loads the default.
        tools: the default `calculator` agent's tools; None gives the calculator.
        memory: with it, the default agents include `research`, a rag graph over it.
        agents: sub-agents by name: a compiled graph or `StateGraph` (compiled here), or a pair of it and a
            one-line description for the router. Each must take `{"messages": [...]}` and return `answer`.
        options: delegation and budgets.
        nodes: replacements by name (`supervisor`, `merge`, or an agent's name).

    Returns:
        An uncompiled `StateGraph` over `SupervisorState`.

    Raises:
        GraphSetupError: no agents, an agent named like a fixed node, a bound out of range, an unknown override.
    """
    from ..models import choose_route
    from ._compile import compile_graph

    model = default_model(model)
    check_bounds(options)
    if agents is None:
        chosen = default_agents(model, default_tools(tools), memory)
    else:
        chosen = {name: (value if isinstance(value, tuple) else (value, "")) for name, value in agents.items()}
    if not chosen:
        raise GraphSetupError("a supervisor needs at least one agent")
    for name in chosen:
        if name in ("supervisor", FINISH, START, END) or not name.isidentifier():
            raise GraphSetupError(f"agent name {name!r} is reserved or not an identifier")
    compiled = {
        name: compile_graph(graph) if isinstance(graph, StateGraph) else graph for name, (graph, _) in chosen.items()
    }
    descriptions = {name: text for name, (_, text) in chosen.items()}

    def supervisor(state: dict[str, Any]) -> dict[str, Any]:
        """Reads: `messages`, `consulted`, `usage`. Writes: `route` (an agent's name or "merge", and why)."""
        asked = _this_question(state, set(compiled))
        left = [name for name in compiled if name not in asked]
        if not left or len(asked) >= options.max_delegations:
            return {"route": f"{FINISH}: no agents left to ask"}
        if not options.budget.allows(spent(state)):
            return {"route": f"{FINISH}: budget spent"}
        options_ = left + ([END] if asked else [])
        if len(options_) == 1:
            return {"route": f"{options_[0]}: the only choice"}
        try:
            choice = choose_route(
                model,
                [HumanMessage(question_of(state["messages"]))],
                options_,
                instruction="Choose the agent that should answer the question, or finish if it is answered.",
                descriptions=descriptions,
            )
        except ValueError:
            fallback = FINISH if asked else left[0]
            return {"route": f"{fallback}: the router's reply could not be read"}
        return {"route": f"{FINISH if choice.next == END else choice.next}: {choice.reason}"}

    merger = make_cited_responder(model)

    def merge(state: dict[str, Any]) -> dict[str, Any]:
        """Reads: `messages`, `context`. Writes: `answer`, `messages`, `citations`."""
        answers = _answers_since_question(state["messages"], set(compiled))
        if len(answers) == 1:
            text = answers[0].text
            return {"answer": text, "messages": [AIMessage(text)], "citations": [f"{answers[0].name}: {text}"]}
        return merger({**state, "context": [f"{m.name}: {m.text}" for m in answers]})

    agent_nodes = {name: make_agent_node(name, agent) for name, agent in compiled.items()}
    parts: dict[str, Node] = {"supervisor": supervisor, **agent_nodes, FINISH: merge}
    parts = swap_nodes(parts, nodes)

    def route(state: SupervisorState) -> str:
        return (state.get("route") or FINISH).split(":", 1)[0]

    graph = StateGraph(SupervisorState)
    for name, node in parts.items():
        graph.add_node(name, metered(node))
    graph.add_edge(START, "supervisor")
    graph.add_conditional_edges("supervisor", route, {name: name for name in [*compiled, FINISH]})
    for name in compiled:
        graph.add_edge(name, "supervisor")
    graph.add_edge(FINISH, END)
    return graph


def _this_question(state: dict[str, Any], names: set[str]) -> list[str]:
    """The agents that answered the current question (from the named AI messages since it)."""
    return [m.name for m in _answers_since_question(state["messages"], names) if m.name]


def _answers_since_question(messages: Sequence[AnyMessage], names: set[str]) -> list[AIMessage]:
    found: list[AIMessage] = []
    for message in reversed(messages):
        if isinstance(message, HumanMessage) and message.name is None:
            break
        if isinstance(message, AIMessage) and message.name in names:
            found.append(message)
    return found[::-1]
