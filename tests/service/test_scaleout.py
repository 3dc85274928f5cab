"""Several uvicorn worker processes on one Postgres: a thread started on one is read, resumed, joined and
cancelled on another. Each server is a real `graphwright serve` subprocess."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
from service_support import ALICE, BOB, asgi_client, free_port, make_app, serve_process, stop_process, wait_served
from langgraph_sdk import get_client

pytestmark = pytest.mark.services

GRAPHS = ["approval=service_graphs:approval", "slow=service_graphs:slow", "assistant=service_graphs:assistant"]


@pytest.fixture(scope="module")
def two_workers(postgres_url: str, tmp_path_factory) -> Iterator[tuple[str, str]]:
    """Two `graphwright serve` processes on different ports sharing one Postgres database."""
    cwd = tmp_path_factory.mktemp("serve")
    ports = [free_port(), free_port()]
    procs = [serve_process(GRAPHS, postgres_url, port, cwd, GW_SLOW_SECONDS="30") for port in ports]
    try:
        for proc, port in zip(procs, ports):
            wait_served(proc, port)
        yield tuple(f"http://127.0.0.1:{port}" for port in ports)
    finally:
        for proc in procs:
            stop_process(proc)


async def test_interrupt_on_one_worker_resume_on_the_other(two_workers) -> None:
    a, b = (get_client(url=url, api_key=ALICE) for url in two_workers)
    tid = (await a.threads.create(metadata={"flow": "approval"}))["thread_id"]
    paused = await a.runs.wait(tid, "approval", input={"request": "scale out"})
    assert paused["__interrupt__"][0]["value"]["draft"] == "Dear team, scale out."

    thread = await b.threads.get(tid)
    assert thread["status"] == "interrupted" and thread["metadata"] == {"flow": "approval"}
    state = await b.threads.get_state(tid)
    assert state["next"] == ["ask"] and state["interrupts"][0]["value"]["question"] == "Send this email?"
    parts = [p async for p in b.runs.stream(tid, "approval", command={"resume": "yes"}, stream_mode="updates")]
    assert [next(iter(p.data)) for p in parts if p.event == "updates"] == ["ask", "send"]
    assert parts[-1].event == "end" and parts[-1].data["status"] == "success"

    final = await a.threads.get_state(tid)
    assert final["values"]["sent"] == "Dear team, scale out." and final["next"] == []
    assert len(await a.threads.get_history(tid, limit=50)) == len(await b.threads.get_history(tid, limit=50))
    runs_seen_by_a = await a.runs.list(tid)
    assert [r["status"] for r in runs_seen_by_a] == ["success", "success"]
    with pytest.raises(httpx.HTTPStatusError) as err:  # tenancy holds across workers too
        await get_client(url=two_workers[1], api_key=BOB).threads.get(tid)
    assert err.value.response.status_code == 404


async def test_stream_on_one_worker_then_continue_the_conversation_on_the_other(two_workers) -> None:
    a, b = (get_client(url=url, api_key=ALICE) for url in two_workers)
    tid = (await a.threads.create())["thread_id"]
    question = {"messages": [{"role": "user", "content": "What is 2 ** 10?"}]}
    parts = [p async for p in a.runs.stream(tid, "assistant", input=question, stream_mode=["values", "messages-tuple"])]
    assert parts[-2].data["answer"] == "It is 1024."
    second = {"messages": [{"role": "user", "content": "What is 3 + 4?"}]}
    result = await b.runs.wait(tid, "assistant", input=second)
    assert result["answer"] == "It is 7." and len(result["messages"]) == 8  # the first exchange is remembered


async def test_busy_thread_is_rejected_on_every_worker_and_cancel_works_from_another(two_workers) -> None:
    a, b = (get_client(url=url, api_key=ALICE) for url in two_workers)
    tid = (await a.threads.create())["thread_id"]
    run = await a.runs.create(tid, "slow", input={"steps": 0})
    for _ in range(100):
        if (await b.runs.get(tid, run["run_id"]))["status"] == "running":
            break
        await asyncio.sleep(0.05)
    with pytest.raises(httpx.HTTPStatusError) as err:
        await b.runs.create(tid, "slow", input={"steps": 0})
    assert err.value.response.status_code == 409

    started = time.monotonic()
    cancelled = await b.runs.cancel(tid, run["run_id"], wait=True)
    assert cancelled["status"] == "interrupted" and time.monotonic() - started < 5
    assert (await a.runs.get(tid, run["run_id"]))["status"] == "interrupted"
    assert (await b.threads.get(tid))["status"] == "idle"


async def test_concurrent_runs_on_one_thread_across_workers_follow_the_policy(two_workers) -> None:
    a, b = (get_client(url=url, api_key=ALICE) for url in two_workers)
    tid = (await a.threads.create())["thread_id"]

    async def run(client, i: int, strategy: str):
        try:
            return await client.runs.wait(tid, "approval", input={"request": f"r{i}"}, multitask_strategy=strategy)
        except httpx.HTTPStatusError as err:
            return err.response.status_code

    queued = await asyncio.gather(*(run((a, b)[i % 2], i, "enqueue") for i in range(6)))
    assert all(isinstance(r, dict) and r["__interrupt__"] for r in queued)  # every one ran, one at a time
    assert sorted(r["draft"] for r in queued) == [f"Dear team, r{i}." for i in range(6)]
    statuses = [r["status"] for r in await a.runs.list(tid, limit=20)]
    assert statuses == ["success"] * 6

    rejected = await asyncio.gather(*(run((a, b)[i % 2], i, "reject") for i in range(6)))
    assert 409 in rejected and any(isinstance(r, dict) for r in rejected)
    assert (await b.threads.get(tid))["status"] == "interrupted"


async def test_join_on_another_worker(two_workers) -> None:
    a, b = (get_client(url=url, api_key=ALICE) for url in two_workers)
    tid = (await a.threads.create())["thread_id"]
    run = await a.runs.create(tid, "approval", input={"request": "join me"})
    joined = await b.runs.join(tid, run["run_id"])
    assert joined["draft"] == "Dear team, join me." and joined["__interrupt__"][0]["value"]["question"]
    stream = [p async for p in b.runs.join_stream(tid, run["run_id"])]
    assert stream[-1].event == "end" and stream[-1].data["status"] == "success"


def test_uvicorn_workers_flag_shares_state_through_postgres(postgres_url: str, tmp_path: Path) -> None:
    port = free_port()
    proc = serve_process(GRAPHS, postgres_url, port, tmp_path, "--workers", "2", GW_SLOW_SECONDS="30")
    try:
        wait_served(proc, port)
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"x-api-key": ALICE}, timeout=30)
        tid = http.post("/threads", json={}).json()["thread_id"]
        http.post(f"/threads/{tid}/runs/wait", json={"assistant_id": "approval", "input": {"request": "w"}})
        headers = {"x-api-key": ALICE}
        workers, reads = set(), set()
        for _ in range(60):  # a fresh connection each time, so the kernel spreads them over both workers
            workers.add(httpx.get(f"http://127.0.0.1:{port}/info", headers=headers).json()["worker"])
            reads.add(tuple(httpx.get(f"http://127.0.0.1:{port}/threads/{tid}/state", headers=headers).json()["next"]))
            if len(workers) == 2 and len(reads) >= 1 and _ > 10:
                break
        assert len(workers) == 2 and proc.pid not in workers
        assert reads == {("ask",)}  # every worker sees the same paused thread
        done = http.post(f"/threads/{tid}/runs/wait", json={"assistant_id": "approval", "command": {"resume": "y"}})
        assert done.json()["sent"] == "Dear team, w."
    finally:
        stop_process(proc)


async def test_a_dead_workers_claim_on_a_thread_expires(postgres_url: str) -> None:
    import psycopg

    from graphwright.memory import open_checkpointer
    from graphwright.service import ServiceOptions

    options = ServiceOptions(busy_lease_seconds=1.0, rate_per_second=1000, rate_burst=1000)
    with open_checkpointer(postgres_url) as saver:
        client = asgi_client(make_app(checkpointer=saver, options=options))
        tid = (await client.threads.create())["thread_id"]
        with psycopg.connect(postgres_url, autocommit=True) as conn:  # a worker claimed it, then died
            conn.execute("UPDATE graphwright_threads SET status = 'busy' WHERE thread_id = %s", (tid,))
        with pytest.raises(httpx.HTTPStatusError) as err:
            await client.runs.wait(tid, "approval", input={"request": "r"})
        assert err.value.response.status_code == 409
        await asyncio.sleep(1.2)
        result = await client.runs.wait(tid, "approval", input={"request": "r"})
        assert result["draft"] == "Dear team, r."
