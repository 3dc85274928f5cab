"""Thread and run records in Postgres tables, shared by every worker on the same database (see `Records`).

A busy thread and an unfinished run carry a lease: a worker renews them while its run goes on, and a claim older
than the lease is taken over, so a worker that died holds no thread forever and its runs are run again
(`adopt_orphans`) from their last checkpoint.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from ._records import now

_SCHEMA = """
CREATE TABLE IF NOT EXISTS graphwright_threads (
    thread_id text PRIMARY KEY,
    owner text NOT NULL,
    graph_id text,
    status text NOT NULL,
    metadata jsonb NOT NULL,
    created_at text NOT NULL,
    updated_at text NOT NULL
);
CREATE INDEX IF NOT EXISTS graphwright_threads_owner ON graphwright_threads (owner, created_at);
CREATE TABLE IF NOT EXISTS graphwright_runs (
    run_id text PRIMARY KEY,
    thread_id text NOT NULL,
    owner text NOT NULL,
    assistant_id text NOT NULL,
    status text NOT NULL,
    metadata jsonb NOT NULL,
    kwargs jsonb NOT NULL,
    multitask_strategy text NOT NULL,
    cancel_requested boolean NOT NULL DEFAULT false,
    created_at text NOT NULL,
    updated_at text NOT NULL
);
CREATE INDEX IF NOT EXISTS graphwright_runs_thread ON graphwright_runs (thread_id, created_at);
"""

_THREAD_COLS = "thread_id, owner, graph_id, status, metadata, created_at, updated_at"
_RUN_COLS = (
    "run_id, thread_id, owner, assistant_id, status, metadata, kwargs, multitask_strategy, created_at, updated_at"
)


class PostgresRecords:
    """Thread and run records in Postgres tables, shared by every worker on the same database."""

    shared = True

    def __init__(
        self, url: str | None = None, *, conn: Any = None, lock: Any = None, lease_seconds: float = 30.0
    ) -> None:
        self.url = url
        self.lease_seconds = lease_seconds
        self._conn: Any = conn
        self._owns_conn = conn is None
        self._lock = lock or threading.Lock()  # a shared connection is used under its owner's lock

    async def setup(self) -> None:
        """Connect (unless given a connection) and create the tables if missing."""
        import psycopg
        from psycopg.rows import dict_row

        def connect() -> Any:
            conn = self._conn or psycopg.connect(self.url, autocommit=True, row_factory=dict_row, connect_timeout=5)
            with self._lock, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(7274001)")  # workers start together: one DDL at a time
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    conn.execute(statement)
            return conn

        self._conn = await asyncio.to_thread(connect)

    async def _run(self, sql: str, params: tuple = (), *, fetch: str = "none") -> Any:
        def go() -> Any:
            with self._lock:
                cur = self._conn.execute(sql, params)
                if fetch == "one":
                    return cur.fetchone()
                if fetch == "all":
                    return cur.fetchall()
                return cur.rowcount

        return await asyncio.to_thread(go)

    async def create_thread(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """Insert `row`; return None (and change nothing) when the thread id is taken."""
        got = await self._run(
            f"INSERT INTO graphwright_threads ({_THREAD_COLS}) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (thread_id) DO NOTHING RETURNING thread_id",
            (
                row["thread_id"],
                row["owner"],
                row["graph_id"],
                row["status"],
                orjson.dumps(row["metadata"]).decode(),
                row["created_at"],
                row["updated_at"],
            ),
            fetch="one",
        )
        return copy.deepcopy(row) if got else None

    async def get_thread(self, thread_id: str, owner: str) -> dict[str, Any] | None:
        """The thread, or None when it does not exist or belongs to another owner."""
        return await self._run(
            f"SELECT {_THREAD_COLS} FROM graphwright_threads WHERE thread_id = %s AND owner = %s",
            (thread_id, owner),
            fetch="one",
        )

    async def thread_exists(self, thread_id: str) -> bool:
        """True when any owner has a thread with this id."""
        row = await self._run("SELECT 1 AS x FROM graphwright_threads WHERE thread_id = %s", (thread_id,), fetch="one")
        return row is not None

    async def patch_thread(self, thread_id: str, owner: str, metadata: dict[str, Any]) -> dict[str, Any] | None:
        """Merge `metadata` into the thread's; return the thread or None when not found."""
        return await self._run(
            "UPDATE graphwright_threads SET metadata = metadata || %s::jsonb, updated_at = %s "
            f"WHERE thread_id = %s AND owner = %s RETURNING {_THREAD_COLS}",
            (orjson.dumps(metadata).decode(), now(), thread_id, owner),
            fetch="one",
        )

    async def set_graph(self, thread_id: str, graph_id: str) -> None:
        """Record which graph runs on the thread."""
        await self._run("UPDATE graphwright_threads SET graph_id = %s WHERE thread_id = %s", (graph_id, thread_id))

    async def search_threads(
        self, owner: str, *, metadata: dict | None, status: str | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        """The owner's threads matching `metadata` and `status`, newest first."""
        return await self._run(
            f"SELECT {_THREAD_COLS} FROM graphwright_threads WHERE owner = %s AND metadata @> %s::jsonb "
            "AND (%s::text IS NULL OR status = %s) ORDER BY created_at DESC LIMIT %s OFFSET %s",
            (owner, orjson.dumps(metadata or {}).decode(), status, status, limit, offset),
            fetch="all",
        )

    async def delete_thread(self, thread_id: str, owner: str) -> bool:
        """Delete the thread and its runs; False when not found."""
        count = await self._run(
            "DELETE FROM graphwright_threads WHERE thread_id = %s AND owner = %s", (thread_id, owner)
        )
        if count:
            await self._run("DELETE FROM graphwright_runs WHERE thread_id = %s", (thread_id,))
        return bool(count)

    async def claim_thread(self, thread_id: str, owner: str) -> bool:
        """Mark the thread busy unless it is; True when this call claimed it.

        A busy thread whose worker stopped renewing its lease (it died) for `lease_seconds` is taken over.
        """
        stale = (datetime.now(UTC) - timedelta(seconds=self.lease_seconds)).isoformat()
        row = await self._run(
            "UPDATE graphwright_threads SET status = 'busy', updated_at = %s "
            "WHERE thread_id = %s AND owner = %s AND (status <> 'busy' OR updated_at < %s) RETURNING thread_id",
            (now(), thread_id, owner, stale),
            fetch="one",
        )
        return row is not None

    async def renew(self, thread_ids: list[str], run_ids: list[str]) -> None:
        """Renew the busy lease of threads this worker is running and the lease of its unfinished runs."""
        if thread_ids:
            await self._run(
                "UPDATE graphwright_threads SET updated_at = %s WHERE thread_id = ANY(%s) AND status = 'busy'",
                (now(), thread_ids),
            )
        if run_ids:
            await self._run(
                "UPDATE graphwright_runs SET updated_at = %s WHERE run_id = ANY(%s) AND status IN ('pending', 'running')",
                (now(), run_ids),
            )

    async def adopt_orphans(self, assistant_ids: list[str]) -> list[dict[str, Any]]:
        """Take over unfinished runs of `assistant_ids` whose lease expired (their worker died), each by one worker.

        The conditional update is atomic per row: a second worker re-reads a row another just adopted, finds its
        lease fresh and leaves it.
        """
        stale = (datetime.now(UTC) - timedelta(seconds=self.lease_seconds)).isoformat()
        return await self._run(
            "UPDATE graphwright_runs SET updated_at = %s WHERE status IN ('pending', 'running') AND updated_at < %s "
            f"AND assistant_id = ANY(%s) RETURNING {_RUN_COLS}",
            (now(), stale, assistant_ids),
            fetch="all",
        )

    async def release_thread(self, thread_id: str, status: str) -> None:
        """Set a claimed thread's status to `status` (`idle`, `interrupted` or `error`)."""
        await self._run(
            "UPDATE graphwright_threads SET status = %s, updated_at = %s WHERE thread_id = %s",
            (status, now(), thread_id),
        )

    async def create_run(self, row: dict[str, Any]) -> None:
        """Insert a run record."""
        await self._run(
            f"INSERT INTO graphwright_runs ({_RUN_COLS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                row["run_id"],
                row["thread_id"],
                row["owner"],
                row["assistant_id"],
                row["status"],
                orjson.dumps(row["metadata"]).decode(),
                orjson.dumps(row["kwargs"]).decode(),
                row["multitask_strategy"],
                row["created_at"],
                row["updated_at"],
            ),
        )

    async def get_run(self, run_id: str, thread_id: str, owner: str) -> dict[str, Any] | None:
        """The run, or None when it is not on this thread of this owner."""
        return await self._run(
            f"SELECT {_RUN_COLS} FROM graphwright_runs WHERE run_id = %s AND thread_id = %s AND owner = %s",
            (run_id, thread_id, owner),
            fetch="one",
        )

    async def list_runs(
        self, thread_id: str, owner: str, *, status: str | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        """The thread's runs, newest first."""
        return await self._run(
            f"SELECT {_RUN_COLS} FROM graphwright_runs WHERE thread_id = %s AND owner = %s "
            "AND (%s::text IS NULL OR status = %s) ORDER BY created_at DESC LIMIT %s OFFSET %s",
            (thread_id, owner, status, status, limit, offset),
            fetch="all",
        )

    async def set_run_status(self, run_id: str, status: str) -> None:
        """Set a run's status (and its `updated_at`)."""
        await self._run(
            "UPDATE graphwright_runs SET status = %s, updated_at = %s WHERE run_id = %s", (status, now(), run_id)
        )

    async def delete_run(self, run_id: str) -> None:
        """Forget a run."""
        await self._run("DELETE FROM graphwright_runs WHERE run_id = %s", (run_id,))

    async def request_cancel(self, run_id: str) -> None:
        """Flag a run for cancellation (read by whichever worker runs it)."""
        await self._run("UPDATE graphwright_runs SET cancel_requested = true WHERE run_id = %s", (run_id,))

    async def cancel_requested(self, run_ids: list[str]) -> set[str]:
        """Which of `run_ids` have been flagged for cancellation."""
        if not run_ids:
            return set()
        rows = await self._run(
            "SELECT run_id FROM graphwright_runs WHERE run_id = ANY(%s) AND cancel_requested", (run_ids,), fetch="all"
        )
        return {r["run_id"] for r in rows}

    async def close(self) -> None:
        """Close the connection (unless it was given)."""
        if self._conn is not None and self._owns_conn:
            await asyncio.to_thread(self._conn.close)
