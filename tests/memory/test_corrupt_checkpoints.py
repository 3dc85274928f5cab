"""Corrupt checkpoints: every command stops with a clean `graphwright: error:` naming the thread and checkpoint,
`history` lists the intact ones (which can be forked from), and other threads are untouched.

The database is a real one: bench/crash.py's agent, killed (SIGKILL) mid-run so its latest checkpoint has
pending writes, beside a finished thread; each case corrupts the latest checkpoint one way.
"""

from __future__ import annotations

import json
import uuid
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from graphwright.cli import main
from graphwright.memory import open_checkpointer, strict_serializer

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def base_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import os

    folder = tmp_path_factory.mktemp("corrupt")
    db = folder / "base.sqlite"
    env = {**os.environ, "PYTHONPATH": str(BENCH), "GW_CRASH_EFFECTS": str(folder / "fx"), "GW_CRASH_PAUSE": "0"}
    worker = [sys.executable, str(BENCH / "crash.py"), "--worker", "--db", str(db), "--durability", "sync"]
    died = subprocess.run([*worker, "--thread", "victim", "--kill-at", "3"], env=env, capture_output=True, timeout=120)
    assert died.returncode == -signal.SIGKILL, died.stderr.decode()
    subprocess.run([*worker, "--thread", "other"], env=env, check=True, capture_output=True, timeout=120)
    return db


def _latest(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("select max(checkpoint_id) from checkpoints where thread_id='victim'").fetchone()[0]


def _reshape(change: Any) -> Any:
    def corrupt(conn: sqlite3.Connection, latest: str) -> None:
        kind, blob = conn.execute("select type, checkpoint from checkpoints where checkpoint_id=?", (latest,)).fetchone()
        serde = strict_serializer()
        checkpoint = serde.loads_typed((kind, blob))
        kind, blob = serde.dumps_typed(change(checkpoint))
        conn.execute("update checkpoints set type=?, checkpoint=? where checkpoint_id=?", (kind, blob, latest))

    return corrupt


def _sql(statement: str) -> Any:
    return lambda conn, latest: conn.execute(statement, (latest,))


CASES = {
    "garbage bytes": _sql("update checkpoints set checkpoint=x'deadbeefc1c1ff00' where checkpoint_id=?"),
    "truncated blob": _sql("update checkpoints set checkpoint=substr(checkpoint, 1, length(checkpoint) / 2) where checkpoint_id=?"),
    "empty blob": _sql("update checkpoints set checkpoint=x'' where checkpoint_id=?"),
    "an int, not a checkpoint": _sql("update checkpoints set checkpoint=x'05' where checkpoint_id=?"),
    "a list, not a checkpoint": _sql("update checkpoints set checkpoint=x'920102' where checkpoint_id=?"),
    "pickle serializer tag": _sql("update checkpoints set type='pickle' where checkpoint_id=?"),
    "unknown serializer tag": _sql("update checkpoints set type='bogus' where checkpoint_id=?"),
    "json tag on msgpack bytes": _sql("update checkpoints set type='json' where checkpoint_id=?"),
    "metadata not json": _sql("update checkpoints set metadata=x'6e6f74206a736f6e' where checkpoint_id=?"),
    "metadata a list": _sql("update checkpoints set metadata='[1, 2]' where checkpoint_id=?"),
    "step not an integer": _sql("""update checkpoints set metadata='{"step": "three"}' where checkpoint_id=?"""),
    "channel_values missing": _reshape(lambda c: {k: v for k, v in c.items() if k != "channel_values"}),
    "channel_values a list": _reshape(lambda c: {**c, "channel_values": [1, 2]}),
    "versions_seen wrong type": _reshape(lambda c: {**c, "versions_seen": {"planner": 5}}),
    "id of another checkpoint": _reshape(lambda c: {**c, "id": "1f000000-0000-6000-8000-000000000000"}),
    "pending write garbage": _sql("update writes set value=x'c1c1' where checkpoint_id=?"),
    "pending write pickle tag": _sql("update writes set type='pickle' where checkpoint_id=?"),
}


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_corrupt_checkpoint_gives_a_clean_error_and_history_lists_the_intact_ones(
    case: str, base_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.setenv("GW_CRASH_EFFECTS", str(tmp_path / "fx"))
    monkeypatch.setenv("GW_CRASH_PAUSE", "0")
    db = tmp_path / "c.sqlite"
    shutil.copy(base_db, db)
    latest = _latest(db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from writes where checkpoint_id=?", (latest,)).fetchone()[0] > 0
        CASES[case](conn, latest)
    common = ["--thread", "victim", "--db", str(db)]
    for command in (["state", "crash:graph"], ["resume", "crash:graph"], ["run", "crash:graph", "go"], ["fork", "crash:graph", "--checkpoint", latest]):
        code, _, err = _cli(capsys, *command, *common)
        assert code == 2 and err.startswith("graphwright: error: thread 'victim'"), (command, err)
        assert latest in err and "corrupt" in err and "Traceback" not in err, (command, err)
    code, out, err = _cli(capsys, "history", "crash:graph", *common)
    listed = [line.split()[0] for line in out.splitlines()]
    assert code == 0 and latest not in listed and len(listed) >= 3, out
    assert f"checkpoint {latest} is corrupt" in err
    code, out, _ = _cli(capsys, "state", "crash:graph", "--thread", "other", "--db", str(db))
    assert code == 0 and json.loads(out)["values"]["answer"] == "did 6"  # another thread is untouched
    if case == "garbage bytes":  # an intact earlier checkpoint can be forked from, and the run finishes
        code, out, err = _cli(capsys, "fork", "crash:graph", *common, "--checkpoint", listed[0])
        assert code == 0 and out.strip().splitlines()[-1] == "did 6", err
        with open_checkpointer(db) as saver:
            assert saver.get_tuple({"configurable": {"thread_id": "victim", "checkpoint_ns": ""}}).checkpoint["id"] != latest


def _counter() -> Any:
    from typing import TypedDict

    from langgraph.graph import START, StateGraph

    class S(TypedDict):
        n: int

    return StateGraph(S).add_node("inc", lambda s: {"n": s["n"] + 1}).add_edge(START, "inc")


async def _corrupt_latest_then_list(target: str, corrupt: Any) -> None:
    from graphwright.errors import CheckpointerError
    from graphwright.memory import open_async_checkpointer

    thread = f"async-{uuid.uuid4().hex[:10]}"
    config = {"configurable": {"thread_id": thread}}
    async with open_async_checkpointer(target) as saver:
        app = _counter().compile(checkpointer=saver)
        for n in range(3):
            await app.ainvoke({"n": n}, config)
        ids = [c.config["configurable"]["checkpoint_id"] async for c in saver.alist(config)]
        assert len(ids) == 9  # three runs of input, start and `inc` checkpoints
        fork = {"configurable": {"thread_id": thread, "checkpoint_id": ids[1]}}
        before = (await app.aget_state(fork)).values
        await corrupt(thread, ids[0])
        with pytest.raises(CheckpointerError, match=f"thread '{thread}': checkpoint {ids[0]} is corrupt"):
            await saver.aget_tuple({"configurable": {"thread_id": thread, "checkpoint_ns": "", "checkpoint_id": ids[0]}})
        listed = [c.config["configurable"]["checkpoint_id"] async for c in saver.alist(config)]
        assert listed == ids[1:]  # the corrupt one skipped, the intact ones in order, as the sync listing does
        assert [c.config["configurable"]["checkpoint_id"] async for c in saver.alist(config, limit=2)] == ids[1:2]
        history = [s.config["configurable"]["checkpoint_id"] async for s in app.aget_state_history(config)]
        assert history == ids[1:]
        assert (await app.aget_state(fork)).values == before  # an intact checkpoint still reads


def test_the_async_sqlite_saver_skips_a_corrupt_checkpoint_when_listing(tmp_path: Path) -> None:
    import asyncio

    db = tmp_path / "a.sqlite"

    async def corrupt(thread: str, checkpoint_id: str) -> None:
        with sqlite3.connect(db) as conn:
            conn.execute("update checkpoints set checkpoint=x'deadbeef' where thread_id=? and checkpoint_id=?", (thread, checkpoint_id))

    asyncio.run(_corrupt_latest_then_list(str(db), corrupt))


def test_the_async_postgres_saver_skips_a_corrupt_checkpoint_when_listing(postgres_url: str) -> None:
    import asyncio

    import psycopg

    async def corrupt(thread: str, checkpoint_id: str) -> None:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(
                "update checkpoints set checkpoint='[1, 2]'::jsonb where thread_id=%s and checkpoint_id=%s", (thread, checkpoint_id)
            )

    asyncio.run(_corrupt_latest_then_list(postgres_url, corrupt))
