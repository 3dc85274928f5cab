"""Time travel: list a thread's checkpoints, read the state at one, fork with edited state and continue,
from Python and from the command line, on a real SQLite checkpoint file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from agent_rules import arithmetic_agent
from fakes import ScriptedChatModel
from langchain_core.messages import AIMessage, HumanMessage

from graphwright import GraphSetupError, ThreadStateError
from graphwright.graphs import build_assistant, compile_graph, fork, list_checkpoints, state_at, thread_config
from graphwright.tools import calculator
from graphwright.memory import open_checkpointer

TESTS = Path(__file__).resolve().parents[1]


def test_a_forked_thread_continues_from_the_edited_state(tmp_path: Path) -> None:
    with open_checkpointer(str(tmp_path / "c.sqlite")) as saver:
        graph = compile_graph(build_assistant(model=ScriptedChatModel(rule=arithmetic_agent), tools=[calculator]), checkpointer=saver)
        first = graph.invoke({"messages": [HumanMessage("What is 6*7?")]}, thread_config("t"))
        assert first["answer"] == "It is 42."
        history = list_checkpoints(graph, "t")
        assert [c.step for c in history] == sorted((c.step for c in history), reverse=True)
        before_tools = next(c for c in history if c.next == ("tools",))
        snapshot = state_at(graph, "t", before_tools.checkpoint_id)
        planned = snapshot.values["messages"][-1]
        assert planned.tool_calls[0]["args"] == {"expression": "6*7"}

        edited = AIMessage("", id=planned.id, tool_calls=[{**planned.tool_calls[0], "args": {"expression": "6*8"}}])
        config = fork(graph, "t", before_tools.checkpoint_id, {"messages": [edited]})
        forked = graph.invoke(None, config)

        assert forked["answer"] == "It is 48." and forked["verdict"] == "approve"
        assert [m.text for m in forked["messages"] if m.type == "tool"] == ["48"]
        assert state_at(graph, "t").values["answer"] == "It is 48."  # the thread now continues on the fork
        old = state_at(graph, "t", history[0].checkpoint_id).values
        assert old["answer"] == "It is 42."  # the original branch is still there
        newest = list_checkpoints(graph, "t", limit=1)[0]
        assert newest.checkpoint_id != history[0].checkpoint_id and newest.next == ()


def test_time_travel_errors_are_typed(tmp_path: Path) -> None:
    graph = build_assistant(model=ScriptedChatModel(rule=arithmetic_agent), tools=[calculator])
    with pytest.raises(GraphSetupError, match="checkpointer"):
        list_checkpoints(compile_graph(graph), "t")
    with open_checkpointer(":memory:") as saver:
        app = compile_graph(graph, checkpointer=saver)
        with pytest.raises(ThreadStateError, match="no checkpoints"):
            list_checkpoints(app, "empty")
        app.invoke({"messages": [HumanMessage("What is 1+1?")]}, thread_config("t"))
        with pytest.raises(ThreadStateError, match="no checkpoint 'nope'"):
            state_at(app, "t", "nope")
        latest = list_checkpoints(app, "t")[0].checkpoint_id
        with pytest.raises(ThreadStateError, match="no key"):
            fork(app, "t", latest, {"nosuch": 1})


def graphwright(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "graphwright", *args],
        env={"PYTHONPATH": str(TESTS), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_history_state_and_fork(tmp_path: Path) -> None:
    db = str(tmp_path / "c.sqlite")
    graph = "scripted_graphs:slow_assistant"
    assert graphwright("run", graph, "add 20 and 22", "--thread", "t1", "--db", db).returncode == 0

    history = graphwright("history", graph, "--thread", "t1", "--db", db)
    assert history.returncode == 0, history.stderr
    lines = history.stdout.strip().splitlines()
    start = next(line for line in lines if "next=planner " in line and "source=loop" in line)
    checkpoint = start.split()[0]

    state = graphwright("state", graph, "--thread", "t1", "--db", db, "--checkpoint", checkpoint)
    shown = json.loads(state.stdout)
    assert shown["next"] == ["planner"] and shown["values"]["messages"][0]["content"] == "add 20 and 22"

    question = json.dumps([{"role": "user", "content": "add 1 and 2"}])
    forked = graphwright("fork", graph, "--thread", "t1", "--db", db, "--checkpoint", checkpoint, "--set", f"messages={question}")
    assert forked.returncode == 0, forked.stderr
    out = forked.stdout.strip().splitlines()
    assert out[0].startswith("forked: ") and "[tools] slow_add returned: 3" in out and out[-1] == "The answer is 3."

    latest = json.loads(graphwright("state", graph, "--thread", "t1", "--db", db).stdout)
    assert latest["values"]["answer"] == "The answer is 3."
    bad = graphwright("fork", graph, "--thread", "t1", "--db", db, "--checkpoint", checkpoint, "--set", "answer=not json")
    assert bad.returncode == 2 and "not JSON" in bad.stderr
