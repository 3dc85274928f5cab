"""Graphs on the scripted fake model for the Ray tests, importable as `ray_graphs:NAME` by actors and the CLI.

Each task's question names a number K ("task K"). The planner calls `record(task=K)`, a side effect that appends
K to the file GW_EFFECTS, and `pause`, a read-only tool that sleeps GW_PAUSE seconds (so that kills land in the
middle of tasks); the responder answers "Done K.". A question "crash K" kills the process running it instead: a
task that kills every actor it is given to. Tasks numbered GW_GATE_FROM or above wait, before they record, until
the file GW_GATE exists, so that a test can hold the end of a run back until it has done what it does mid-run.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

from fakes import ScriptedChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from graphwright.graphs import build_assistant
from graphwright.tools import register_tool


@register_tool(side_effects=True)
def record(task: int) -> str:
    """Record that a task ran (a side effect).

    Args:
        task: the task's number.
    """
    with Path(os.environ["GW_EFFECTS"]).open("a") as fh:
        fh.write(f"{task}\n")
        fh.flush()
        os.fsync(fh.fileno())
    return f"recorded {task}"


@register_tool(side_effects=False)
def pause(seconds: int) -> str:
    """Wait a moment (read-only).

    Args:
        seconds: ignored; GW_PAUSE decides.
    """
    time.sleep(float(os.environ.get("GW_PAUSE", "0")))
    return "paused"


def _number(messages: list[BaseMessage]) -> int:
    """K, from the first message that says "task K" or "crash K"."""
    return int(next(found for m in messages if (found := re.search(r"\b(?:task|crash) (\d+)", m.text)))[1])


def record_rule(messages: list[BaseMessage], tool_names: list[str]) -> AIMessage:
    """Planner: record the task and pause, in one step. Responder: say it is done."""
    if any(re.search(r"\bcrash \d+", m.text) for m in messages):
        os.kill(os.getpid(), signal.SIGKILL)
    number = _number(messages)
    if number >= int(os.environ.get("GW_GATE_FROM", "1000000")):
        deadline = time.monotonic() + 300
        while not Path(os.environ["GW_GATE"]).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    if tool_names and not any(isinstance(m, ToolMessage) for m in messages):
        return AIMessage("", tool_calls=[
            {"name": "record", "args": {"task": number}, "id": f"record-{number}", "type": "tool_call"},
            {"name": "pause", "args": {"seconds": 1}, "id": f"pause-{number}", "type": "tool_call"},
        ])
    return AIMessage(f"Done {number}.")


def recorder():
    """The assistant with the scripted planner, `record` (a side effect) and `pause`."""
    return build_assistant(model=ScriptedChatModel(rule=record_rule), tools=[record, pause])


def graph_for(tools):
    """`graph_for(tools)` for the Python API: the same graph for every task."""
    return recorder()
