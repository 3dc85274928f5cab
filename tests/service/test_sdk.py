"""The real `langgraph_sdk` client against our server: in-process (ASGI transport) and over loopback HTTP."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from service_support import ALICE, asgi_client, make_app
from langgraph_sdk import get_client

QUESTION = {"messages": [{"role": "user", "content": "What is 6 * 7?"}]}


async def _stream_assistant(client) -> tuple[str, list]:
    thread = await client.threads.create(metadata={"purpose": "test"})
    parts = [
        part
        async for part in client.runs.stream(
            thread["thread_id"],
            "assistant",
            input=QUESTION,
            stream_mode=["values", "updates", "messages-tuple", "custom"],
        )
    ]
    return thread["thread_id"], parts


async def _check_assistant_run(client) -> None:
    thread_id, parts = await _stream_assistant(client)
    events = [p.event for p in parts]
    assert events[0] == "metadata" and "run_id" in parts[0].data
    assert events[-1] == "end" and parts[-1].data["status"] == "success"
    assert {"values", "updates", "messages"} <= set(events)
    updated_nodes = [node for p in parts if p.event == "updates" for node in p.data]
    assert updated_nodes == ["planner", "tools", "responder", "critic"]
    tool_call = next(p.data[0] for p in parts if p.event == "messages" and p.data[0].get("tool_calls"))
    assert tool_call["tool_calls"][0]["args"] == {"expression": "6 * 7"}
    assert parts[-2].event == "values" and parts[-2].data["answer"] == "It is 42."

    state = await client.threads.get_state(thread_id)
    assert state["values"]["answer"] == "It is 42." and state["next"] == []
    assert [m["type"] for m in state["values"]["messages"]] == ["human", "ai", "tool", "ai"]
    history = await client.threads.get_history(thread_id, limit=20)
    assert len(history) >= 5
    assert history[0]["checkpoint"]["checkpoint_id"] == state["checkpoint"]["checkpoint_id"]
    assert history[0]["parent_checkpoint"]["checkpoint_id"] == history[1]["checkpoint"]["checkpoint_id"]
    assert history[-1]["values"] == {"messages": []} or history[-1]["next"] == ["__start__"]
    thread = await client.threads.get(thread_id)
    assert thread["status"] == "idle" and thread["metadata"] == {"purpose": "test"}
    runs = await client.runs.list(thread_id)
    assert [r["status"] for r in runs] == ["success"]


async def test_stream_assistant_in_process_over_asgi() -> None:
    await _check_assistant_run(asgi_client(make_app()))


async def test_stream_assistant_over_loopback_http(live_server) -> None:
    await _check_assistant_run(get_client(url=live_server.url, api_key=ALICE))


async def test_messages_mode_sends_metadata_then_complete_messages() -> None:
    client = asgi_client(make_app())
    thread = await client.threads.create()
    stream = client.runs.stream(thread["thread_id"], "assistant", input=QUESTION, stream_mode="messages")
    parts = [p async for p in stream]
    events = [p.event for p in parts]
    assert "messages/metadata" in events and "messages/complete" in events
    first_meta = next(p for p in parts if p.event == "messages/metadata")
    (meta,) = first_meta.data.values()
    assert meta["metadata"]["langgraph_node"] == "planner"
    completed = [p.data[0]["content"] for p in parts if p.event == "messages/complete"]
    assert "It is 42." in completed


async def test_interrupt_then_resume_with_command(live_server) -> None:
    client = get_client(url=live_server.url, api_key=ALICE)
    thread = await client.threads.create()
    tid = thread["thread_id"]
    parts = [
        p
        async for p in client.runs.stream(
            tid, "approval", input={"request": "ship it"}, stream_mode=["updates", "custom"]
        )
    ]
    assert any(p.event == "custom" and p.data == {"drafted": "ship it"} for p in parts)
    paused = [p.data["__interrupt__"] for p in parts if p.event == "updates" and "__interrupt__" in p.data]
    assert paused and paused[0][0]["value"] == {"question": "Send this email?", "draft": "Dear team, ship it."}
    state = await client.threads.get_state(tid)
    assert state["next"] == ["ask"] and state["interrupts"][0]["value"]["question"] == "Send this email?"
    assert (await client.threads.get(tid))["status"] == "interrupted"

    result = await client.runs.wait(tid, "approval", command={"resume": "yes"})
    assert result["approved"] is True and result["sent"] == "Dear team, ship it."
    assert (await client.threads.get(tid))["status"] == "idle"


async def test_interrupt_before_a_node_and_update_state() -> None:
    client = asgi_client(make_app())
    tid = (await client.threads.create())["thread_id"]
    result = await client.runs.wait(tid, "approval", input={"request": "x"}, interrupt_before=["ask"])
    assert result["draft"] == "Dear team, x." and "approved" not in result
    await client.threads.update_state(tid, {"draft": "Edited draft."})
    assert (await client.threads.get_state(tid))["values"]["draft"] == "Edited draft."
    second = await client.runs.wait(tid, "approval", input=None)  # continue to the interrupt() in `ask`
    assert second["__interrupt__"][0]["value"]["draft"] == "Edited draft."
    final = await client.runs.wait(tid, "approval", command={"resume": "no"})
    assert final["approved"] is False and final["sent"] == "(not sent)"


async def test_cancel_a_background_run(live_server) -> None:
    client = get_client(url=live_server.url, api_key=ALICE)
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "slow", input={"steps": 0})
    for _ in range(100):
        if (await client.runs.get(tid, run["run_id"]))["status"] == "running":
            break
        await asyncio.sleep(0.05)
    started = asyncio.get_running_loop().time()
    await client.runs.cancel(tid, run["run_id"], wait=True)
    assert asyncio.get_running_loop().time() - started < 5  # the 30 s node was stopped, not waited for
    assert (await client.runs.get(tid, run["run_id"]))["status"] == "interrupted"
    assert (await client.threads.get(tid))["status"] == "idle"
    assert (await client.threads.get_state(tid))["values"].get("steps") in (None, 0)


async def test_busy_thread_rejects_by_default_and_enqueue_waits(monkeypatch) -> None:
    monkeypatch.setenv("GW_SLOW_SECONDS", "0.5")
    client = asgi_client(make_app())
    tid = (await client.threads.create())["thread_id"]
    first = await client.runs.create(tid, "slow", input={"steps": 0})
    with pytest.raises(httpx.HTTPStatusError) as err:
        await client.runs.create(tid, "slow", input={"steps": 0})
    assert err.value.response.status_code == 409 and "enqueue" in err.value.response.text
    queued = await client.runs.create(tid, "slow", input={}, multitask_strategy="enqueue")
    assert (await client.runs.join(tid, queued["run_id"]))["steps"] == 2
    assert (await client.runs.get(tid, first["run_id"]))["status"] == "success"


async def test_stateless_runs_and_join() -> None:
    client = asgi_client(make_app())
    assert await client.runs.wait(None, "counter", input={"n": 1}) == {"n": 2}
    parts = [p async for p in client.runs.stream(None, "counter", input={"n": 5}, stream_mode="updates")]
    assert [p.data for p in parts if p.event == "updates"] == [{"inc": {"n": 6}}]
    assert await client.threads.search() == []  # temporary threads are deleted
    tid = (await client.threads.create())["thread_id"]
    run = await client.runs.create(tid, "counter", input={"n": 41})
    assert await client.runs.join(tid, run["run_id"]) == {"n": 42}
    joined = [p async for p in client.runs.join_stream(tid, run["run_id"])]
    assert joined[0].event == "metadata" and joined[-1].event == "end"


async def test_assistants_graph_and_schemas() -> None:
    client = asgi_client(make_app())
    assistants = await client.assistants.search()
    assert sorted(a["assistant_id"] for a in assistants) == ["approval", "assistant", "counter", "slow"]
    graph = await client.assistants.get_graph("assistant")
    assert {"planner", "tools", "responder", "critic"} <= {n["id"] for n in graph["nodes"]}
    assert {"source": "planner", "target": "tools"}.items() <= next(
        e for e in graph["edges"] if e["source"] == "planner" and e["target"] == "tools"
    ).items()
    schemas = await client.assistants.get_schemas("counter")
    assert schemas["input_schema"]["properties"]["n"]["type"] == "integer"
    with pytest.raises(httpx.HTTPStatusError) as err:
        await client.assistants.get("nope")
    assert err.value.response.status_code == 404


async def test_store_items_and_namespaces() -> None:
    client = asgi_client(make_app())
    await client.store.put_item(["notes", "work"], "a", {"text": "ship friday", "tag": "x"})
    await client.store.put_item(["notes", "home"], "b", {"text": "buy milk", "tag": "y"})
    item = await client.store.get_item(["notes", "work"], "a")
    assert item["value"] == {"text": "ship friday", "tag": "x"} and item["namespace"] == ["notes", "work"]
    found = await client.store.search_items(["notes"], filter={"tag": "y"})
    assert [i["key"] for i in found["items"]] == ["b"]
    spaces = await client.store.list_namespaces(prefix=["notes"])
    assert sorted(spaces["namespaces"]) == [["notes", "home"], ["notes", "work"]]
    await client.store.delete_item(["notes", "work"], "a")
    with pytest.raises(httpx.HTTPStatusError):
        await client.store.get_item(["notes", "work"], "a")


async def test_thread_search_patch_and_delete() -> None:
    client = asgi_client(make_app())
    a = await client.threads.create(metadata={"team": "red"})
    await client.threads.create(metadata={"team": "blue"})
    assert [t["thread_id"] for t in await client.threads.search(metadata={"team": "red"})] == [a["thread_id"]]
    await client.threads.update(a["thread_id"], metadata={"stage": "2"})
    assert (await client.threads.get(a["thread_id"]))["metadata"] == {"team": "red", "stage": "2"}
    await client.runs.wait(a["thread_id"], "counter", input={"n": 1})
    await client.threads.delete(a["thread_id"])
    with pytest.raises(httpx.HTTPStatusError) as err:
        await client.threads.get_state(a["thread_id"])
    assert err.value.response.status_code == 404


async def test_invalid_requests_get_422_with_a_clear_message() -> None:
    client = asgi_client(make_app())
    tid = (await client.threads.create())["thread_id"]
    http = client.http.client
    missing = await http.post(f"/threads/{tid}/runs/wait", json={"input": {}})
    assert missing.status_code == 422 and "body.assistant_id: Field required" in missing.json()["detail"]
    both_body = {"assistant_id": "counter", "input": {}, "command": {"resume": 1}}
    both = await http.post(f"/threads/{tid}/runs", json=both_body)
    assert both.status_code == 422 and "either input or command" in both.json()["detail"]
    typo = await http.post(f"/threads/{tid}/runs", json={"assistant_id": "counter", "inptu": {}})
    assert typo.status_code == 422 and "inptu" in typo.json()["detail"]
    bad_id = await http.post("/threads", json={"thread_id": "../etc"})
    assert bad_id.status_code == 422 and "invalid thread id" in bad_id.json()["detail"]
    bad_mode = await http.post(f"/threads/{tid}/runs", json={"assistant_id": "counter", "stream_mode": "events"})
    assert bad_mode.status_code == 422 and "stream_mode" in bad_mode.json()["detail"]
    assert (await client.runs.list(tid)) == []  # nothing was started by any of them


async def test_a_failing_node_ends_the_run_with_an_error_event() -> None:
    client = asgi_client(make_app())
    tid = (await client.threads.create())["thread_id"]
    parts = [p async for p in client.runs.stream(tid, "counter", input={"n": "not a number"})]
    error = next(p for p in parts if p.event == "error")
    assert error.data["error"] == "TypeError" and parts[-1].data["status"] == "error"
    assert (await client.threads.get(tid))["status"] == "error"
    result = await client.runs.wait(tid, "counter", input={"n": 1})
    assert result == {"n": 2}


async def test_a_run_over_the_timeout_is_stopped_with_status_timeout() -> None:
    from graphwright.service import ServiceOptions

    client = asgi_client(make_app(options=ServiceOptions(run_timeout=0.3)))
    tid = (await client.threads.create())["thread_id"]
    started = asyncio.get_running_loop().time()
    parts = [p async for p in client.runs.stream(tid, "slow", input={"steps": 0})]
    assert asyncio.get_running_loop().time() - started < 5
    error = next(p for p in parts if p.event == "error")
    assert error.data["error"] == "TimeoutError" and "0.3 s" in error.data["message"]
    assert parts[-1].data["status"] == "timeout"
    assert [r["status"] for r in await client.runs.list(tid)] == ["timeout"]
    assert (await client.threads.get(tid))["status"] == "error"


async def test_closing_a_stream_cancels_its_run_unless_asked_to_continue(live_server) -> None:
    client = get_client(url=live_server.url, api_key=ALICE)
    for on_disconnect, expected in (("cancel", "interrupted"), ("continue", "running")):
        tid = (await client.threads.create())["thread_id"]
        stream = client.runs.stream(tid, "slow", input={"steps": 0}, on_disconnect=on_disconnect)
        first = await anext(stream)
        assert first.event == "metadata"
        await stream.aclose()  # the client goes away mid-run
        run_id = first.data["run_id"]
        for _ in range(50):
            status = (await client.runs.get(tid, run_id))["status"]
            if status == expected:
                break
            await asyncio.sleep(0.05)
        assert status == expected
        if expected == "running":
            await asyncio.sleep(0.5)  # long after the disconnect, the run still goes on
            assert (await client.runs.get(tid, run_id))["status"] == "running"
            await client.runs.cancel(tid, run_id, wait=True)
