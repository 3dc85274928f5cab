"""Graphs the service tests serve, importable as `service_graphs:NAME` by `graphwright serve` subprocesses.

The assistant runs on the scripted fake model (graph logic only). `approval` pauses with `interrupt()` for a
human yes/no; `slow` sleeps (cancellably) for `GW_SLOW_SECONDS` (default 30) so a test can cancel it;
`counter` is the trivial graph of the benchmark. `journal` is react on the scripted model that, in one step, writes
a line to the file `$GW_JOURNAL` (a recorded side effect) and rests `$GW_REST_SECONDS`, so a test can kill its
server mid-step.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from typing import Annotated, TypedDict

from fakes import ScriptedChatModel, call
from langchain_core.messages import AIMessage, AnyMessage
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import interrupt

from graphwright.graphs import build_assistant, build_react
from graphwright.tools import calculator, register_tool


def arithmetic(messages, tool_names) -> AIMessage:
    """Planner: compute "What is X?" with the calculator. Responder: state the tool's result."""
    text = messages[-1].text
    if "Tool results:" in text:
        result = re.findall(r"returned: (\S+)", text)[-1]
        return AIMessage(f"It is {result}.")
    if tool_names and messages[-1].type == "human":
        match = re.search(r"What is (.*)\?", text)
        if match:
            return call("calculator", "c1", expression=match.group(1))
    return AIMessage("I cannot tell.")


def assistant():
    """The flagship assistant graph on the scripted model, with the calculator."""
    return build_assistant(model=ScriptedChatModel(rule=arithmetic), tools=[calculator])


class ApprovalState(TypedDict, total=False):
    request: str
    draft: str
    approved: bool
    sent: str


def _draft(state: ApprovalState) -> dict:
    get_stream_writer()({"drafted": state["request"]})
    return {"draft": f"Dear team, {state['request']}."}


def _ask(state: ApprovalState) -> dict:
    answer = interrupt({"question": "Send this email?", "draft": state["draft"]})
    return {"approved": str(answer).strip().lower() in ("yes", "y", "approve")}


def _send(state: ApprovalState) -> dict:
    return {"sent": state["draft"] if state.get("approved") else "(not sent)"}


def approval() -> StateGraph:
    """draft -> ask (interrupts for a yes/no) -> send."""
    graph = StateGraph(ApprovalState)
    graph.add_node("draft", _draft)
    graph.add_node("ask", _ask)
    graph.add_node("send", _send)
    graph.add_edge(START, "draft")
    graph.add_edge("draft", "ask")
    graph.add_edge("ask", "send")
    graph.add_edge("send", END)
    return graph


class SlowState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    steps: int


async def _tick(state: SlowState) -> dict:
    await asyncio.sleep(float(os.environ.get("GW_SLOW_SECONDS", "30")))
    return {"steps": state.get("steps", 0) + 1, "messages": [AIMessage("tick")]}


def slow() -> StateGraph:
    """One node that sleeps `GW_SLOW_SECONDS` (asynchronously, so cancelling it is immediate)."""
    graph = StateGraph(SlowState)
    graph.add_node("tick", _tick)
    graph.add_edge(START, "tick")
    graph.add_edge("tick", END)
    return graph


class CounterState(TypedDict):
    n: int


def counter() -> StateGraph:
    """n -> n + 1: the trivial graph of the benchmark."""
    graph = StateGraph(CounterState)
    graph.add_node("inc", lambda s: {"n": s["n"] + 1})
    graph.add_edge(START, "inc")
    graph.add_edge("inc", END)
    return graph


@register_tool
def note(text: str) -> str:
    """Append a line to the journal.

    Args:
        text: the line.
    """
    with open(os.environ["GW_JOURNAL"], "a") as journal:
        journal.write(text + "\n")
    return f"noted {text!r}"


@register_tool(side_effects=False, timeout=120)
def rest() -> str:
    """Rest a while (read-only), saying so in a file beside the journal first."""
    with open(os.environ["GW_JOURNAL"] + ".resting", "a") as marker:
        marker.write("resting\n")
    time.sleep(float(os.environ.get("GW_REST_SECONDS", "0")))
    return "rested"


def _journal_rule(messages, tool_names) -> AIMessage:
    if any(m.type == "tool" for m in messages):
        return AIMessage("Done: " + "; ".join(m.text for m in messages if m.type == "tool"))
    return AIMessage(
        "",
        tool_calls=[
            {"name": "note", "args": {"text": "hello"}, "id": "n1", "type": "tool_call"},
            {"name": "rest", "args": {}, "id": "r1", "type": "tool_call"},
        ],
    )


def journal():
    """react on the scripted model: one step notes a line (side effect) and rests, then it answers."""
    return build_react(ScriptedChatModel(rule=_journal_rule), tools=[note, rest])
