"""The thread and run records: every backend implements the `Records` protocol, and all behave the same."""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from graphwright.service._memory_records import MemoryRecords
from graphwright.service._postgres_records import PostgresRecords
from graphwright.service._records import Records, new_thread_row, now
from graphwright.service._sqlite_records import SqliteRecords

BACKENDS = [MemoryRecords, PostgresRecords, SqliteRecords]
PROTOCOL_METHODS = sorted(
    name for name, value in vars(Records).items() if inspect.iscoroutinefunction(value) and not name.startswith("_")
)


def test_the_protocol_declares_every_method_the_service_calls() -> None:
    assert "claim_thread" in PROTOCOL_METHODS and "cancel_requested" in PROTOCOL_METHODS
    assert len(PROTOCOL_METHODS) == 20
    assert "shared" in Records.__annotations__


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda cls: cls.__name__)
def test_each_backend_has_exactly_the_protocols_methods_and_signatures(backend: type) -> None:
    extra = {
        name
        for name, value in vars(backend).items()
        if inspect.iscoroutinefunction(value) and not name.startswith("_") and name not in PROTOCOL_METHODS
    }
    assert not extra, f"{backend.__name__} has public methods the protocol does not declare: {sorted(extra)}"
    for name in PROTOCOL_METHODS:
        method = getattr(backend, name, None)
        assert inspect.iscoroutinefunction(method), f"{backend.__name__}.{name} is missing or not async"
        assert inspect.signature(method) == inspect.signature(getattr(Records, name)), f"{backend.__name__}.{name}"
    assert isinstance(backend.shared, bool)


def test_each_backend_is_a_records_at_run_time(tmp_path: Path) -> None:
    made = [MemoryRecords(), PostgresRecords("postgresql://unused"), SqliteRecords(sqlite3.connect(tmp_path / "r.db"))]
    assert all(isinstance(records, Records) for records in made)
    assert not isinstance(object(), Records)


def _memory(tmp_path: Path, postgres: Callable[[], str]) -> Records:
    return MemoryRecords()


def _sqlite(tmp_path: Path, postgres: Callable[[], str]) -> Records:
    return SqliteRecords(sqlite3.connect(tmp_path / "records.db", check_same_thread=False))


def _postgres(tmp_path: Path, postgres: Callable[[], str]) -> Records:
    return PostgresRecords(postgres())


@pytest.mark.parametrize("make", [_memory, _sqlite, _postgres], ids=["memory", "sqlite", "postgres"])
def test_every_backend_keeps_the_same_contract(make, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    records = make(tmp_path, lambda: request.getfixturevalue("postgres_url"))
    asyncio.run(_contract(records))


async def _contract(records: Records) -> None:
    owner, other = f"owner-{uuid.uuid4().hex[:8]}", f"other-{uuid.uuid4().hex[:8]}"
    tid = f"t-{uuid.uuid4().hex[:12]}"
    await records.setup()
    try:
        row = await records.create_thread(new_thread_row(tid, owner, "g", {"k": 1}))
        assert row is not None and row["status"] == "idle"
        assert await records.create_thread(new_thread_row(tid, other, None, {})) is None  # the id is taken
        assert await records.get_thread(tid, other) is None and await records.thread_exists(tid)
        patched = await records.patch_thread(tid, owner, {"x": "y"})
        assert patched is not None and patched["metadata"] == {"k": 1, "x": "y"}
        assert await records.patch_thread(tid, other, {"x": "z"}) is None
        found = await records.search_threads(owner, metadata={"x": "y"}, status=None, limit=10, offset=0)
        assert [r["thread_id"] for r in found] == [tid]
        assert await records.search_threads(owner, metadata={"x": "no"}, status=None, limit=10, offset=0) == []

        assert await records.claim_thread(tid, owner) and not await records.claim_thread(tid, owner)
        assert not await records.claim_thread(tid, other)
        await records.renew([tid], [])
        await records.release_thread(tid, "interrupted")
        assert (await records.get_thread(tid, owner))["status"] == "interrupted"

        run_id, stamp = str(uuid.uuid4()), now()
        run = {
            "run_id": run_id, "thread_id": tid, "owner": owner, "assistant_id": "g", "status": "pending",
            "metadata": {}, "kwargs": {"input": {"n": 1}}, "multitask_strategy": "reject",
            "created_at": stamp, "updated_at": stamp,
        }  # fmt: skip
        await records.create_run(run)
        await records.set_run_status(run_id, "success")
        got = await records.get_run(run_id, tid, owner)
        assert got is not None and got["status"] == "success" and got["kwargs"] == {"input": {"n": 1}}
        assert await records.get_run(run_id, tid, other) is None
        assert [r["run_id"] for r in await records.list_runs(tid, owner, status=None, limit=5, offset=0)] == [run_id]
        assert await records.cancel_requested([run_id]) == set()
        await records.request_cancel(run_id)
        assert await records.cancel_requested([run_id, "nope"]) == {run_id}
        await records.delete_run(run_id)
        assert await records.get_run(run_id, tid, owner) is None

        assert not await records.delete_thread(tid, other)
        assert await records.delete_thread(tid, owner) and not await records.thread_exists(tid)
    finally:
        await records.close()


def _run_row(tid: str, owner: str, status: str) -> dict:
    stamp = now()
    return {
        "run_id": str(uuid.uuid4()), "thread_id": tid, "owner": owner, "assistant_id": "g", "status": status,
        "metadata": {}, "kwargs": {"input": {"n": 1}, "temporary": False}, "multitask_strategy": "reject",
        "created_at": stamp, "updated_at": stamp,
    }  # fmt: skip


def test_sqlite_records_hand_the_runs_a_dead_process_left_to_the_next_once(tmp_path: Path) -> None:
    async def go() -> None:
        first = SqliteRecords(sqlite3.connect(tmp_path / "r.db", check_same_thread=False))
        await first.setup()
        await first.create_thread(new_thread_row("t1", "me", "g", {}))
        assert await first.claim_thread("t1", "me")
        running, pending, done = (_run_row("t1", "me", s) for s in ("running", "pending", "success"))
        for run in (running, pending, done):
            await first.create_run(run)
        assert await first.adopt_orphans(["g"]) == []  # its own runs are not orphans
        # the process is killed here; the next one opens the same file
        second = SqliteRecords(sqlite3.connect(tmp_path / "r.db", check_same_thread=False))
        await second.setup()
        assert await second.adopt_orphans(["other"]) == []  # not served here: left alone
        adopted = await second.adopt_orphans(["g"])
        assert [r["run_id"] for r in adopted] == [running["run_id"], pending["run_id"]]
        assert adopted[0]["kwargs"] == {"input": {"n": 1}, "temporary": False}
        assert await second.adopt_orphans(["g"]) == []
        assert (await second.get_thread("t1", "me"))["status"] == "idle"  # the dead process's claim is void

    asyncio.run(go())


def test_postgres_records_adopt_a_run_once_its_lease_expires_and_only_once(postgres_url: str) -> None:
    async def go() -> None:
        worker, rivals = PostgresRecords(postgres_url, lease_seconds=0.5), [
            PostgresRecords(postgres_url, lease_seconds=0.5) for _ in range(3)
        ]
        for records in (worker, *rivals):
            await records.setup()
        try:
            tid, owner = f"t-{uuid.uuid4().hex[:12]}", f"o-{uuid.uuid4().hex[:8]}"
            await worker.create_thread(new_thread_row(tid, owner, "g", {}))
            live, dead = _run_row(tid, owner, "running"), _run_row(tid, owner, "pending")
            await worker.create_run(live)
            await worker.create_run(dead)
            await asyncio.sleep(0.6)
            await worker.renew([], [live["run_id"]])  # the live worker renews its run; the dead one cannot
            assert [r for r in await rivals[0].adopt_orphans(["other"]) if r["thread_id"] == tid] == []
            found = await asyncio.gather(*(r.adopt_orphans(["g"]) for r in rivals))
            adopted = [r["run_id"] for rows in found for r in rows if r["thread_id"] == tid]
            assert adopted == [dead["run_id"]]  # one rival took it, the live run stayed with its worker
        finally:
            for records in (worker, *rivals):
                await records.close()

    asyncio.run(go())


def test_create_app_keeps_the_records_beside_the_checkpoints(tmp_path: Path, postgres_url: str) -> None:
    from service_support import make_app

    from graphwright.memory import open_checkpointer, open_postgres_checkpointer

    def records_of(**kwargs) -> type:
        return type(make_app(**kwargs).state.service.records)

    assert records_of() is MemoryRecords
    with open_checkpointer(tmp_path / "cp.sqlite") as saver:
        assert records_of(checkpointer=saver) is SqliteRecords
    with open_checkpointer(postgres_url) as saver:
        assert records_of(checkpointer=saver) is PostgresRecords
    with open_postgres_checkpointer(postgres_url, pool_size=2) as saver:
        assert records_of(checkpointer=saver) is MemoryRecords  # a pool has no one connection to share
    assert records_of(database=postgres_url) is PostgresRecords
