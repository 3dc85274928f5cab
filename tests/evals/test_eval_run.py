"""Running tasks: per-node time and failures, model calls and tokens, concurrency, and resuming a folder."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Annotated, TypedDict

import pytest
from eval_graphs import counting, tool_caller, two_nodes
from fakes import ScriptedChatModel, call
from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import interrupt

from graphwright.errors import EvalReportError
from graphwright.evals import Task, load_tasks, run_eval, stub_tools
from graphwright.evals._checkers import Numeric, Regex, ToolCall
from graphwright.graphs import build_assistant


def tasks_file(folder: Path, rows: list[dict]) -> Path:
    path = folder / "tasks.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_node_time_and_failures_are_recorded_per_node(tmp_path: Path) -> None:
    tasks = [Task("calm", "hello", Regex("fine")), Task("boom", "please explode", Regex("fine"))]
    results = run_eval(tasks, lambda tools: two_nodes(), tmp_path / "out", label="two")
    calm, boom = results
    assert calm["ok"] and calm["error"] is None and calm["answer"] == "fine"
    assert set(calm["nodes"]) == {"prepare", "answer"} and calm["steps"] == 2
    assert all(n["runs"] == 1 and n["errors"] == 0 and n["seconds"] >= 0 for n in calm["nodes"].values())
    assert not boom["ok"] and "the node blew up" in boom["error"]
    assert boom["nodes"]["answer"]["errors"] == 1 and boom["nodes"]["prepare"]["errors"] == 0


@tool
def broken_tool(x: int) -> int:
    """Always fails.

    Args:
        x: anything.
    """
    raise ValueError("no luck")


def test_model_calls_tokens_and_tool_errors(tmp_path: Path) -> None:
    def rule(messages, tool_names):
        if tool_names and not any(isinstance(m, ToolMessage) for m in messages):
            reply = call("broken_tool", "c1", x=1)
        else:
            reply = AIMessage("It is 7.")
        reply.usage_metadata = {"input_tokens": 30, "output_tokens": 4, "total_tokens": 34}
        return reply

    graph = build_assistant(model=ScriptedChatModel(rule=rule), tools=[broken_tool])
    (result,) = run_eval([Task("t", "what?", Numeric(7))], lambda tools: graph, tmp_path / "out", label="a")
    assert result["ok"] and result["answer"] == "It is 7."
    assert result["tool_calls"] == [{"name": "broken_tool", "args": {"x": 1}}]
    assert result["model_calls"] == 2 and result["calls_without_usage"] == 0
    assert (result["prompt_tokens"], result["completion_tokens"]) == (60, 8)
    assert (result["nodes"]["tools"]["runs"], result["nodes"]["tools"]["errors"]) == (1, 1)
    assert result["nodes"]["planner"]["errors"] == 0
    assert result["steps"] == sum(n["runs"] for n in result["nodes"].values())


class QA(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    answer: str


def test_tasks_run_concurrently(tmp_path: Path) -> None:
    barrier = threading.Barrier(4, timeout=20)  # passes only when four tasks are inside the node at once

    def meet(state: QA) -> QA:
        barrier.wait()
        return {"answer": "met"}

    graph = StateGraph(QA)
    graph.add_node("meet", meet)
    graph.add_edge(START, "meet")
    graph.add_edge("meet", END)
    tasks = [Task(f"t{i}", f"q{i}", Regex("met")) for i in range(4)]
    results = run_eval(tasks, lambda tools: graph, tmp_path / "out", label="m", concurrency=4)
    assert [r["ok"] for r in results] == [True] * 4
    assert len({r["thread_id"] for r in results}) == 4


def test_a_second_run_reuses_finished_results_and_reruns_changed_tasks(tmp_path: Path, monkeypatch) -> None:
    log = tmp_path / "log.txt"
    monkeypatch.setenv("GW_EVAL_LOG", str(log))
    rows = [{"id": f"t{i}", "input": f"add {i} and {i}", "check": {"numeric": 2 * i}} for i in range(1, 4)]
    out = tmp_path / "out"
    first = run_eval(load_tasks(tasks_file(tmp_path, rows)), lambda tools: counting(), out, label="c")
    assert [r["ok"] for r in first] == [True, True, True]
    assert len(log.read_text().splitlines()) == 3
    log.write_text("")
    again = run_eval(load_tasks(tasks_file(tmp_path, rows)), lambda tools: counting(), out, label="c")
    assert again == first and log.read_text() == ""
    rows[1]["check"] = {"numeric": 5}  # a changed task is run again
    changed = run_eval(load_tasks(tasks_file(tmp_path, rows)), lambda tools: counting(), out, label="c")
    assert log.read_text().splitlines() == ["add 2 and 2"]
    assert [r["ok"] for r in changed] == [True, False, True]
    with pytest.raises(EvalReportError, match="holds results of graph 'c'"):
        run_eval(load_tasks(tasks_file(tmp_path, rows)), lambda tools: counting(), out, label="other")


def test_a_line_cut_off_by_a_crash_is_dropped(tmp_path: Path) -> None:
    out = tmp_path / "out"
    tasks = [Task("a", "add 1 and 1", Numeric(2)), Task("b", "add 2 and 2", Numeric(4))]
    run_eval(tasks[:1], lambda tools: counting(), out, label="c")
    with (out / "results.jsonl").open("a") as fh:
        fh.write('{"id": "b", "ok": tr')  # the process died mid-write
    results = run_eval(tasks, lambda tools: counting(), out, label="c")
    assert [r["id"] for r in results] == ["a", "b"] and all(r["ok"] for r in results)
    lines = (out / "results.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["a", "b"]


def test_tasks_with_their_own_tools_get_stub_tools(tmp_path: Path) -> None:
    spec = {"name": "math.factorial", "description": "Factorial.",
            "parameters": {"type": "dict", "properties": {"number": {"type": "integer"}}, "required": ["number"]}}
    path = tasks_file(tmp_path, [
        {"id": "f5", "input": "factorial of 5", "tools": [spec],
         "check": {"tool_call": [{"math.factorial": {"number": [5]}}]}},
        {"id": "f6", "input": "factorial of 6", "tools": [spec],
         "check": {"tool_call": {"name": "math.factorial", "args": {"number": 7}}}},
    ])
    tasks = load_tasks(path)
    assert isinstance(tasks[0].check, ToolCall)
    results = run_eval(tasks, lambda tools: tool_caller(tools=stub_tools(tools)), tmp_path / "out", label="b")
    assert [r["ok"] for r in results] == [True, False]
    assert results[0]["tool_calls"] == [{"name": "math.factorial", "args": {"number": 5}}]
    assert results[0]["nodes"]["tools"]["errors"] == 0  # the stub accepted the call


def test_a_run_that_stops_at_an_interrupt_fails_with_a_reason(tmp_path: Path) -> None:
    def ask(state: QA) -> QA:
        return {"answer": interrupt("approve?")}

    graph = StateGraph(QA)
    graph.add_node("ask", ask)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", END)
    (result,) = run_eval([Task("t", "q", Regex("."))], lambda tools: graph, tmp_path / "out", label="i")
    assert not result["ok"] and result["error"].startswith("stopped before ask")
    assert result["nodes"]["ask"]["errors"] == 0  # waiting for input is not a failure
