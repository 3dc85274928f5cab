"""LangGraph's checkpointer conformance suite against every checkpointer we open, Postgres on the real server.

The suite calls only the async methods. The async savers run as they are; the sync savers (what
`open_checkpointer` gives) run behind the service's thread bridge, which is how the HTTP server drives them.
"""

from __future__ import annotations

import itertools
from contextlib import asynccontextmanager

import pytest
from langgraph.checkpoint.conformance import checkpointer_test, validate

from graphwright.errors import CheckpointerError
from graphwright.memory import open_async_checkpointer, open_checkpointer, open_postgres_checkpointer
from graphwright.service._bridge import ThreadedSaver

CASES = ["memory", "sqlite-async", "sqlite-sync", "postgres-async-pool", "postgres-sync", "postgres-sync-pool"]


@pytest.mark.parametrize("case", CASES)
async def test_conformance(case: str, tmp_path, request) -> None:
    url = request.getfixturevalue("postgres_url") if case.startswith("postgres") else None
    counter = itertools.count()

    @asynccontextmanager
    async def opened():
        fresh = tmp_path / f"cp-{next(counter)}.sqlite"  # each capability suite gets an empty database
        if case == "memory":
            async with open_async_checkpointer(":memory:") as saver:
                yield saver
        elif case == "sqlite-async":
            async with open_async_checkpointer(fresh) as saver:
                yield saver
        elif case == "sqlite-sync":
            with open_checkpointer(fresh) as saver:
                yield ThreadedSaver(saver)
        elif case == "postgres-async-pool":
            async with open_async_checkpointer(url, pool_size=3) as saver:
                yield saver
        elif case == "postgres-sync":
            with open_checkpointer(url) as saver:
                yield ThreadedSaver(saver)
        else:
            with open_postgres_checkpointer(url, pool_size=3) as saver:
                yield ThreadedSaver(saver)

    @checkpointer_test(name=case)
    async def factory():
        async with opened() as saver:
            yield saver

    report = await validate(factory)
    failures = {cap: r.failures for cap, r in report.results.items() if r.detected and r.passed is not True}
    assert report.passed_all_base(), failures
    assert report.passed_all(), failures
    assert sum(r.tests_passed for r in report.results.values()) >= 58  # the five base suites ran in full


async def test_async_and_pooled_openers_reject_bad_targets(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("not a database")
    with pytest.raises(CheckpointerError, match="not a SQLite database"):
        async with open_async_checkpointer(tmp_path / "notes.txt"):
            pass
    with pytest.raises(CheckpointerError, match="does not exist"):
        async with open_async_checkpointer(tmp_path / "missing" / "cp.sqlite"):
            pass
    with pytest.raises(CheckpointerError, match="cannot reach Postgres"):
        async with open_async_checkpointer("postgresql://postgres@127.0.0.1:1/test"):
            pass
    with pytest.raises(CheckpointerError, match="pool_size"):
        async with open_async_checkpointer("postgresql://postgres@127.0.0.1:1/test", pool_size=0):
            pass
    with pytest.raises(CheckpointerError, match="postgresql://"):
        with open_postgres_checkpointer(str(tmp_path / "cp.sqlite")):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # nothing created
