"""The side-effect ledger: what each side-effecting tool call did, so a resumed or replayed run never repeats it.

A call's key is `(thread, checkpoint, call)`, the call named by its position in the model's reply, its id and a
hash of its content, so no two calls of one reply share a key even when they share an id: the same call
resumed from the same checkpoint gets the same key. Before a side-effecting tool runs, the executor writes `started` under the key; when it returns, `done`
with the result. Both writes are committed before the graph moves on. A later run that finds `done` returns the
recorded result without calling the tool; one that finds only `started` (the process died during the call)
does not call it again either, and tells the model the outcome is unknown.

The ledger lives beside the checkpoints: a table in the same SQLite file or Postgres database as the
checkpointer (found from it at run time), or memory for an in-memory checkpointer.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver

LEDGER_TABLE = "graphwright_tool_ledger"
"""The table name in the checkpoint database."""

_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} (key TEXT PRIMARY KEY, tool TEXT NOT NULL, args TEXT NOT NULL, "
    "status TEXT NOT NULL, content TEXT, is_error INTEGER NOT NULL DEFAULT 0, updated DOUBLE PRECISION NOT NULL)"
)
_START = f"INSERT INTO {LEDGER_TABLE} (key, tool, args, status, updated) VALUES (?, ?, ?, 'started', ?) ON CONFLICT (key) DO NOTHING"
_FINISH = f"UPDATE {LEDGER_TABLE} SET status = 'done', content = ?, is_error = ?, updated = ? WHERE key = ?"
_LOOKUP = f"SELECT status, content, is_error FROM {LEDGER_TABLE} WHERE key = ?"


@dataclass(frozen=True)
class LedgerEntry:
    """What the ledger knows about one call."""

    status: Literal["started", "done"]
    """`started`: the call began and never reported back; `done`: it returned `content`."""
    content: str | None = None
    """The tool message text the call produced (None while only started)."""
    is_error: bool = False
    """True when the call ended in an error."""


class ToolLedger:
    """A record of side-effecting tool calls by idempotency key (this base class keeps it in memory).

    Example:
        >>> ledger = ToolLedger()
        >>> ledger.start("t|c|call-1", "send_mail", "{}")
        >>> ledger.lookup("t|c|call-1").status
        'started'
        >>> ledger.finish("t|c|call-1", "sent", is_error=False)
        >>> ledger.lookup("t|c|call-1")
        LedgerEntry(status='done', content='sent', is_error=False)
    """

    def __init__(self) -> None:
        self._entries: dict[str, LedgerEntry] = {}
        self._lock = threading.Lock()

    def lookup(self, key: str) -> LedgerEntry | None:
        """Return what is recorded under `key`, or None if the call never started."""
        with self._lock:
            return self._entries.get(key)

    def start(self, key: str, tool: str, args: str) -> None:
        """Record (durably, before returning) that the call under `key` is about to run."""
        with self._lock:
            self._entries.setdefault(key, LedgerEntry("started"))

    def finish(self, key: str, content: str, *, is_error: bool) -> None:
        """Record (durably, before returning) the result of the call under `key`."""
        with self._lock:
            self._entries[key] = LedgerEntry("done", content, is_error)


class SqlLedger(ToolLedger):
    """A ledger in a table of a SQLite or Postgres database, sharing a checkpointer's connection and lock."""

    def __init__(self, conn: Any, lock: Any, *, paramstyle: Literal["qmark", "format"] = "qmark") -> None:
        """Use `conn` (a `sqlite3.Connection`, a psycopg connection or pool), serialized by `lock`."""
        super().__init__()
        self._conn = conn
        self._db_lock = lock
        self._format = paramstyle == "format"
        self._run(_SCHEMA, ())

    def _run(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        if self._format:
            sql = sql.replace("?", "%s")
        with self._db_lock:
            if hasattr(self._conn, "getconn"):  # a psycopg pool: borrow a connection per statement
                with self._conn.connection() as conn:
                    cursor = conn.execute(sql, params)
                    rows = list(cursor.fetchall()) if cursor.description else []
                    if not conn.autocommit:
                        conn.commit()
                return rows
            cursor = self._conn.execute(sql, params)
            rows = list(cursor.fetchall()) if cursor.description else []
            # only a connection in autocommit mode may skip the commit: sqlite3's `autocommit` (Python 3.12+) is
            # -1, truthy, in its default legacy mode, where the INSERT opened a transaction that must be committed
            if getattr(self._conn, "autocommit", False) is not True:
                self._conn.commit()
        return rows

    def lookup(self, key: str) -> LedgerEntry | None:
        """Return what is recorded under `key`, or None if the call never started."""
        rows = self._run(_LOOKUP, (key,))
        if not rows:
            return None
        row = rows[0]
        status, content, is_error = (row["status"], row["content"], row["is_error"]) if isinstance(row, dict) else row
        return LedgerEntry(status, content, bool(is_error))

    def start(self, key: str, tool: str, args: str) -> None:
        """Record (committed before returning) that the call under `key` is about to run."""
        self._run(_START, (key, tool, args, time.time()))

    def finish(self, key: str, content: str, *, is_error: bool) -> None:
        """Record (committed before returning) the result of the call under `key`."""
        self._run(_FINISH, (content, int(is_error), time.time(), key))


_ATTACHED: weakref.WeakKeyDictionary[BaseCheckpointSaver, ToolLedger] = weakref.WeakKeyDictionary()
_ATTACH_LOCK = threading.RLock()  # re-entered when a wrapper asks for its inner saver's ledger


def ledger_for(checkpointer: BaseCheckpointSaver | None) -> ToolLedger | None:
    """Return the ledger that lives beside `checkpointer` (one per checkpointer), or None if there is none.

    SQLite and Postgres savers (one connection, a pool, or the async Postgres saver) get a table in their own
    database; an in-memory saver a ledger in memory; a wrapper with an `inner` saver the ledger of that one; no
    checkpointer (nothing can be resumed) or another kind (e.g. the async SQLite saver), None: pass a ledger
    to `make_executor` yourself there.

    Example:
        >>> from langgraph.checkpoint.memory import InMemorySaver
        >>> saver = InMemorySaver()
        >>> ledger_for(saver) is ledger_for(saver), ledger_for(None)
        (True, None)
    """
    if checkpointer is None:
        return None
    with _ATTACH_LOCK:
        if checkpointer in _ATTACHED:
            return _ATTACHED[checkpointer]
        ledger = _make_ledger(checkpointer)
        if ledger is not None:
            _ATTACHED[checkpointer] = ledger
        return ledger


def _make_ledger(checkpointer: BaseCheckpointSaver) -> ToolLedger | None:
    inner = getattr(checkpointer, "inner", None)
    if isinstance(inner, BaseCheckpointSaver):  # a wrapper (e.g. one adding async methods): use what it wraps
        return ledger_for(inner)
    if isinstance(checkpointer, InMemorySaver):
        return ToolLedger()
    # the ledger writes SQL on the saver's own connection, so the connection's driver decides (the layers keep
    # tools from asking memory which saver this is); drivers never imported cannot have made this connection
    conn = getattr(checkpointer, "conn", None)
    lock = getattr(checkpointer, "lock", None)
    psycopg, pool = sys.modules.get("psycopg"), sys.modules.get("psycopg_pool")
    if isinstance(conn, sqlite3.Connection) and lock is not None:  # SqliteSaver
        return SqlLedger(conn, lock)
    if psycopg is not None and isinstance(conn, psycopg.Connection) and lock is not None:  # PostgresSaver
        return SqlLedger(conn, lock, paramstyle="format")
    if pool is not None and isinstance(conn, pool.ConnectionPool):  # PostgresSaver over a pool
        return SqlLedger(conn, threading.Lock(), paramstyle="format")
    if psycopg is not None and isinstance(conn, psycopg.AsyncConnection):  # AsyncPostgresSaver
        return _sync_postgres_ledger(conn.info.dsn)
    if pool is not None and isinstance(conn, pool.AsyncConnectionPool):
        return _sync_postgres_ledger(conn.conninfo)  # a pool keeps the URL it was given
    return None


def _sync_postgres_ledger(conninfo: str) -> SqlLedger:
    """A ledger on its own sync connection: an async saver's connection cannot serve the executor's threads."""
    import psycopg

    return SqlLedger(psycopg.connect(conninfo, autocommit=True), threading.Lock(), paramstyle="format")
