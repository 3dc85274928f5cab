"""The `plan_execute` graph: write a plan, do its steps one by one with tools, re-plan when a step fails.

Each step is one model call with the tools bound, on a prompt built from the question, the results so far
and the step; a tool call it makes runs through the executor node (policy, approval, ledger). The step's
result is the tool's output or the model's reply. Then a citing responder answers from the step results.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from ..nodes import (
    Budget,
    RetrieverOptions,
    Usage,
    add_usage,
    distinct_call_ids,
    make_cited_responder,
    make_executor,
    make_plan_writer,
    metered,
    question_of,
    spent,
)
from ._parts import Node, check_bounds, default_model, default_tools, retriever_for, swap_nodes

STEP_PROMPT = (
    "You do one step of a plan. Call a tool if the step needs a calculation or a lookup; otherwise reply "
    "with the step's result in a few words."
)
"""The system prompt of a plan step."""


class PlanExecuteState(TypedDict):
    """State of the plan_execute graph. Start a run with `{"messages": [("human", question)]}`."""

    messages: Annotated[list[AnyMessage], add_messages]
    """The question, each step's model reply and tool results, and the final answer."""
    plan: NotRequired[list[str]]
    """The steps still to do, next first."""
    context: NotRequired[Annotated[list[str], operator.add]]
    """One line per finished step: `step: result`."""
    failure: NotRequired[str | None]
    """Why the last step failed (None when it did not)."""
    replans: NotRequired[Annotated[int, operator.add]]
    """How many times the plan was rewritten."""
    answer: NotRequired[str | None]
    """The final answer."""
    citations: NotRequired[list[str]]
    """The step results the answer cites."""
    usage: NotRequired[Annotated[Usage, add_usage]]
    """Model calls, tokens and node seconds spent on the question."""


@dataclass(frozen=True)
class PlanExecuteOptions:
    """Bounds of one plan_execute run (per question)."""

    max_steps: int = 4
    """The most steps a plan may have."""
    max_replans: int = 1
    """Times the plan may be rewritten after a failed step."""
    budget: Budget = Budget(model_calls=10, tokens=12000)
    """What one question may spend; remaining steps are skipped once it is spent."""
    retriever: RetrieverOptions = RetrieverOptions()
    """How much memory is recalled before planning (used only with `memory`)."""


def make_step_runner(model: BaseChatModel, tools: Sequence[BaseTool], *, prompt: str = STEP_PROMPT) -> Node:
    """Return a node that does the plan's next step: one model call with tools, and the calls it makes.

    Reads: `messages` (the question), `plan`, `context`. Writes: `messages` (the reply and tool results),
    and on success `plan` (the rest) and `context` (`step: result`), on failure `failure`.
    """
    bound = model.bind_tools(list(tools)) if tools else model
    run_tools = make_executor(list(tools))
    system = SystemMessage(prompt)

    def step_runner(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        plan = list(state.get("plan") or [])
        if not plan:
            return {"failure": None}
        step = plan[0]
        done = "".join(f"\n- {line}" for line in state.get("context") or [])
        question = question_of(state["messages"])
        request = HumanMessage(f"Question: {question}\nDone so far:{done or ' nothing'}\nStep to do now: {step}")
        reply = distinct_call_ids(bound.invoke([system, request]))
        produced: list[AnyMessage] = [reply]
        if reply.tool_calls or reply.invalid_tool_calls:
            results = run_tools({"messages": [reply]}, config)["messages"]
            produced += results
            good = [m.text for m in results if isinstance(m, ToolMessage) and m.status != "error"]
            if not good:
                why = results[0].text if results else "the tool call could not be run"
                return {"messages": produced, "failure": f"{step}: {why}"[:300]}
            result = "; ".join(good)
        else:
            result = reply.text.strip()
            if not result:
                return {"messages": produced, "failure": f"{step}: no result"}
        return {"messages": produced, "plan": plan[1:], "context": [f"{step}: {result}"], "failure": None}

    return step_runner


def build_plan_execute(
    model: BaseChatModel | None = None,
    tools: Sequence[BaseTool] | None = None,
    memory: Any = None,
    *,
    options: PlanExecuteOptions = PlanExecuteOptions(),
    nodes: Mapping[str, Node] | None = None,
) -> StateGraph:
    """Build the plan_execute graph: `plan` → `step` (repeated) → `respond`, with `replan` after a failure.

    Flow: [`retrieve` →] `plan` → `step`; after a step: more steps → `step`, a failure with re-plans left →
    `replan` → `step`, otherwise → `respond` → end. `options.budget` ends the steps early.

    Args:
        model: the chat model; None loads the packaged default model.
        tools: the tools steps may call; None gives the calculator.
        memory: optional long-term memory recalled before planning (its items start `context`).
        options: plan size, re-plans and budgets.
        nodes: replacements by name (`retrieve`, `plan`, `step`, `replan`, `respond`).

    Returns:
        An uncompiled `StateGraph` over `PlanExecuteState`.

    Raises:
        GraphSetupError: duplicate tool names, a bound out of range, an unknown node override.
    """
    model = default_model(model)
    tools = default_tools(tools)
    check_bounds(options)
    writer = make_plan_writer(model, max_steps=options.max_steps)

    def replan(state: dict[str, Any]) -> dict[str, Any]:
        """Reads: as the plan writer. Writes: `plan`, `replans` (+1), `failure` (cleared)."""
        return {**writer(state), "replans": 1, "failure": None}

    parts: dict[str, Node] = {
        "plan": writer,
        "step": make_step_runner(model, tools),
        "replan": replan,
        "respond": make_cited_responder(model),
    }
    retriever = retriever_for(memory, options.retriever)
    if retriever is not None:
        parts = {"retrieve": retriever, **parts}
    parts = swap_nodes(parts, nodes)

    def after_step(state: PlanExecuteState) -> Literal["step", "replan", "respond"]:
        if not options.budget.allows(spent(state)):
            return "respond"
        if state.get("failure"):
            return "replan" if state.get("replans", 0) < options.max_replans else "respond"
        return "step" if state.get("plan") else "respond"

    graph = StateGraph(PlanExecuteState)
    for name, node in parts.items():
        graph.add_node(name, metered(node))
    if "retrieve" in parts:
        graph.add_edge(START, "retrieve")
        graph.add_edge("retrieve", "plan")
    else:
        graph.add_edge(START, "plan")
    graph.add_edge("plan", "step")
    graph.add_conditional_edges("step", after_step, ["step", "replan", "respond"])
    graph.add_edge("replan", "step")
    graph.add_edge("respond", END)
    return graph
