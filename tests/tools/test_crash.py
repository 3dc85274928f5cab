"""Crash and resume: a SIGKILL at any moment leaves a thread that resumes to the end, each side effect done once.

The runs are bench/crash.py's agent (a scripted planner giving two calls the same id, graphwright's executor
and ledger, a tool that appends a tag to a file), killed for real; the random-kill test is the harness's short run.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from graphwright.graphs import compile_graph, thread_config, unfinished_nodes
from graphwright.memory import open_checkpointer

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
    assert sorted(effects.read_text().splitlines()) == TAGS


def test_random_sigkills_leave_no_unresumable_thread_and_no_lost_or_repeated_effect(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(CRASH), "--kills", "2", "--modes", "cli-sqlite,py-sqlite-async", "--seed", "7", "--json"],
        env=_env(tmp_path / "unused"), capture_output=True, text=True, timeout=600,
    )
    report = json.loads(run.stdout.strip().splitlines()[-1])
    totals = report["totals"]
    assert (totals["unresumable"], totals["lost"], totals["repeated"]) == (0, 0, 0), report["trials"]
    assert totals["killed"] >= 1 and run.returncode == 0
