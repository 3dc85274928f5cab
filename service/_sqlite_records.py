"""Thread and run records in the SQLite checkpoint file, so a single-process server keeps them across restarts.

See `Records` for the contract.
"""

from __future__ import annotations

import asyncio
import copy
import sqlite3
import threading
from typing import Any

import orjson

from ._records import matches_metadata, now

_SCHEMA = """
CREATE TABLE IF NOT EXISTS graphwright_threads (
    thread_id TEXT PRIMARY KEY, owner TEXT NOT NULL, graph_id TEXT, status TEXT NOT NULL,
    metadata TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS graphwright_threads_owner ON graphwright_threads (owner, created_at);
CREATE TABLE IF NOT EXISTS graphwright_runs (
    run_id TEXT PRIMARY KEY, thread_id TEXT NOT NULL, owner TEXT NOT NULL, assistant_id TEXT NOT NULL,
    status TEXT NOT NULL, metadata TEXT NOT NULL, kwargs TEXT NOT NULL, multitask_strategy TEXT NOT NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS graphwright_runs_thread ON graphwright_runs (thread_id, created_at);
"""
_THREAD_COLS = ("thread_id", "owner", "graph_id", "status", "metadata", "created_at", "updated_at")
_RUN_COLS = (
    "run_id",
    "thread_id",
    "owner",
    "assistant_id",
    "status",
    "metadata",
    "kwargs",
    "multitask_strategy",
    "created_at",
    "updated_at",
)
_JSON = {"metadata", "kwargs"}


def _row(cols: tuple[str, ...], values: tuple | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {c: orjson.loads(v) if c in _JSON else v for c, v in zip(cols, values)}


class SqliteRecords:
    """Thread and run records in tables beside the checkpoints, on the SQLite saver's own connection."""

    shared = False

    def __init__(self, conn: sqlite3.Connection, lock: Any = None) -> None:
        self._conn = conn
        self._lock = lock or threading.Lock()
        self._orphans: list[dict[str, Any]] = []

    async def _run(self, sql: str, params: tuple = (), *, fetch: str = "none") -> Any:
        def go() -> Any:
            with self._lock:
                cur = self._conn.execute(sql, params)
                try:
                    if fetch == "one":
                        return cur.fetchone()
                    if fetch == "all":
                        return cur.fetchall()
                    return cur.rowcount
                finally:
                    cur.close()
                    self._conn.commit()

        return await asyncio.to_thread(go)

    async def setup(self) -> None:
        """Create the tables if missing."""

        def create() -> list[dict[str, Any]]:
            with self._lock:
                self._conn.executescript(_SCHEMA)
                # one process owns this file: the claims of the one before it are void, its unfinished runs orphans
                self._conn.execute("UPDATE graphwright_threads SET status = 'idle' WHERE status = 'busy'")
                rows = self._conn.execute(
                    f"SELECT {', '.join(_RUN_COLS)} FROM graphwright_runs WHERE status IN ('pending', 'running') "
                    "ORDER BY created_at"
                ).fetchall()
                self._conn.commit()
                return [_row(_RUN_COLS, v) for v in rows]

        self._orphans = await asyncio.to_thread(create)

    async def create_thread(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """Insert `row`; return None (and change nothing) when the thread id is taken."""
        values = tuple(orjson.dumps(row[c]).decode() if c in _JSON else row[c] for c in _THREAD_COLS)
        count = await self._run(
            f"INSERT OR IGNORE INTO graphwright_threads ({', '.join(_THREAD_COLS)}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            values,
        )
        return copy.deepcopy(row) if count else None

    async def get_thread(self, thread_id: str, owner: str) -> dict[str, Any] | None:
        """The thread, or None when it does not exist or belongs to another owner."""
        values = await self._run(
            f"SELECT {', '.join(_THREAD_COLS)} FROM graphwright_threads WHERE thread_id = ? AND owner = ?",
            (thread_id, owner),
            fetch="one",
        )
        return _row(_THREAD_COLS, values)

    async def thread_exists(self, thread_id: str) -> bool:
        """True when any owner has a thread with this id."""
        got = await self._run("SELECT 1 FROM graphwright_threads WHERE thread_id = ?", (thread_id,), fetch="one")
        return got is not None

    async def set_graph(self, thread_id: str, graph_id: str) -> None:
        """Record which graph runs on the thread."""
        await self._run("UPDATE graphwright_threads SET graph_id = ? WHERE thread_id = ?", (graph_id, thread_id))

    async def patch_thread(self, thread_id: str, owner: str, metadata: dict[str, Any]) -> dict[str, Any] | None:
        """Merge `metadata` into the thread's; return the thread or None when not found."""
        row = await self.get_thread(thread_id, owner)
        if row is None:
            return None
        row["metadata"] = {**row["metadata"], **metadata}
        row["updated_at"] = now()
        await self._run(
            "UPDATE graphwright_threads SET metadata = ?, updated_at = ? WHERE thread_id = ?",
            (orjson.dumps(row["metadata"]).decode(), row["updated_at"], thread_id),
        )
        return row

    async def search_threads(
        self, owner: str, *, metadata: dict | None, status: str | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        """The owner's threads matching `metadata` and `status`, newest first."""
        rows = await self._run(
            f"SELECT {', '.join(_THREAD_COLS)} FROM graphwright_threads WHERE owner = ? AND (? IS NULL OR status = ?) "
            "ORDER BY created_at DESC",
            (owner, status, status),
            fetch="all",
        )
        found = [r for r in (_row(_THREAD_COLS, v) for v in rows) if r and matches_metadata(r["metadata"], metadata)]
        return found[offset : offset + limit]

    async def delete_thread(self, thread_id: str, owner: str) -> bool:
        """Delete the thread and its runs; False when not found."""
        count = await self._run("DELETE FROM graphwright_threads WHERE thread_id = ? AND owner = ?", (thread_id, owner))
        if count:
            await self._run("DELETE FROM graphwright_runs WHERE thread_id = ?", (thread_id,))
        return bool(count)

    async def claim_thread(self, thread_id: str, owner: str) -> bool:
        """Mark the thread busy unless it already is; True when this call claimed it."""
        count = await self._run(
            "UPDATE graphwright_threads SET status = 'busy', updated_at = ? "
            "WHERE thread_id = ? AND owner = ? AND status <> 'busy'",
            (now(), thread_id, owner),
        )
        return count == 1

    async def renew(self, thread_ids: list[str], run_ids: list[str]) -> None:
        """Nothing to renew: one process owns the file (stale claims are cleared at start-up)."""

    async def adopt_orphans(self, assistant_ids: list[str]) -> list[dict[str, Any]]:
        """The runs of `assistant_ids` the previous process left unfinished (found by `setup`), each returned once."""
        mine = [run for run in self._orphans if run["assistant_id"] in assistant_ids]
        self._orphans = [run for run in self._orphans if run["assistant_id"] not in assistant_ids]
        return mine

    async def release_thread(self, thread_id: str, status: str) -> None:
        """Set a claimed thread's status to `status` (`idle`, `interrupted` or `error`)."""
        await self._run(
            "UPDATE graphwright_threads SET status = ?, updated_at = ? WHERE thread_id = ?", (status, now(), thread_id)
        )

    async def create_run(self, row: dict[str, Any]) -> None:
        """Insert a run record."""
        values = tuple(orjson.dumps(row[c]).decode() if c in _JSON else row[c] for c in _RUN_COLS)
        marks = ", ".join("?" * len(_RUN_COLS))
        await self._run(f"INSERT INTO graphwright_runs ({', '.join(_RUN_COLS)}) VALUES ({marks})", values)

    async def get_run(self, run_id: str, thread_id: str, owner: str) -> dict[str, Any] | None:
        """The run, or None when it is not on this thread of this owner."""
        values = await self._run(
            f"SELECT {', '.join(_RUN_COLS)} FROM graphwright_runs WHERE run_id = ? AND thread_id = ? AND owner = ?",
            (run_id, thread_id, owner),
            fetch="one",
        )
        return _row(_RUN_COLS, values)

    async def list_runs(
        self, thread_id: str, owner: str, *, status: str | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        """The thread's runs, newest first."""
        rows = await self._run(
            f"SELECT {', '.join(_RUN_COLS)} FROM graphwright_runs WHERE thread_id = ? AND owner = ? "
            "AND (? IS NULL OR status = ?) ORDER BY created_at DESC LIMIT ? OFFSET ?",
            (thread_id, owner, status, status, limit, offset),
            fetch="all",
        )
        return [_row(_RUN_COLS, v) for v in rows]

    async def set_run_status(self, run_id: str, status: str) -> None:
        """Set a run's status (and its `updated_at`)."""
        await self._run(
            "UPDATE graphwright_runs SET status = ?, updated_at = ? WHERE run_id = ?", (status, now(), run_id)
        )

    async def delete_run(self, run_id: str) -> None:
        """Forget a run."""
        await self._run("DELETE FROM graphwright_runs WHERE run_id = ?", (run_id,))

    async def request_cancel(self, run_id: str) -> None:
        """Flag a run for cancellation."""
        await self._run("UPDATE graphwright_runs SET cancel_requested = 1 WHERE run_id = ?", (run_id,))

    async def cancel_requested(self, run_ids: list[str]) -> set[str]:
        """Which of `run_ids` have been flagged for cancellation."""
        if not run_ids:
            return set()
        marks = ", ".join("?" * len(run_ids))
        rows = await self._run(
            f"SELECT run_id FROM graphwright_runs WHERE cancel_requested = 1 AND run_id IN ({marks})",
            tuple(run_ids),
            fetch="all",
        )
        return {r[0] for r in rows}

    async def close(self) -> None:
        """Nothing to close: the connection belongs to the checkpointer."""
