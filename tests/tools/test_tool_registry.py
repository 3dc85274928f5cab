"""Registering a tool: the schema comes from hints and docstring; anything untyped or undocumented fails early."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Literal

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from graphwright.errors import ToolDefinitionError
from graphwright.memory import open_checkpointer
from graphwright.tools import LEDGER_TABLE, ToolMeta, calculator, ledger_for, register_tool, tool_meta, with_meta


def test_schema_comes_from_type_hints_and_the_args_section() -> None:
    @register_tool(side_effects=False, permission="search", timeout=3, needs_approval=True)
    def search(query: str, limit: int = 5, mode: Literal["fast", "deep"] = "fast") -> list[str]:
        """Search the notes.

        Args:
            query: words to look for.
            limit: most results to return.
            mode: how hard to look.
        """
        return [query] * limit

    schema = search.tool_call_schema.model_json_schema()
    assert search.name == "search" and search.description == "Search the notes."
    assert schema["required"] == ["query"]
    assert schema["properties"]["query"] == {"description": "words to look for.", "title": "Query", "type": "string"}
    assert schema["properties"]["limit"]["type"] == "integer" and schema["properties"]["limit"]["default"] == 5
    assert schema["properties"]["mode"]["enum"] == ["fast", "deep"]
    assert tool_meta(search) == ToolMeta(side_effects=False, permission="search", timeout=3, needs_approval=True)
    assert search.invoke({"query": "x", "limit": 2}) == ["x", "x"]


def test_default_metadata_is_the_safe_one() -> None:
    @register_tool
    def touch(path: str) -> str:
        """Touch a file.

        Args:
            path: which file.
        """
        return path

    assert tool_meta(touch).side_effects is True
    assert tool_meta(calculator).side_effects is False  # a plain langchain tool: not registered here
    assert tool_meta(with_meta(calculator, ToolMeta(permission="math"))).permission == "math"
    assert tool_meta(calculator).permission is None, "with_meta must not change the original"


def test_async_functions_become_async_tools() -> None:
    @register_tool(side_effects=False)
    async def double(n: int) -> int:
        """Double a number.

        Args:
            n: the number.
        """
        return 2 * n

    assert asyncio.run(double.ainvoke({"n": 21})) == 42


def _no_hint(a, b: int) -> int:
    """Add.

    Args:
        a: first.
        b: second.
    """
    return a + b


def _no_doc(a: int) -> int:
    return a


def _undocumented(a: int, b: int) -> int:
    """Add.

    Args:
        a: first.
    """
    return a + b


def _star(*values: int) -> int:
    """Sum.

    Args:
        values: numbers.
    """
    return sum(values)


@pytest.mark.parametrize(
    ("function", "message"),
    [
        (_no_hint, "parameter 'a' has no type hint"),
        (_no_doc, "has no docstring"),
        (_undocumented, "parameter 'b' is not described"),
        (_star, r"\*args/\*\*kwargs have no schema"),
    ],
    ids=["missing-hint", "no-docstring", "undocumented-arg", "varargs"],
)
def test_incomplete_definitions_fail_at_registration(function, message: str) -> None:
    with pytest.raises(ToolDefinitionError, match=message):
        register_tool(function)


def test_a_bad_timeout_fails_at_registration() -> None:
    with pytest.raises(ToolDefinitionError, match="timeout must be positive"):
        register_tool(timeout=0)


def test_the_sqlite_ledger_lives_in_the_checkpoint_database_and_survives_reopening(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    with open_checkpointer(db) as saver:
        ledger = ledger_for(saver)
        assert ledger is ledger_for(saver)
        ledger.start("t|cp|call", "send", '{"to": "bob"}')
        ledger.finish("t|cp|call", "sent", is_error=False)
    with open_checkpointer(db) as saver:
        entry = ledger_for(saver).lookup("t|cp|call")
    assert (entry.status, entry.content, entry.is_error) == ("done", "sent", False)
    with sqlite3.connect(db) as conn:
        assert conn.execute(f"SELECT tool, args FROM {LEDGER_TABLE}").fetchall() == [("send", '{"to": "bob"}')]


def test_the_postgres_ledger_is_a_table_beside_the_checkpoints(postgres_url: str, thread_id: str) -> None:
    key = f"{thread_id}|cp|call"
    with open_checkpointer(postgres_url) as saver:
        ledger = ledger_for(saver)
        assert ledger.lookup(key) is None
        ledger.start(key, "send", "{}")
        ledger.start(key, "send", "{}")  # a second start of the same key changes nothing
        assert ledger.lookup(key).status == "started"
        ledger.finish(key, "failed: no route", is_error=True)
    with open_checkpointer(postgres_url) as saver:
        entry = ledger_for(saver).lookup(key)
    assert (entry.status, entry.content, entry.is_error) == ("done", "failed: no route", True)


def test_pooled_and_async_postgres_savers_and_wrappers_get_the_same_table(postgres_url: str, thread_id: str) -> None:
    from graphwright.memory import open_async_checkpointer, open_postgres_checkpointer

    key = f"{thread_id}|cp|pooled"
    with open_postgres_checkpointer(postgres_url) as pooled:
        ledger_for(pooled).start(key, "send", "{}")
        ledger_for(pooled).finish(key, "sent", is_error=False)

    class Wrapper(InMemorySaver):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

    async def read_back():
        async with open_async_checkpointer(postgres_url) as saver:
            return ledger_for(saver).lookup(key)

    with open_checkpointer(postgres_url) as single:
        assert ledger_for(Wrapper(single)) is ledger_for(single)
        assert ledger_for(Wrapper(single)).lookup(key).content == "sent"
    assert asyncio.run(read_back()).content == "sent"
