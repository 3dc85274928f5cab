"""The `assistant` graph: planner ⇄ tools, a responder that answers from tool results, and a critic.

By default (no tools given) its action is code: the planner samples short Python programs, the sandbox runs
them, and the responder takes the answer most of them printed.

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
    TRAINING_EXAMPLES,
    Check,
    CodeOptions,
    ExampleSource,
    RetrieverOptions,
    Usage,
    add_usage,
    fixed_examples,
    grounded_answer,
    make_code_planner,
    make_critic,
    make_executor,
    make_planner,
    make_responder,
    make_voter,
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

    budget: Budget = Budget(model_calls=24, tokens=30000)
    """What one question may spend before the run stops (a small model can loop). Sized for the code action's
    three turns (the first and two repairs) of 5 sampled programs, plus 5 step-by-step answers once: every
    sample is a model call."""
    max_revisions: int = 2
    """Times the critic may send the planner back per question."""
    retriever: RetrieverOptions = RetrieverOptions()
    """How much memory is recalled for the question (used only with `memory`)."""
    code: CodeOptions = CodeOptions()
    """How the planner writes programs (used only when the assistant acts by code: no `tools` given)."""


def build_assistant(
    model: BaseChatModel | None = None,
    tools: Sequence[BaseTool] | None = None,
    memory: Any = None,
    *,
    check: Check = grounded_answer,
    options: AssistantOptions = AssistantOptions(),
    nodes: Mapping[str, Node] | None = None,
    examples: ExampleSource | None = None,
) -> StateGraph:
    """Build the assistant graph: the planner calls tools or answers, the critic approves or sends it back.

    With no `tools`, the action is code: the planner writes short Python programs (`options.code.samples` of
    them, sampled in one batch), the sandboxed `python` tool runs them, and the responder is a voter that
    answers what most programs printed (`graphwright.nodes.make_voter`); when they split, it also asks the
    model for `options.code.step_samples` step-by-step answers, whose stated numbers vote beside them. When
    nothing answered, the critic sends the planner back, which then sees the failed program and its error. With `tools`, the
    planner calls them and the responder answers from their results with the model.

    Flow: `planner` → `tools` (when it calls tools) → `responder` (answers from the results) → `critic`;
    `planner` → `critic` when it answers directly; `critic` → `planner` to revise or → end. A run stops when
    the critic approves, gives up, or `options.budget` is spent. With `memory`, `retriever` runs first and the
    planner and responder see what it recalled (`context`).

    Args:
        model: the chat model for the planner and responder; None loads the packaged default model.
        tools: the tools the planner may call; None: the planner acts by writing programs (see above).
        memory: optional long-term memory: a `VectorMemory`, a `KnowledgeGraph`, a pair of them, or a
            retriever node.
        check: the critic's check (see `graphwright.nodes.grounded_answer`).
        options: run bounds.
        nodes: replacements for nodes by name (`planner`, `tools`, `responder`, `critic`, `retriever`).
        examples: the code planner's worked examples for a question; None: `TRAINING_EXAMPLES` (four GSM8K
            training problems as programs).

    Returns:
        An uncompiled `StateGraph` over `AssistantState`; compile it with `compile_graph`.

    Raises:
        GraphSetupError: tools have duplicate names, a bound is not positive, or an override names no node.
    """
    if model is None:
        from ..models import ChatLocal

        model = ChatLocal()
    code_action = tools is None
    if code_action:
        from ..tools import python_tool

        tools = [python_tool(permission=None)]  # no tools given: running code is the action asked for
    names = [tool.name for tool in tools]
    if len(set(names)) != len(names):
        raise GraphSetupError(f"tool names must be unique, got {names}")
    check_bounds(options)

    def budget_left(state: AssistantState) -> bool:
        return options.budget.allows(spent(state))

    def after_planner(state: AssistantState) -> Literal["tools", "critic", "__end__"]:
        last = state["messages"][-1]
        if isinstance(last, AIMessage) and last.tool_calls:
            # Programs already written cost no more model calls to run and vote on (the voter asks for
            # step-by-step answers only within the budget); a tool-calling responder would.
            return "tools" if code_action or budget_left(state) else END
        return "critic"

    def after_critic(state: AssistantState) -> Literal["planner", "__end__"]:
        if state.get("verdict") == "revise" and budget_left(state):
            return "planner"
        return END

    if code_action:
        source = fixed_examples(TRAINING_EXAMPLES) if examples is None else examples
        planner = make_code_planner(model, examples=source, options=options.code)
        responder = make_voter(model, options=options.code, budget=options.budget)
    else:
        planner, responder = make_planner(model, tools), make_responder(model)
    parts: dict[str, Node] = {
        "planner": planner,
        "tools": make_executor(list(tools)),
        "responder": responder,
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
