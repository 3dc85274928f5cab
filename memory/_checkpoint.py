"""Short-term memory: one factory for the checkpointers a graph is compiled with.

`open_checkpointer("runs.sqlite")` gives a SQLite saver on a file, `open_checkpointer("postgresql://...")` a
Postgres saver, `open_checkpointer(":memory:")` an in-memory one. `open_async_checkpointer` gives the async
savers for the same targets (aiosqlite; Postgres over a `psycopg_pool` connection pool) for `ainvoke`/`astream`
and servers; `open_postgres_checkpointer` is the sync Postgres saver over a pool, for many threads at once.
`checkpointer_backend(saver)` says which database a saver writes to and which of its method sets work, so
callers never read class names.
Every saver deserializes strictly: no pickle, and msgpack may only rebuild the types LangGraph lists as safe
plus the ones a caller allows by name.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from ..errors import CheckpointerError
from ._corrupt import guard_reads

MEMORY = ":memory:"
"""Pass as the target for an in-memory checkpointer (tests, throwaway runs)."""

_SQLITE_HEADER = b"SQLite format 3\x00"
_CONNECT_TIMEOUT = 5  # seconds to reach Postgres before giving up with a CheckpointerError


def strict_serializer(allowed_types: Iterable[type | tuple[str, ...]] = ()) -> JsonPlusSerializer:
    """Return a checkpoint serializer that never unpickles and rebuilds only allow-listed types.

    Args:
        allowed_types: classes (or `(module, name)` pairs) of your own that your graph state holds, on top of
            LangGraph's safe list (messages, documents, datetimes, `Send`, `Command`, ...).
    """
    serde = JsonPlusSerializer(pickle_fallback=False, allowed_msgpack_modules=None)
    extra = tuple(allowed_types)
    return serde.with_msgpack_allowlist(extra) if extra else serde


@dataclass(frozen=True)
class CheckpointerBackend:
    """Which database a checkpointer keeps its checkpoints in, and which of its two method sets work."""

    name: Literal["memory", "sqlite", "postgres"]
    """Where checkpoints live: this process's memory, a SQLite file, or a Postgres database."""
    api: Literal["sync", "async", "both"]
    """Which methods work: a `sync` saver raises on `aget_tuple` and the other async methods, an `async` one
    on `get_tuple` and the other sync methods; `both` work on the in-memory saver."""


def checkpointer_backend(saver: BaseCheckpointSaver) -> CheckpointerBackend | None:
    """Return which backend `saver` is (any of the savers `open_checkpointer` and its siblings open), else None.

    A saver is classified by what it is, not by what wraps it: a wrapper holding an `inner` saver is None
    here; pass its `inner` to ask about the saver behind it.

    Args:
        saver: a LangGraph checkpointer.

    Returns:
        A `CheckpointerBackend` for LangGraph's in-memory, SQLite and Postgres savers (sync or async, pooled
        or not, shallow or not) and their subclasses; None for any other saver.

    Example:
        >>> with open_checkpointer(":memory:") as saver:
        ...     checkpointer_backend(saver)
        CheckpointerBackend(name='memory', api='both')
    """
    if isinstance(saver, InMemorySaver):
        return CheckpointerBackend("memory", "both")
    for module, cls, backend in _SAVER_CLASSES:
        # a saver of a class whose module was never imported cannot exist: no need to import the driver
        loaded = sys.modules.get(module)
        if loaded is not None and isinstance(saver, getattr(loaded, cls)):
            return backend
    return None


_SAVER_CLASSES: tuple[tuple[str, str, CheckpointerBackend], ...] = (
    ("langgraph.checkpoint.sqlite", "SqliteSaver", CheckpointerBackend("sqlite", "sync")),
    ("langgraph.checkpoint.sqlite.aio", "AsyncSqliteSaver", CheckpointerBackend("sqlite", "async")),
    ("langgraph.checkpoint.postgres.aio", "AsyncPostgresSaver", CheckpointerBackend("postgres", "async")),
    ("langgraph.checkpoint.postgres.shallow", "AsyncShallowPostgresSaver", CheckpointerBackend("postgres", "async")),
    ("langgraph.checkpoint.postgres.base", "BasePostgresSaver", CheckpointerBackend("postgres", "sync")),
)
"""(module, class, backend), the async Postgres savers before their sync base class, which they share."""


def is_postgres_url(target: str) -> bool:
    """Return True when `target` is a Postgres connection URL (`postgres://` or `postgresql://`)."""
    return target.startswith(("postgres://", "postgresql://"))


@contextmanager
def open_checkpointer(
    target: str | os.PathLike[str] = MEMORY,
    *,
    allowed_types: Iterable[type | tuple[str, ...]] = (),
) -> Iterator[BaseCheckpointSaver]:
    """Open the checkpointer `target` names, set it up, and close it on exit.

    Args:
        target: `":memory:"` for an in-memory saver; a `postgresql://` URL for Postgres (tables are created if
            missing); otherwise the path of a SQLite file, created if its folder exists.
        allowed_types: extra types the strict deserializer may rebuild (see `strict_serializer`).

    Yields:
        A LangGraph checkpointer to pass to `compile_graph` or `StateGraph.compile`; `checkpointer_backend`
        says which one it is.

    Raises:
        CheckpointerError: the path is a folder, is not a SQLite database, is in a missing or unwritable
            folder, or the Postgres server cannot be reached. Nothing is created in that case.

    Example:
        >>> with open_checkpointer(":memory:") as saver:
        ...     checkpointer_backend(saver).name
        'memory'
    """
    serde = strict_serializer(allowed_types)
    target = os.fspath(target)
    if target == MEMORY:
        yield InMemorySaver(serde=serde)
    elif is_postgres_url(target):
        with _postgres(target, serde) as saver:
            yield saver
    else:
        with _sqlite(Path(target), serde) as saver:
            yield saver


def check_sqlite_path(path: Path) -> None:
    """Raise `CheckpointerError` unless `path` is an existing SQLite file or can be created as one.

    Checks only; it creates nothing, so a rejected path leaves the disk as it was.
    """
    if path.is_dir():
        raise CheckpointerError(f"checkpoint database {str(path)!r} is a folder, not a file")
    if path.exists():
        try:
            with path.open("rb") as fh:
                header = fh.read(len(_SQLITE_HEADER))
        except OSError as exc:
            raise CheckpointerError(f"cannot read checkpoint database {str(path)!r}: {exc.strerror}") from exc
        if header and header != _SQLITE_HEADER:
            raise CheckpointerError(f"{str(path)!r} is not a SQLite database; refusing to write to it")
        if not os.access(path, os.W_OK):
            raise CheckpointerError(f"checkpoint database {str(path)!r} is not writable")
        return
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise CheckpointerError(
            f"cannot create checkpoint database {str(path)!r}: folder {str(parent)!r} does not exist"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CheckpointerError(f"cannot create checkpoint database {str(path)!r}: {str(parent)!r} is not writable")


def private_file(path: str | os.PathLike[str]) -> None:
    """Make sure the file `path` is readable and writable by its owner only (mode 0600), creating it empty if missing.

    For files that hold state or secrets (checkpoints, the side-effect ledger beside them, experience stores):
    other users of the machine, and code graphwright runs, must not read other threads' state. An existing file
    this user owns is tightened; SQLite gives the -wal, -shm and -journal files it makes the same mode.

    Example:
        >>> import stat, tempfile
        >>> path = Path(tempfile.mkdtemp()) / "state.sqlite"
        >>> private_file(path)
        >>> oct(stat.S_IMODE(path.stat().st_mode))
        '0o600'
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        info = os.fstat(fd)
        if info.st_mode & 0o077 and info.st_uid == os.geteuid():
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


@contextmanager
def _sqlite(path: Path, serde: JsonPlusSerializer) -> Iterator[BaseCheckpointSaver]:
    from langgraph.checkpoint.sqlite import SqliteSaver

    check_sqlite_path(path)
    try:
        private_file(path)
        conn = sqlite3.connect(path, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        saver = SqliteSaver(conn, serde=serde)
        saver.setup()
        guard_reads(saver, _sqlite_ids(saver))
    except (sqlite3.DatabaseError, OSError) as exc:
        raise CheckpointerError(f"cannot open checkpoint database {str(path)!r}: {exc}") from exc
    try:
        yield saver
    finally:
        conn.close()


@contextmanager
def _postgres(url: str, serde: JsonPlusSerializer) -> Iterator[BaseCheckpointSaver]:
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row

    try:
        conn = psycopg.connect(url, autocommit=True, prepare_threshold=0, row_factory=dict_row, connect_timeout=5)
    except psycopg.Error as exc:
        raise CheckpointerError(f"cannot reach Postgres at {_redact(url)}: {exc}".strip()) from exc
    try:
        saver = PostgresSaver(conn, serde=serde)
        saver.setup()
        yield guard_reads(saver, _postgres_ids(saver))
    finally:
        conn.close()


@asynccontextmanager
async def open_async_checkpointer(
    target: str | os.PathLike[str] = MEMORY,
    *,
    allowed_types: Iterable[type | tuple[str, ...]] = (),
    pool_size: int = 4,
) -> AsyncIterator[BaseCheckpointSaver]:
    """Open the async checkpointer `target` names, set it up, and close it on exit.

    The targets are those of `open_checkpointer`: `":memory:"`, a SQLite path (an `AsyncSqliteSaver` on
    aiosqlite), or a `postgresql://` URL (an `AsyncPostgresSaver` over an `AsyncConnectionPool` of at most
    `pool_size` connections, so concurrent runs do not queue on one connection).

    Args:
        target: where checkpoints live.
        allowed_types: extra types the strict deserializer may rebuild (see `strict_serializer`).
        pool_size: the most Postgres connections the pool opens (ignored for other targets).

    Yields:
        A LangGraph checkpointer with the async methods (`aget_tuple`, `aput`, ...) implemented.

    Raises:
        CheckpointerError: as `open_checkpointer`, or `pool_size` < 1.

    Example:
        >>> import asyncio
        >>> async def kind():
        ...     async with open_async_checkpointer(":memory:") as saver:
        ...         return checkpointer_backend(saver).name
        >>> asyncio.run(kind())
        'memory'
    """
    serde = strict_serializer(allowed_types)
    target = os.fspath(target)
    if target == MEMORY:
        yield InMemorySaver(serde=serde)
    elif is_postgres_url(target):
        async with _async_postgres(target, serde, pool_size) as saver:
            yield saver
    else:
        async with _async_sqlite(Path(target), serde) as saver:
            yield saver


@contextmanager
def open_postgres_checkpointer(
    url: str,
    *,
    allowed_types: Iterable[type | tuple[str, ...]] = (),
    pool_size: int = 4,
) -> Iterator[BaseCheckpointSaver]:
    """Open a sync Postgres checkpointer over a `ConnectionPool` of at most `pool_size` connections.

    Use it where many threads checkpoint at once; `open_checkpointer(url)` keeps one connection (and a lock).

    Raises:
        CheckpointerError: `url` is not a Postgres URL, the server cannot be reached, or `pool_size` < 1.
    """
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg_pool import ConnectionPool, PoolTimeout

    _check_pool(url, pool_size)
    _probe_postgres(url)
    pool = ConnectionPool(url, min_size=1, max_size=pool_size, kwargs=_pg_kwargs(), open=False, timeout=_CONNECT_TIMEOUT)
    try:
        pool.open(wait=True, timeout=_CONNECT_TIMEOUT)
    except PoolTimeout as exc:
        pool.close()
        raise CheckpointerError(f"cannot open a connection pool to Postgres at {_redact(url)}: {exc}") from exc
    try:
        saver = PostgresSaver(pool, serde=strict_serializer(allowed_types))
        saver.setup()
        yield saver
    finally:
        pool.close()


def _pg_kwargs() -> dict[str, object]:
    """Connection settings LangGraph's Postgres savers require (autocommit, dict rows, no prepared statements)."""
    from psycopg.rows import dict_row

    return {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}


def _check_pool(url: str, pool_size: int) -> None:
    if not is_postgres_url(url):
        raise CheckpointerError(f"expected a postgresql:// URL, got {_redact(url)!r}")
    if pool_size < 1:
        raise CheckpointerError(f"pool_size must be at least 1, got {pool_size}")


def _probe_postgres(url: str) -> None:
    """Connect once, so an unreachable server fails fast with the driver's own reason (a pool only retries)."""
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=_CONNECT_TIMEOUT).close()
    except psycopg.Error as exc:
        raise CheckpointerError(f"cannot reach Postgres at {_redact(url)}: {exc}".strip()) from exc


@asynccontextmanager
async def _async_postgres(url: str, serde: JsonPlusSerializer, pool_size: int) -> AsyncIterator[BaseCheckpointSaver]:
    import psycopg
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg_pool import AsyncConnectionPool, PoolTimeout

    _check_pool(url, pool_size)
    try:
        await (await psycopg.AsyncConnection.connect(url, connect_timeout=_CONNECT_TIMEOUT)).close()
    except psycopg.Error as exc:
        raise CheckpointerError(f"cannot reach Postgres at {_redact(url)}: {exc}".strip()) from exc
    pool = AsyncConnectionPool(url, min_size=1, max_size=pool_size, kwargs=_pg_kwargs(), open=False, timeout=_CONNECT_TIMEOUT)
    try:
        await pool.open(wait=True, timeout=_CONNECT_TIMEOUT)
    except PoolTimeout as exc:
        await pool.close()
        raise CheckpointerError(f"cannot open a connection pool to Postgres at {_redact(url)}: {exc}") from exc
    try:
        saver = AsyncPostgresSaver(pool, serde=serde)
        await saver.setup()
        yield guard_reads(saver, None, _async_postgres_ids(saver))
    finally:
        await pool.close()


@asynccontextmanager
async def _async_sqlite(path: Path, serde: JsonPlusSerializer) -> AsyncIterator[BaseCheckpointSaver]:
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    check_sqlite_path(path)
    try:
        private_file(path)
        conn = await aiosqlite.connect(path)
    except (sqlite3.DatabaseError, OSError) as exc:
        raise CheckpointerError(f"cannot open checkpoint database {str(path)!r}: {exc}") from exc
    try:
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            saver = AsyncSqliteSaver(conn, serde=serde)
            saver = guard_reads(saver, None, _async_sqlite_ids(saver))
            await saver.setup()
        except sqlite3.DatabaseError as exc:
            raise CheckpointerError(f"cannot open checkpoint database {str(path)!r}: {exc}") from exc
        yield saver
    finally:
        await conn.close()


_IDS = "SELECT checkpoint_id FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ?"


def _ids_query(before: str | None, limit: int | None) -> str:
    sql = _IDS + (" AND checkpoint_id < ?" if before else "") + " ORDER BY checkpoint_id DESC"
    return sql + (f" LIMIT {int(limit)}" if limit else "")


def _sqlite_ids(saver: Any) -> Any:
    """A thread's checkpoint ids, newest first, straight from the SQLite table (nothing deserialized)."""

    def ids(thread: str, ns: str, before: str | None, limit: int | None) -> list[str]:
        params = [thread, ns, *([before] if before else [])]
        with saver.lock:
            return [row[0] for row in saver.conn.execute(_ids_query(before, limit), params)]

    return ids


def _postgres_ids(saver: Any) -> Any:
    """The same from the Postgres table."""

    def ids(thread: str, ns: str, before: str | None, limit: int | None) -> list[str]:
        params = [thread, ns, *([before] if before else [])]
        with saver._cursor() as cur:
            cur.execute(_ids_query(before, limit).replace("?", "%s"), params)
            return [row["checkpoint_id"] for row in cur.fetchall()]

    return ids


def _async_sqlite_ids(saver: Any) -> Any:
    """`_sqlite_ids` for an `AsyncSqliteSaver` (on its aiosqlite connection, under its lock)."""

    async def ids(thread: str, ns: str, before: str | None, limit: int | None) -> list[str]:
        params = [thread, ns, *([before] if before else [])]
        async with saver.lock, saver.conn.execute(_ids_query(before, limit), params) as cur:
            return [row[0] for row in await cur.fetchall()]

    return ids


def _async_postgres_ids(saver: Any) -> Any:
    """`_postgres_ids` for an `AsyncPostgresSaver` (a connection from its pool)."""

    async def ids(thread: str, ns: str, before: str | None, limit: int | None) -> list[str]:
        params = [thread, ns, *([before] if before else [])]
        async with saver._cursor() as cur:
            await cur.execute(_ids_query(before, limit).replace("?", "%s"), params)
            return [row["checkpoint_id"] for row in await cur.fetchall()]

    return ids


def _redact(url: str) -> str:
    """Hide a password in a connection URL before it goes into an error message."""
    head, sep, tail = url.partition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, _, userinfo = head.partition("//")
    return f"{scheme}//{userinfo.split(':', 1)[0]}:***@{tail}"
