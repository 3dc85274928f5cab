"""LangGraph's `RemoteGraph` against our server, used as a node inside a local graph."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, NotRequired, TypedDict

import pytest
from service_support import ALICE, asgi_client, make_app
from langchain_core.messages import AnyMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.pregel.remote import RemoteException, RemoteGraph
from langgraph.types import Command, interrupt
from langgraph_sdk import get_client, get_sync_client


class Outer(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    answer: NotRequired[str]
    verdict: NotRequired[str]
    shouted: NotRequired[str]


def _outer_graph(remote: RemoteGraph) -> Any:
    graph = StateGraph(Outer)
    graph.add_node("remote_assistant", remote)
    graph.add_node("shout", lambda s: {"shouted": s["answer"].upper()})
    graph.add_edge(START, "remote_assistant")
    graph.add_edge("remote_assistant", "shout")
    graph.add_edge("shout", END)
    return graph.compile(checkpointer=InMemorySaver())


def test_remote_graph_as_a_node_runs_on_the_server(live_server) -> None:
    remote = RemoteGraph("assistant", url=live_server.url, api_key=ALICE)
    outer = _outer_graph(remote)
    config: RunnableConfig = {"configurable": {"thread_id": "outer-remote-1"}}
    seen = []
    for ns, mode, chunk in outer.stream(
        {"messages": [HumanMessage("What is 12 * 12?")]}, config, stream_mode=["updates", "messages"], subgraphs=True
    ):
        seen.append((ns, mode, chunk))
    result = outer.get_state(config).values
    assert result["answer"] == "It is 144." and result["shouted"] == "IT IS 144."
    assert [m.type for m in result["messages"]] == ["human", "ai", "tool", "ai"]
    remote_nodes = [next(iter(chunk)) for ns, mode, chunk in seen if mode == "updates" and ns]
    assert remote_nodes == ["planner", "tools", "responder", "critic"]  # the server's steps streamed through
    # the run happened on the server, on the thread of the same id, owned by this key
    server = get_sync_client(url=live_server.url, api_key=ALICE)
    remote_state = server.threads.get_state("outer-remote-1")
    assert remote_state["values"]["answer"] == "It is 144."
    assert remote.get_state(config).values["answer"] == "It is 144."
    assert len(list(remote.get_state_history(config))) >= 5


def _approval_via_remote(remote: RemoteGraph) -> Any:
    """A local node that asks the remote approval graph; a remote interrupt pauses the local graph too."""

    class Local(TypedDict, total=False):
        request: str
        remote_thread: str
        sent: str

    def ask_remote(state: Local) -> dict:
        remote_config: RunnableConfig = {"configurable": {"thread_id": state["remote_thread"]}}
        if not remote.get_state(remote_config).interrupts:  # first time here: start the remote run
            remote.invoke({"request": state["request"]}, remote_config)
        pending = remote.get_state(remote_config)
        if pending.interrupts:  # pause locally; the local resume value answers the remote interrupt
            answer = interrupt(pending.interrupts[0].value)
            remote.invoke(Command(resume=answer), remote_config)
        return {"sent": remote.get_state(remote_config).values["sent"]}

    graph = StateGraph(Local)
    graph.add_node("ask_remote", ask_remote)
    graph.add_edge(START, "ask_remote")
    graph.add_edge("ask_remote", END)
    return graph.compile(checkpointer=InMemorySaver())


def test_remote_interrupt_pauses_the_local_graph_and_resume_reaches_the_server(live_server) -> None:
    remote = RemoteGraph("approval", url=live_server.url, api_key=ALICE)
    local = _approval_via_remote(remote)
    server = get_sync_client(url=live_server.url, api_key=ALICE)
    remote_thread = server.threads.create()["thread_id"]
    config: RunnableConfig = {"configurable": {"thread_id": "local-approval-1"}}
    local.invoke({"request": "deploy", "remote_thread": remote_thread}, config)
    paused = local.get_state(config)
    assert paused.next == ("ask_remote",)
    assert paused.interrupts[0].value == {"question": "Send this email?", "draft": "Dear team, deploy."}
    assert server.threads.get(remote_thread)["status"] == "interrupted"

    final = local.invoke(Command(resume="yes"), config)
    assert final["sent"] == "Dear team, deploy."
    assert server.threads.get_state(remote_thread)["values"]["approved"] is True


async def test_remote_graph_in_process_with_an_asgi_client() -> None:
    remote = RemoteGraph("counter", client=asgi_client(make_app()))
    assert await remote.ainvoke({"n": 9}) == {"n": 10}


async def test_cancelling_a_remote_run_through_the_sdk(live_server) -> None:
    remote = RemoteGraph("slow", url=live_server.url, api_key=ALICE)
    client = get_client(url=live_server.url, api_key=ALICE)
    tid = (await client.threads.create())["thread_id"]
    task = asyncio.create_task(remote.ainvoke({"steps": 0}, {"configurable": {"thread_id": tid}}))
    for _ in range(100):
        runs = await client.runs.list(tid)
        if runs and runs[0]["status"] == "running":
            break
        await asyncio.sleep(0.05)
    await client.runs.cancel(tid, runs[0]["run_id"], wait=True)
    with pytest.raises(RemoteException, match="cancelled"):
        await asyncio.wait_for(task, 10)  # the stream ends with the run cancelled, not with values
    assert (await client.runs.get(tid, runs[0]["run_id"]))["status"] == "interrupted"
