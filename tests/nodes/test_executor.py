"""The executor: corrections go back to the model, refused calls never run, approvals interrupt and resume."""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any, TypedDict

import pytest
from fakes import ScriptedChatModel, call
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, ToolMessage
from langchain_core.messages.tool import invalid_tool_call
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Command

from graphwright.graphs import compile_graph
from graphwright.memory import open_checkpointer
from graphwright.nodes import EXECUTOR_WRITES, ExecutorOptions, call_key, distinct_call_ids, make_executor, make_planner
from graphwright.tools import ToolLedger, ToolPolicy, register_tool


class LoopState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    answer: str | None


def react_graph(model, tools, **executor_kwargs) -> StateGraph:
    """planner ⇄ tools until the planner answers: the loop a model needs to correct itself."""
    graph = StateGraph(LoopState)
    graph.add_node("planner", make_planner(model, tools))
    graph.add_node("tools", make_executor(tools, **executor_kwargs))
    graph.add_edge(START, "planner")
    graph.add_conditional_edges("planner", lambda s: "tools" if s["messages"][-1].tool_calls else END, ["tools", END])
    graph.add_edge("tools", "planner")
    return graph


def ai_calls(*calls: dict[str, Any]) -> AIMessage:
    return AIMessage("", tool_calls=[{**c, "type": "tool_call"} for c in calls])


def tool_results(messages: list[BaseMessage]) -> list[ToolMessage]:
    return [m for m in messages if isinstance(m, ToolMessage)]


@pytest.fixture
def ran() -> list[tuple[str, Any]]:
    return []


@pytest.fixture
def tools(ran):
    @register_tool(side_effects=False)
    def multiply(a: int, b: int) -> int:
        """Multiply two integers.

        Args:
            a: first factor.
            b: second factor.
        """
        ran.append(("multiply", (a, b)))
        return a * b

    @register_tool(permission="files:delete")
    def delete_file(path: str) -> str:
        """Delete a file.

        Args:
            path: the file to delete.
        """
        ran.append(("delete_file", path))
        return f"deleted {path}"

    @register_tool(needs_approval=True)
    def send_money(to: str, amount: int) -> str:
        """Send money to someone.

        Args:
            to: who receives it.
            amount: how much, in cents.
        """
        ran.append(("send_money", (to, amount)))
        return f"sent {amount} to {to}"

    return {t.name: t for t in (multiply, delete_file, send_money)}


def test_schema_invalid_call_gets_a_correction_and_the_second_try_runs(tools, ran) -> None:
    def rule(messages: list[BaseMessage], names: list[str]) -> AIMessage:
        results = tool_results(messages)
        if not results:
            return call("multiply", "c1", a="six", b=7)  # a is not an integer
        last = results[-1]
        if last.status == "error":
            assert "- a: Input should be a valid integer" in last.text and "again" in last.text
            return call("multiply", "c2", a=6, b=7)
        return AIMessage(f"It is {last.text}.")

    graph = compile_graph(react_graph(ScriptedChatModel(rule=rule), [tools["multiply"]]))
    final = graph.invoke({"messages": [("human", "6 times 7?")]})
    results = tool_results(final["messages"])
    assert [(r.tool_call_id, r.status) for r in results] == [("c1", "error"), ("c2", "success")]
    assert ran == [("multiply", (6, 7))], "the invalid call must not run; the corrected one must"
    assert final["messages"][-1].text == "It is 42."


def test_unknown_arguments_and_unknown_tools_are_corrections_too(tools, ran) -> None:
    node = make_executor([tools["multiply"]])
    out = node({"messages": [ai_calls({"name": "multiply", "args": {"a": 1, "b": 2, "c": 3}, "id": "x"},
                                      {"name": "divide", "args": {}, "id": "y"})]}, {})
    first, second = out["messages"]
    assert first.status == "error" and "- c: unknown argument" in first.text
    assert second.status == "error" and "no tool named 'divide'" in second.text
    assert ran == []


def test_malformed_calls_from_the_parser_become_error_messages(tools) -> None:
    message = AIMessage(
        "",
        tool_calls=[{"name": "multiply", "args": {"a": 2, "b": 3}, "id": "ok", "type": "tool_call"}],
        invalid_tool_calls=[invalid_tool_call(name="multiply", args='{"a": 2,', id="bad", error="not valid JSON")],
    )
    out = make_executor([tools["multiply"]])({"messages": [message]}, {})
    assert [(m.tool_call_id, m.status) for m in out["messages"]] == [("bad", "error"), ("ok", "success")]
    assert "not valid JSON" in out["messages"][0].text and '{"a": 2,' in out["messages"][0].text
    assert set(out) <= EXECUTOR_WRITES


@pytest.mark.parametrize(
    ("policy", "reason"),
    [
        (ToolPolicy(allow=frozenset({"multiply"})), "is not allowed for this agent"),
        (ToolPolicy(deny=frozenset({"delete_file"}), grants=frozenset({"files:delete"})), "is not allowed"),
        (ToolPolicy(), "needs permission 'files:delete'"),
    ],
    ids=["not-in-allow-list", "denied", "permission-not-granted"],
)
def test_a_forbidden_tool_is_never_executed(tools, ran, policy: ToolPolicy, reason: str) -> None:
    def rule(messages, names):
        results = tool_results(messages)
        return call("delete_file", "d1", path="/etc/passwd") if not results else AIMessage(results[-1].text)

    graph = compile_graph(react_graph(ScriptedChatModel(rule=rule), list(tools.values()), policy=policy))
    final = graph.invoke({"messages": [("human", "clean up")]})
    (result,) = tool_results(final["messages"])
    assert result.status == "error" and reason in result.text and "not executed" in result.text
    assert ran == []


def test_a_granted_permission_lets_the_tool_run(tools, ran) -> None:
    node = make_executor(list(tools.values()), policy=ToolPolicy(grants=frozenset({"files:delete"})))
    out = node({"messages": [ai_calls({"name": "delete_file", "args": {"path": "a.txt"}, "id": "d"})]}, {})
    assert out["messages"][0].text == "deleted a.txt" and ran == [("delete_file", "a.txt")]


def _approval_graph(tools, saver):
    def rule(messages, names):
        results = tool_results(messages)
        if not results:
            return ai_calls(
                {"name": "multiply", "args": {"a": 2, "b": 5}, "id": "m1"},
                {"name": "send_money", "args": {"to": "bob", "amount": 500}, "id": "s1"},
            )
        return AIMessage(" | ".join(f"{r.name}: {r.text}" for r in results))

    return compile_graph(react_graph(ScriptedChatModel(rule=rule), list(tools.values())), checkpointer=saver)


@pytest.mark.parametrize(
    ("decision", "expected_run", "expected_text", "status"),
    [
        ("approve", [("send_money", ("bob", 500))], "sent 500 to bob", "success"),
        ({"action": "approve"}, [("send_money", ("bob", 500))], "sent 500 to bob", "success"),
        ({"action": "edit", "args": {"to": "bob", "amount": 50}}, [("send_money", ("bob", 50))], "sent 50 to bob", "success"),
        ({"action": "edit", "args": {"to": "bob", "amount": "lots"}}, [], "Invalid arguments for tool 'send_money'", "error"),
        ({"action": "reject", "reason": "too much"}, [], "A human rejected this call: too much", "error"),
        ("reject", [], "A human rejected this call", "error"),
        ("yes please", [], "was not understood", "error"),
    ],
    ids=["approve", "approve-dict", "edit", "edit-invalid", "reject-reason", "reject", "unclear"],
)
def test_approval_interrupts_then_resumes_with_the_decision(
    tools, ran, decision, expected_run, expected_text, status
) -> None:
    config = {"configurable": {"thread_id": "approval"}}
    with open_checkpointer(":memory:") as saver:
        graph = _approval_graph(tools, saver)
        graph.invoke({"messages": [("human", "pay bob")]}, config)
        snapshot = graph.get_state(config)
        assert snapshot.next == ("tools",)
        (pending,) = snapshot.interrupts
        assert pending.value["tool"] == "send_money" and pending.value["args"] == {"to": "bob", "amount": 500}
        assert pending.value["id"] == "s1" and pending.value["type"] == "tool_approval"
        assert ran == [], "nothing runs before the human has answered, not even the read-only call"
        final = graph.invoke(Command(resume=decision), config)
    results = {r.tool_call_id: r for r in tool_results(final["messages"])}
    assert results["m1"].text == "10" and results["m1"].status == "success"
    assert expected_text in results["s1"].text and results["s1"].status == status
    assert [r for r in ran if r[0] == "send_money"] == expected_run
    assert ran.count(("multiply", (2, 5))) == 1


def test_tool_exceptions_timeouts_and_long_output_become_messages() -> None:
    @register_tool(side_effects=False)
    def broken(x: int) -> str:
        """Always fails.

        Args:
            x: ignored.
        """
        raise RuntimeError(f"disk on fire ({x})")

    @register_tool(side_effects=False, timeout=0.3)
    def hang(x: int) -> str:
        """Never returns in time.

        Args:
            x: seconds to sleep.
        """
        time.sleep(x)
        return "woke"

    @register_tool(side_effects=False)
    def chatty(x: int) -> str:
        """Prints a lot.

        Args:
            x: how many characters.
        """
        return "y" * x

    node = make_executor([broken, hang, chatty], options=ExecutorOptions(max_output_chars=100))
    start = time.monotonic()
    out = node({"messages": [ai_calls(
        {"name": "broken", "args": {"x": 1}, "id": "b"},
        {"name": "hang", "args": {"x": 30}, "id": "h"},
        {"name": "chatty", "args": {"x": 5000}, "id": "c"},
    )]}, {})
    assert time.monotonic() - start < 5
    b, h, c = out["messages"]
    assert b.status == "error" and "RuntimeError: disk on fire (1)" in b.text
    assert h.status == "error" and "timed out after 0.3 s" in h.text
    assert c.status == "success" and c.text.startswith("y" * 100) and "4900 more characters" in c.text


def test_read_only_calls_run_in_parallel() -> None:
    barrier = threading.Barrier(3, timeout=5)

    @register_tool(side_effects=False)
    def meet(n: int) -> int:
        """Wait until three calls are running at once.

        Args:
            n: returned as is.
        """
        barrier.wait()  # raises BrokenBarrierError if the calls ran one after another
        return n

    node = make_executor([meet])
    out = node({"messages": [ai_calls(*({"name": "meet", "args": {"n": i}, "id": f"m{i}"} for i in range(3)))]}, {})
    assert [(m.text, m.status) for m in out["messages"]] == [("0", "success"), ("1", "success"), ("2", "success")]


def _charge_tool(ran: list) -> Any:
    """A side-effecting `charge` tool that records each charge it makes in `ran`."""

    @register_tool(side_effects=True)
    def charge(amount: int) -> str:
        """Charge a card.

        Args:
            amount: cents.
        """
        ran.append(("charge", amount))
        return f"charged {amount}"

    return charge


def test_side_effecting_calls_are_recorded_and_never_repeated(ran) -> None:
    charge = _charge_tool(ran)
    ledger = ToolLedger()
    node = make_executor([charge], ledger=ledger)
    state = {"messages": [ai_calls({"name": "charge", "args": {"amount": 5}, "id": "k1"})]}
    config = {"configurable": {"thread_id": "t", "checkpoint_map": {"": "cp-1"}, "checkpoint_ns": "tools:abc"}}
    first = node(state, config)
    replay = node(state, config)
    assert first == replay and ran == [("charge", 5)]
    other_checkpoint = {"configurable": {**config["configurable"], "checkpoint_map": {"": "cp-2"}}}
    node(state, other_checkpoint)  # a fork from another checkpoint is a new call
    assert ran == [("charge", 5), ("charge", 5)]
    ledger.start(f"t|cp-3|{call_key(0, state['messages'][-1].tool_calls[0])}", "charge", "{}")  # a crash mid-call
    in_doubt = node(state, {"configurable": {**config["configurable"], "checkpoint_map": {"": "cp-3"}}})
    assert in_doubt["messages"][0].status == "error" and "not repeated" in in_doubt["messages"][0].text
    assert len(ran) == 2


def test_several_calls_in_one_reply_all_run_even_with_a_repeated_id(ran) -> None:
    charge = _charge_tool(ran)
    node = make_executor([charge], ledger=ToolLedger())
    state = {"messages": [ai_calls(*({"name": "charge", "args": {"amount": a}, "id": "same"} for a in (5, 7)))]}
    config = {"configurable": {"thread_id": "t", "checkpoint_map": {"": "cp-1"}, "checkpoint_ns": "tools:abc"}}
    out = node(state, config)
    assert [m.text for m in out["messages"]] == ["charged 5", "charged 7"] and ran == [("charge", 5), ("charge", 7)]
    assert node(state, config) == out and len(ran) == 2  # a replay still repeats neither


def test_an_id_less_call_numbered_into_a_real_calls_id_still_runs_and_gets_its_own_answer(ran) -> None:
    charge = _charge_tool(ran)
    calls = [
        {"name": "charge", "args": {"amount": 1}, "id": "call-1"},
        {"name": "charge", "args": {"amount": 2}, "id": None},  # numbered call-1 by the executor
        {"name": "charge", "args": {"amount": 3}, "id": "call-1#1"},  # the old scheme's key for the second
    ]
    reply = AIMessage("", tool_calls=[{**c, "type": "tool_call"} for c in calls])
    config = {"configurable": {"thread_id": "t", "checkpoint_map": {"": "cp-1"}, "checkpoint_ns": "tools:abc"}}
    out = make_executor([charge], ledger=ToolLedger())({"messages": [reply]}, config)
    assert [m.text for m in out["messages"]] == ["charged 1", "charged 2", "charged 3"]
    assert ran == [("charge", 1), ("charge", 2), ("charge", 3)]
    distinct = distinct_call_ids(reply)  # what the planner stores: each call its own id, so its own answer
    assert [c["id"] for c in distinct.tool_calls] == ["call-1", "call-1.1", "call-1#1"]
    assert distinct.id == reply.id and [c["args"] for c in distinct.tool_calls] == [c["args"] for c in calls]


def test_a_side_effecting_tool_sees_its_idempotency_key() -> None:
    keys: list[str] = []

    @register_tool(side_effects=True)
    def transfer(amount: int, config: RunnableConfig) -> str:
        """Transfer money through an API that deduplicates by key.

        Args:
            amount: cents.
        """
        keys.append(config["configurable"]["idempotency_key"])
        return "ok"

    assert list(transfer.tool_call_schema.model_json_schema()["properties"]) == ["amount"]
    config = {"configurable": {"thread_id": "t7", "checkpoint_map": {"": "cp-9"}, "checkpoint_ns": "tools:x"}}
    out = make_executor([transfer], ledger=ToolLedger())({"messages": [call("transfer", "c-1", amount=3)]}, config)
    assert out["messages"][0].text == "ok" and keys == [f"t7|cp-9|{call_key(0, call('transfer', 'c-1', amount=3).tool_calls[0])}"]


class _SlowSaver(InMemorySaver):
    """An in-memory saver whose writes land late, as LangGraph's background (durability "async") saves can."""

    def put(self, config, checkpoint, metadata, new_versions):
        time.sleep(0.3)
        return super().put(config, checkpoint, metadata, new_versions)


def test_a_side_effect_waits_until_the_checkpoint_it_runs_from_is_saved() -> None:
    saver = _SlowSaver()
    saved_when_run: list[bool] = []

    @register_tool(side_effects=True)
    def launch(target: str, config: RunnableConfig) -> str:
        """Launch something irreversible.

        Args:
            target: what to launch.
        """
        thread, checkpoint, _ = config["configurable"]["idempotency_key"].split("|")
        stored = saver.get_tuple({"configurable": {"thread_id": thread, "checkpoint_ns": "", "checkpoint_id": checkpoint}})
        saved_when_run.append(stored is not None)
        return "launched"

    def rule(messages, names):
        return call("launch", "l1", target="moon") if not tool_results(messages) else AIMessage("done")

    graph = compile_graph(react_graph(ScriptedChatModel(rule=rule), [launch]), checkpointer=saver)
    graph.invoke({"messages": [("human", "go")]}, {"configurable": {"thread_id": "slow"}})
    assert saved_when_run == [True]
