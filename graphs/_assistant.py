"""The `assistant` graph: planner ⇄ tools, a responder that answers from tool results, and a critic.

With `memory=`, a retriever recalls what long-term memory knows about the question first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from ..errors import GraphSetupError
from ..nodes import (
    Budget,
    Check,
    RetrieverOptions,
    Usage,
    add_usage,
    grounded_answer,
    make_critic,
    make_executor,
    make_planner,
    make_responder,
    metered,
    spent,
)
from ._parts import Node, check_bounds, retriever_for, swap_nodes


class AssistantState(TypedDict):
    """State of the assistant graph. Start a run with `{"messages": [("human", question)]}`."""

    messages: Annotated[list[AnyMessage], add_messages]
    """The conversation: the question, model replies, tool results, critic feedback."""
    answer: NotRequired[str | None]
    """The latest draft or final answer (None while the planner is calling tools)."""
    verdict: NotRequired[Literal["approve", "revise", "give_up"] | None]
    """The critic's verdict on `answer`."""
    context: NotRequired[list[str]]
    """What memory recalled for the question (only when the graph has `memory`)."""
    usage: NotRequired[Annotated[Usage, add_usage]]
    """Model calls, tokens and node seconds spent on the question."""


@dataclass(frozen=True)
class AssistantOptions:
    """Bounds of one assistant run."""

    budget: Budget = Budget(model_calls=8, tokens=12000)
    """What one question may spend before the run stops (a small model can loop)."""
    max_revisions: int = 2
    """Times the critic may send the planner back per question."""
    retriever: RetrieverOptions = RetrieverOptions()
    """How much memory is recalled for the question (used only with `memory`)."""


def build_assistant(
    model: BaseChatModel | None = None,
    tools: Sequence[BaseTool] | None = None,
    memory: Any = None,
    *,
    check: Check = grounded_answer,
    options: AssistantOptions = AssistantOptions(),
    nodes: Mapping[str, Node] | None = None,
) -> StateGraph:
    """Build the assistant graph: the planner calls tools or answers, the critic approves or sends it back.

    Flow: `planner` → `tools` (when it calls tools) → `responder` (answers from the results) → `critic`;
    `planner` → `critic` when it answers directly; `critic` → `planner` to revise or → end. A run stops when
    the critic approves, gives up, or `options.budget` is spent. With `memory`, `retriever` runs first and the
    planner and responder see what it recalled (`context`).

    Args:
        model: the chat model for the planner and responder; None loads the packaged default model.
        tools: the tools the planner may call; None gives the calculator.
        memory: optional long-term memory: a `VectorMemory`, a `KnowledgeGraph`, a pair of them, or a
            retriever node.
        check: the critic's check (see `graphwright.nodes.grounded_answer`).
        options: run bounds.
        nodes: replacements for nodes by name (`planner`, `tools`, `responder`, `critic`, `retriever`).

    Returns:
        An uncompiled `StateGraph` over `AssistantState`; compile it with `compile_graph`.

    Raises:
        GraphSetupError: tools have duplicate names, a bound is not positive, or an override names no node.
    """
    if model is None:
        from ..models import ChatLocal

        model = ChatLocal()
    if tools is None:
        from ..tools import calculator

        tools = [calculator]
    names = [tool.name for tool in tools]
    if len(set(names)) != len(names):
        raise GraphSetupError(f"tool names must be unique, got {names}")
    check_bounds(options)

    def budget_left(state: AssistantState) -> bool:
        return options.budget.allows(spent(state))

    def after_planner(state: AssistantState) -> Literal["tools", "critic", "__end__"]:
        last = state["messages"][-1]
        if isinstance(last, AIMessage) and last.tool_calls:
            return "tools" if budget_left(state) else END
        return "critic"

    def after_critic(state: AssistantState) -> Literal["planner", "__end__"]:
        if state.get("verdict") == "revise" and budget_left(state):
            return "planner"
        return END

    parts: dict[str, Node] = {
        "planner": make_planner(model, tools),
        "tools": make_executor(list(tools)),
        "responder": make_responder(model),
        "critic": make_critic(check, max_revisions=options.max_revisions),
    }
    retriever = retriever_for(memory, options.retriever)
    if retriever is not None:
        parts = {"retriever": retriever, **parts}
    parts = swap_nodes(parts, nodes)
    graph = StateGraph(AssistantState)
    for name, node in parts.items():
        graph.add_node(name, metered(node))
    if "retriever" in parts:
        graph.add_edge(START, "retriever")
        graph.add_edge("retriever", "planner")
    else:
        graph.add_edge(START, "planner")
    graph.add_conditional_edges("planner", after_planner, ["tools", "critic", END])
    graph.add_edge("tools", "responder")
    graph.add_edge("responder", "critic")
    graph.add_conditional_edges("critic", after_critic, ["planner", END])
    return graph
