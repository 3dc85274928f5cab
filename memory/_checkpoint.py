"""Short-term memory: one factory for the checkpointers a graph is compiled with.

`open_checkpointer("runs.sqlite")` gives a SQLite saver on a file, `open_checkpointer("postgresql://...")` a
Postgres saver, `open_checkpointer(":memory:")` an in-memory one. Every saver deserializes strictly: no pickle,
and msgpack may only rebuild the types LangGraph lists as safe plus the ones a caller allows by name.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from .._errors import CheckpointerError

MEMORY = ":memory:"
"""Pass as the target for an in-memory checkpointer (tests, throwaway runs)."""

_SQLITE_HEADER = b"SQLite format 3\x00"


def strict_serializer(allowed_types: Iterable[type | tuple[str, ...]] = ()) -> JsonPlusSerializer:
    """Return a checkpoint serializer that never unpickles and rebuilds only allow-listed types.

    Args:
        allowed_types: classes (or `(module, name)` pairs) of your own that your graph state holds, on top of
            LangGraph's safe list (messages, documents, datetimes, `Send`, `Command`, ...).
    """
    serde = JsonPlusSerializer(pickle_fallback=False, allowed_msgpack_modules=None)
    extra = tuple(allowed_types)
    return serde.with_msgpack_allowlist(extra) if extra else serde


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
        A LangGraph checkpointer to pass to `compile_graph` or `StateGraph.compile`.

    Raises:
        CheckpointerError: the path is a folder, is not a SQLite database, is in a missing or unwritable
            folder, or the Postgres server cannot be reached. Nothing is created in that case.

    Example:
        >>> with open_checkpointer(":memory:") as saver:
        ...     type(saver).__name__
        'InMemorySaver'
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


@contextmanager
def _sqlite(path: Path, serde: JsonPlusSerializer) -> Iterator[BaseCheckpointSaver]:
    from langgraph.checkpoint.sqlite import SqliteSaver

    check_sqlite_path(path)
    try:
        conn = sqlite3.connect(path, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        saver = SqliteSaver(conn, serde=serde)
        saver.setup()
    except sqlite3.DatabaseError as exc:
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
        yield saver
    finally:
        conn.close()


def _redact(url: str) -> str:
    """Hide a password in a connection URL before it goes into an error message."""
    head, sep, tail = url.partition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, _, userinfo = head.partition("//")
    return f"{scheme}//{userinfo.split(':', 1)[0]}:***@{tail}"
