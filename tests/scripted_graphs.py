"""Graphs on the scripted fake model, importable as `scripted_graphs:NAME` by CLI subprocess tests.

Environment: GW_SLOW (seconds the `slow_add` tool sleeps), GW_MARKER (a file the tool appends "started" to
before sleeping, so a test knows the run is inside the tool step).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from fakes import ScriptedChatModel, call
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.tools import tool

from graphwright.graphs import build_assistant


@tool
def slow_add(a: int, b: int) -> int:
    """Add two integers, slowly.

    Args:
        a: first addend.
        b: second addend.
    """
    marker = os.environ.get("GW_MARKER")
    if marker:
        with Path(marker).open("a") as fh:
            fh.write("started\n")
    time.sleep(float(os.environ.get("GW_SLOW", "0")))
    return a + b


def adding_rule(messages: list[BaseMessage], tool_names: list[str]) -> AIMessage:
    """Planner: add the two numbers in the question with `slow_add`. Responder: state the tool's result."""
    text = messages[-1].text
    if "Tool results:" in text:
        result = re.findall(r"returned: (-?\d+)", text)[-1]
        return AIMessage(f"The answer is {result}.")
    if tool_names and not any(isinstance(m, ToolMessage) for m in messages):
        a, b = (int(n) for n in re.findall(r"-?\d+", text)[:2])
        return call("slow_add", "call-add-1", a=a, b=b)
    return AIMessage("I cannot tell.")


def slow_assistant():
    """The assistant graph with the scripted adder and the slow tool."""
    return build_assistant(model=ScriptedChatModel(rule=adding_rule), tools=[slow_add])
