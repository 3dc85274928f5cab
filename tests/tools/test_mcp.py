"""MCP both ways through the real SDK: a server started by the test is a tool source; our tools are served."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from fakes import ScriptedChatModel, call
from langchain_core.messages import AIMessage, ToolMessage
from mcp import Client

from graphwright.errors import ToolDefinitionError
from graphwright.graphs import build_assistant, compile_graph
from graphwright.nodes import make_executor
from graphwright.tools import ToolPolicy, calculator, mcp_server, open_mcp_tools, register_tool, tool_meta

SERVER = Path(__file__).with_name("mcp_demo_server.py")


def _open(tmp_path: Path, **options):
    env = {"PATH": os.environ["PATH"], "GW_EFFECTS": str(tmp_path / "effects.txt")}
    return open_mcp_tools(sys.executable, [str(SERVER)], env=env, **options)


@pytest.fixture
def mcp_tools(tmp_path: Path):
    with _open(tmp_path) as tools:
        yield {tool.name: tool for tool in tools}


def test_tools_listed_by_a_server_keep_their_schema_and_read_only_hints(mcp_tools) -> None:
    assert sorted(mcp_tools) == ["calculator", "fail", "multiply", "record"]
    assert mcp_tools["multiply"].args_schema["properties"]["a"]["type"] == "integer"
    assert mcp_tools["multiply"].args_schema["required"] == ["a", "b"]
    assert not tool_meta(mcp_tools["multiply"]).side_effects and tool_meta(mcp_tools["record"]).side_effects


def test_an_mcp_server_is_a_tool_source_for_a_graph(mcp_tools, tmp_path: Path) -> None:
    def rule(messages, names):
        text = messages[-1].text
        if "Tool results:" in text:
            return AIMessage("Results: " + " / ".join(text.split("Tool results:", 1)[1].strip().splitlines()))
        return AIMessage("", tool_calls=[
            {"name": "multiply", "args": {"a": "six", "b": 7}, "id": "m1", "type": "tool_call"},
            {"name": "multiply", "args": {"a": 6, "b": 7}, "id": "m2", "type": "tool_call"},
            {"name": "record", "args": {"note": "hello"}, "id": "r1", "type": "tool_call"},
            {"name": "fail", "args": {"reason": "on purpose"}, "id": "f1", "type": "tool_call"},
        ])

    graph = compile_graph(build_assistant(model=ScriptedChatModel(rule=rule), tools=list(mcp_tools.values())))
    final = graph.invoke({"messages": [("human", "go")]})
    by_id = {m.tool_call_id: m for m in final["messages"] if isinstance(m, ToolMessage)}
    assert by_id["m1"].status == "error" and "Invalid arguments for tool 'multiply'" in by_id["m1"].text
    assert "'six' is not of type 'integer'" in by_id["m1"].text
    assert (by_id["m2"].text, by_id["m2"].status) == ("42", "success")
    assert by_id["r1"].status == "success" and by_id["r1"].text.startswith("recorded 'hello' (pid ")
    assert int(by_id["r1"].text.split("pid ")[1].rstrip(")")) != os.getpid(), "it ran in the server process"
    assert (tmp_path / "effects.txt").read_text() == "hello\n"
    assert by_id["f1"].status == "error" and "RuntimeError: on purpose" in by_id["f1"].text
    assert final["verdict"] == "approve" and "multiply(a=6, b=7) returned: 42" in final["answer"]


def test_mcp_tools_are_refused_without_their_permission(tmp_path: Path) -> None:
    with _open(tmp_path, permission="mcp:test") as tools:
        assert {tool_meta(t).permission for t in tools} == {"mcp:test"}
        out = make_executor(tools)({"messages": [call("record", "r", note="x")]}, {})["messages"][0]
        assert out.status == "error" and "needs permission 'mcp:test'" in out.text
        assert not (tmp_path / "effects.txt").exists()
        granted = make_executor(tools, policy=ToolPolicy(grants=frozenset({"mcp:test"})))
        assert granted({"messages": [call("record", "r", note="x")]}, {})["messages"][0].status == "success"
        assert (tmp_path / "effects.txt").read_text() == "x\n"


def test_graphwright_tools_served_over_mcp_to_the_sdk_client() -> None:
    @register_tool(side_effects=True)
    def secret_op(x: int) -> str:
        """Something this agent may not do.

        Args:
            x: anything.
        """
        return "done"

    server = mcp_server([calculator, secret_op], policy=ToolPolicy(deny=frozenset({"secret_op"})))

    async def session():
        async with Client(server) as client:
            listed = await client.list_tools()
            ok = await client.call_tool("calculator", {"expression": "17 * 23 + 4"})
            bad = await client.call_tool("calculator", {"expr": "1"})
            hidden = await client.call_tool("secret_op", {"x": 1})
            return listed, ok, bad, hidden

    listed, ok, bad, hidden = asyncio.run(session())
    assert [t.name for t in listed.tools] == ["calculator"]
    assert listed.tools[0].annotations.read_only_hint is True
    assert listed.tools[0].input_schema["required"] == ["expression"]
    assert (ok.is_error, ok.content[0].text) == (False, "395")
    assert bad.is_error and "- expr: unknown argument" in bad.content[0].text
    assert hidden.is_error and "no tool named 'secret_op'" in hidden.content[0].text


def test_tools_that_need_approval_cannot_be_served() -> None:
    @register_tool(needs_approval=True)
    def risky(x: int) -> str:
        """Risky.

        Args:
            x: anything.
        """
        return "done"

    with pytest.raises(ToolDefinitionError, match="needs human approval"):
        mcp_server([risky])
