"""Crash and resume: a SIGKILL at any moment leaves a thread that resumes to the end, each side effect done once.

The runs are bench/crash.py's agent (a scripted planner giving two calls the same id, graphwright's executor
and ledger, a tool that appends a tag and its call's idempotency key to a file), killed for real; the random-kill
test is the harness's short run.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from graphwright.graphs import compile_graph, thread_config, unfinished_nodes
from graphwright.memory import open_checkpointer
from graphwright.tools import SqlLedger

BENCH = Path(__file__).resolve().parents[2] / "bench"
CRASH = BENCH / "crash.py"
TAGS = [f"effect-{i}" for i in range(6)]


def _env(effects: Path) -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(BENCH), "GW_CRASH_EFFECTS": str(effects), "HF_HUB_OFFLINE": "1"}


def test_resume_after_a_kill_between_a_steps_saved_writes_and_its_checkpoint(tmp_path: Path) -> None:
    db, effects = str(tmp_path / "c.sqlite"), tmp_path / "effects.txt"
    worker = [sys.executable, str(CRASH), "--worker", "--db", db, "--thread", "t", "--durability", "sync", "--kill-at", "3"]
    died = subprocess.run(worker, env=_env(effects), capture_output=True, timeout=120)
    assert died.returncode == -signal.SIGKILL, died.stderr.decode()
    sys.path.insert(0, str(BENCH))
    try:
        from crash import build
    finally:
        sys.path.remove(str(BENCH))
    with open_checkpointer(db) as saver:
        snapshot = compile_graph(build(), checkpointer=saver).get_state(thread_config("t"))
    assert snapshot.next == () and unfinished_nodes(snapshot) == ("planner",)  # LangGraph's `next` misses it
    resumed = subprocess.run(
        [sys.executable, "-m", "graphwright", "resume", "crash:graph", "--thread", "t", "--db", db],
        env=_env(effects), capture_output=True, text=True, timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip().splitlines()[-1] == "did 6"
    assert sorted(line.split()[0] for line in effects.read_text().splitlines()) == TAGS


def test_random_sigkills_leave_no_unresumable_thread_and_no_lost_or_repeated_effect(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(CRASH), "--kills", "2", "--modes", "cli-sqlite,py-sqlite-async", "--seed", "7", "--json"],
        env=_env(tmp_path / "unused"), capture_output=True, text=True, timeout=600,
    )
    report = json.loads(run.stdout.strip().splitlines()[-1])
    totals = report["totals"]
    assert (totals["unresumable"], totals["lost"], totals["repeated"]) == (0, 0, 0), report["trials"]
    assert totals["killed"] >= 1 and run.returncode == 0


def test_a_kill_after_an_effect_before_its_done_is_in_doubt_and_the_agents_new_call_redoes_it(tmp_path: Path) -> None:
    # the window no framework closes: the effect happened, the ledger still says `started`. Sync and async
    # durability alike, the resumed run does not repeat that call (one key, one effect) and tells the agent its
    # outcome is unknown; the scripted planner asks again, a new call (a new key) does it again: `redone`.
    run = subprocess.run(
        [sys.executable, str(CRASH), "--kill-after-effect", "effect-1", "--json"],
        env=_env(tmp_path / "unused"), capture_output=True, text=True, timeout=300,
    )
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert [r["durability"] for r in found] == ["sync", "async"], run.stderr
    for r in found:
        assert r["killed"] and not r["unresumable"], r
        assert (r["lost"], r["repeated"], r["redone"], r["in_doubt"]) == (0, 0, 1, 1), r
        first, second = r["effects"]
        assert first.split("|")[1] != second.split("|")[1]  # two calls, from two checkpoints
    assert run.returncode == 0


class _LegacySqlite:
    """A sqlite3 connection as Python 3.12+ shows it by default: `autocommit` is -1, legacy transaction control."""

    autocommit = -1

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, params)

    def commit(self) -> None:
        self._conn.commit()


def test_the_ledgers_started_is_committed_before_the_call_runs_whatever_sqlites_autocommit_says(tmp_path: Path) -> None:
    db = tmp_path / "l.sqlite"
    for conn in (sqlite3.connect(db, check_same_thread=False), _LegacySqlite(sqlite3.connect(db, check_same_thread=False))):
        ledger = SqlLedger(conn, threading.Lock())
        key = f"t|cp|{type(conn).__name__}"
        ledger.start(key, "record", "{}")
        other = sqlite3.connect(db)  # what a resumed process sees if this one is killed now
        assert other.execute("SELECT status FROM graphwright_tool_ledger WHERE key = ?", (key,)).fetchall() == [("started",)]
        ledger.finish(key, "recorded", is_error=False)
        assert other.execute("SELECT status FROM graphwright_tool_ledger WHERE key = ?", (key,)).fetchall() == [("done",)]
        other.close()
