"""Graphs with side-effecting tools on the scripted fake model, importable as `effect_graphs:NAME` by CLI tests.

Environment: GW_EFFECTS (a file each side effect appends one line to), GW_MARKER (a file `wait` appends to when
it starts), GW_SLOW (seconds `wait` sleeps), GW_UNDECLARED=1 (register `append_line` as a plain langchain tool,
so it is not recorded: the control that shows what the ledger prevents).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from fakes import ScriptedChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.tools import tool

from graphwright.graphs import build_assistant
from graphwright.tools import register_tool


def _effect(text: str) -> int:
    """Append `text` to the effects file; return how many lines it now has."""
    path = Path(os.environ["GW_EFFECTS"])
    with path.open("a") as fh:
        fh.write(text + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return len(path.read_text().splitlines())


def append_line(text: str) -> str:
    """Append a line to the effects file.

    Args:
        text: the line to append.
    """
    return f"appended line {_effect(text)}"


@register_tool(side_effects=False, timeout=120)
def wait(seconds: int) -> str:
    """Wait a while (read-only).

    Args:
        seconds: ignored; GW_SLOW decides.
    """
    marker = os.environ.get("GW_MARKER")
    if marker:
        with Path(marker).open("a") as fh:
            fh.write("waiting\n")
    time.sleep(float(os.environ.get("GW_SLOW", "0")))
    return "waited"


@register_tool(side_effects=True, needs_approval=True)
def pay(to: str, amount: int) -> str:
    """Pay someone.

    Args:
        to: who is paid.
        amount: how much.
    """
    _effect(f"paid {amount} to {to}")
    return f"paid {amount} to {to}"


def _answer_from_results(messages: list[BaseMessage]) -> AIMessage:
    text = messages[-1].text
    if "failed:" in text:
        return AIMessage("Nothing was done: " + text.split("failed:", 1)[1].strip().splitlines()[0])
    return AIMessage("Done: " + "; ".join(re.findall(r"returned: (.*)", text)) + ".")


def effect_rule(messages: list[BaseMessage], tool_names: list[str]) -> AIMessage:
    """Planner: append the question's quoted text and wait, in one step. Responder: report the results."""
    if "Tool results:" in messages[-1].text:
        return _answer_from_results(messages)
    if tool_names and not any(isinstance(m, ToolMessage) for m in messages):
        return AIMessage(
            "",
            tool_calls=[
                {"name": "append_line", "args": {"text": "effect"}, "id": "append-1", "type": "tool_call"},
                {"name": "wait", "args": {"seconds": 1}, "id": "wait-1", "type": "tool_call"},
            ],
        )
    return AIMessage("I cannot tell.")


def pay_rule(messages: list[BaseMessage], tool_names: list[str]) -> AIMessage:
    """Planner: pay the name and amount in the question. Responder: report the results."""
    if "Tool results:" in messages[-1].text:
        return _answer_from_results(messages)
    if tool_names and not any(isinstance(m, ToolMessage) for m in messages):
        to, amount = re.findall(r"pay (\w+) (\d+)", messages[-1].text)[0]
        return AIMessage("", tool_calls=[{"name": "pay", "args": {"to": to, "amount": int(amount)}, "id": "pay-1", "type": "tool_call"}])
    return AIMessage("I cannot tell.")


def effects():
    """The assistant with a side-effecting `append_line` and a slow read-only `wait` called together."""
    if os.environ.get("GW_UNDECLARED") == "1":
        appender = tool(parse_docstring=True)(append_line)
    else:
        appender = register_tool(side_effects=True)(append_line)
    return build_assistant(model=ScriptedChatModel(rule=effect_rule), tools=[appender, wait])


def payments():
    """The assistant with `pay`, which needs a human's approval."""
    return build_assistant(model=ScriptedChatModel(rule=pay_rule), tools=[pay])


def pay_and_wait_rule(messages: list[BaseMessage], tool_names: list[str]) -> AIMessage:
    """Planner: pay bob 500 (needs approval) and wait, in one step. Responder: report the results."""
    if "Tool results:" in messages[-1].text:
        return _answer_from_results(messages)
    if tool_names and not any(isinstance(m, ToolMessage) for m in messages):
        return AIMessage(
            "",
            tool_calls=[
                {"name": "pay", "args": {"to": "bob", "amount": 500}, "id": "pay-1", "type": "tool_call"},
                {"name": "wait", "args": {"seconds": 1}, "id": "wait-1", "type": "tool_call"},
            ],
        )
    return AIMessage("I cannot tell.")


def pay_and_wait():
    """The assistant with `pay` (approval, side effect) and the slow read-only `wait` called together."""
    return build_assistant(model=ScriptedChatModel(rule=pay_and_wait_rule), tools=[pay, wait])
