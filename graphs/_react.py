"""The `react` graph: the classic reason-act loop. The model calls tools until it answers, within budget."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from ..nodes import PLANNER_PROMPT, Budget, RetrieverOptions, Usage, add_usage, make_executor, make_planner, metered, spent
from ._parts import Node, check_bounds, default_model, default_tools, retriever_for, swap_nodes


class ReactState(TypedDict):
    """State of the react graph. Start a run with `{"messages": [("human", question)]}`."""

    messages: Annotated[list[AnyMessage], add_messages]
    """The conversation: the question, model replies (tool calls or the answer), tool results."""
    answer: NotRequired[str | None]
    """The model's answer once it stops calling tools (None while it calls them)."""
    context: NotRequired[list[str]]
    """What memory recalled for the question (only when the graph has `memory`)."""
    usage: NotRequired[Annotated[Usage, add_usage]]
    """Model calls, tokens and node seconds spent on the question."""


@dataclass(frozen=True)
class ReactOptions:
    """Bounds of one react run (per question)."""

    budget: Budget = Budget(model_calls=6, tokens=8000)
    """What one question may spend; the loop stops when it is spent (a small model can loop)."""
    prompt: str = PLANNER_PROMPT
    """The system prompt of the reasoning model."""
    retriever: RetrieverOptions = RetrieverOptions()
    """How much memory is recalled before the first step (used only with `memory`)."""


def build_react(
    model: BaseChatModel | None = None,
    tools: Sequence[BaseTool] | None = None,
    memory: Any = None,
    *,
    options: ReactOptions = ReactOptions(),
    nodes: Mapping[str, Node] | None = None,
) -> StateGraph:
    """Build the react graph: `agent` (the model with tools bound) ⇄ `tools`, until it answers.

    Flow: [`retrieve` →] `agent` → `tools` (when it calls tools) → `agent` → ... → end (when it answers or
    the budget is spent).

    Args:
        model: the chat model; None loads the packaged default model.
        tools: the tools it may call; None gives the calculator.
        memory: optional long-term memory recalled once before the loop (see `graphs._parts.retriever_for`).
        options: budgets and prompt.
        nodes: replacements for nodes by name (`agent`, `tools`, `retrieve`): any `State -> update` callable.

    Returns:
        An uncompiled `StateGraph` over `ReactState`; compile it with `compile_graph`.

    Raises:
        GraphSetupError: duplicate tool names, a bound that is not positive, an unknown node override.

    Example:
        >>> from langchain_core.language_models import FakeListChatModel
        >>> from graphwright.graphs import compile_graph
        >>> graph = compile_graph(build_react(FakeListChatModel(responses=["Hi."]), tools=[]))
        >>> graph.invoke({"messages": [("human", "Hello?")]})["answer"]
        'Hi.'
    """
    model = default_model(model)
    tools = default_tools(tools)
    check_bounds(options)
    parts: dict[str, Node] = {"agent": make_planner(model, tools, prompt=options.prompt), "tools": make_executor(tools)}
    retriever = retriever_for(memory, options.retriever)
    if retriever is not None:
        parts = {"retrieve": retriever, **parts}
    parts = swap_nodes(parts, nodes)

    def after_agent(state: ReactState) -> Literal["tools", "__end__"]:
        last = state["messages"][-1]
        if isinstance(last, AIMessage) and last.tool_calls and options.budget.allows(spent(state)):
            return "tools"
        return END

    graph = StateGraph(ReactState)
    for name, node in parts.items():
        graph.add_node(name, metered(node))
    graph.add_edge(START, "retrieve" if "retrieve" in parts else "agent")
    if "retrieve" in parts:
        graph.add_edge("retrieve", "agent")
    graph.add_conditional_edges("agent", after_agent, {"tools": "tools", END: END})
    graph.add_edge("tools", "agent")
    return graph
