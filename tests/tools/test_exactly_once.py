"""No repeated side effects: a run SIGKILLed after a side-effecting call, then resumed, did it exactly once."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from kill_support import kill_when, next_nodes

from graphwright.memory import is_postgres_url
from graphwright.tools import LEDGER_TABLE

GRAPH = "effect_graphs:effects"


def _ledger_statuses(db: str, thread: str) -> list[str]:
    query = f"SELECT status FROM {LEDGER_TABLE} WHERE key LIKE %s"
    if is_postgres_url(db):
        import psycopg

        with psycopg.connect(db) as conn:
            try:
                return [row[0] for row in conn.execute(query, (f"{thread}|%",))]
            except psycopg.errors.UndefinedTable:
                return []
    if not Path(db).exists():
        return []
    with sqlite3.connect(db) as conn:
        try:
            return [row[0] for row in conn.execute(query.replace("%s", "?"), (f"{thread}|%",))]
        except sqlite3.OperationalError:  # the table is not there yet
            return []


def _kill_after_the_side_effect(tmp_path: Path, db: str, thread: str, effects: Path, undeclared: bool, cli_env) -> None:
    """Run until the side effect happened (and, when recorded, the ledger says done) while `wait` still runs;
    then SIGKILL, before the tools step's checkpoint."""
    marker = tmp_path / f"{thread}.marker"
    env = {"GW_EFFECTS": str(effects), "GW_MARKER": str(marker), "GW_SLOW": "60", "GW_UNDECLARED": str(int(undeclared))}

    def ready() -> bool:
        return (
            marker.exists()
            and effects.exists()
            and effects.read_text().count("\n") == 1
            and (undeclared or _ledger_statuses(db, thread) == ["done"])
        )

    kill_when(["run", GRAPH, "append and wait", "--thread", thread, "--db", db], cli_env(env), ready, waiting_for="its side effect")
    assert next_nodes(db, GRAPH, thread) == ("tools",), "the kill must come before the tools step's checkpoint"


def _kill_and_resume(tmp_path: Path, db: str, thread: str, graphwright, effects: Path, cli_env, *, undeclared: bool):
    _kill_after_the_side_effect(tmp_path, db, thread, effects, undeclared, cli_env)
    env = {"GW_SLOW": "0", "GW_UNDECLARED": str(int(undeclared))}
    resumed = graphwright("resume", GRAPH, "--thread", thread, "--db", db, env=env)
    assert resumed.returncode == 0, resumed.stderr
    return resumed


def test_sigkill_after_a_side_effect_then_resume_does_it_exactly_once_sqlite(
    tmp_path, graphwright, effects_file, cli_env
) -> None:
    db = str(tmp_path / "c.sqlite")
    resumed = _kill_and_resume(tmp_path, db, "once", graphwright, effects_file, cli_env, undeclared=False)
    assert effects_file.read_text().splitlines() == ["effect"]
    assert "[tools] append_line returned: appended line 1" in resumed.stdout
    assert resumed.stdout.strip().splitlines()[-1] == "Done: appended line 1; waited."


def test_sigkill_after_a_side_effect_then_resume_does_it_exactly_once_postgres(
    tmp_path, graphwright, effects_file, cli_env, postgres_url: str, thread_id: str
) -> None:
    _kill_and_resume(tmp_path, postgres_url, thread_id, graphwright, effects_file, cli_env, undeclared=False)
    assert effects_file.read_text().splitlines() == ["effect"]
    assert _ledger_statuses(postgres_url, thread_id) == ["done"]


def test_control_an_unrecorded_tool_repeats_its_side_effect_after_the_same_kill(
    tmp_path, graphwright, effects_file, cli_env
) -> None:
    """Without the ledger (a plain langchain tool) the same kill and resume does the effect twice."""
    db = str(tmp_path / "c.sqlite")
    resumed = _kill_and_resume(tmp_path, db, "twice", graphwright, effects_file, cli_env, undeclared=True)
    assert effects_file.read_text().splitlines() == ["effect", "effect"]
    assert "appended line 2" in resumed.stdout


def test_an_approved_call_killed_before_the_checkpoint_is_neither_asked_again_nor_repeated(
    tmp_path: Path, graphwright, effects_file: Path, cli_env
) -> None:
    db, graph, marker = str(tmp_path / "c.sqlite"), "effect_graphs:pay_and_wait", tmp_path / "m.marker"
    started = graphwright("run", graph, "pay", "--thread", "t", "--db", db)
    assert started.returncode == 3 and "awaiting approval: pay(to='bob', amount=500)" in started.stdout
    kill_when(
        ["resume", graph, "--thread", "t", "--db", db, "--approve"],
        cli_env({"GW_EFFECTS": str(effects_file), "GW_MARKER": str(marker), "GW_SLOW": "60"}),
        lambda: marker.exists() and effects_file.exists() and _ledger_statuses(db, "t") == ["done"],
        waiting_for="the approved call",
    )
    resumed = graphwright("resume", graph, "--thread", "t", "--db", db, env={"GW_SLOW": "0"})
    assert resumed.returncode == 0, resumed.stderr
    assert "awaiting approval" not in resumed.stdout, "the approval given before the kill still holds"
    assert resumed.stdout.strip().splitlines()[-1] == "Done: paid 500 to bob; waited."
    assert effects_file.read_text().splitlines() == ["paid 500 to bob"]
