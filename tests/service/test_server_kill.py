"""A run in flight when its server is killed (SIGKILL) is run again by the next server, from its last checkpoint,
with its side effect done once. Each server is a real `graphwright serve` subprocess; the graph (`journal`)
notes a line in a file (a recorded side effect) and rests in the same step, and the kill lands while it rests.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from service_support import ALICE, free_port, serve_process, stop_process, wait_served

pytestmark = pytest.mark.services

GRAPHS = ["journal=service_graphs:journal"]


def _kill_mid_step_then_restart(db: str, tmp_path: Path, *extra: str) -> None:
    journal = tmp_path / "journal.txt"
    resting = Path(f"{journal}.resting")
    port = free_port()
    first = serve_process(GRAPHS, db, port, tmp_path, *extra, GW_JOURNAL=str(journal), GW_REST_SECONDS="60")
    try:
        wait_served(first, port)
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"x-api-key": ALICE}, timeout=10)
        tid = http.post("/threads", json={}).json()["thread_id"]
        run = http.post(f"/threads/{tid}/runs", json={"assistant_id": "journal", "input": {"messages": [("human", "go")]}})
        run_id = run.json()["run_id"]
        deadline = time.monotonic() + 20
        while not (resting.exists() and journal.exists()):  # the note is written, the step still running
            assert time.monotonic() < deadline and first.poll() is None, "the run never reached its step"
            time.sleep(0.05)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(5)
    port = free_port()
    second = serve_process(GRAPHS, db, port, tmp_path, *extra, GW_JOURNAL=str(journal), GW_REST_SECONDS="0")
    try:
        wait_served(second, port)
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"x-api-key": ALICE}, timeout=30)
        joined = http.get(f"/threads/{tid}/runs/{run_id}/join").json()  # waits for the adopted run to end
        run = http.get(f"/threads/{tid}/runs/{run_id}").json()
        assert run["status"] == "success", run
        assert joined["answer"] == "Done: noted 'hello'; rested", joined
        assert journal.read_text() == "hello\n"  # the side effect ran once, though its step ran twice
        assert resting.read_text() == "resting\nresting\n"  # the cut-short step did run again
        assert http.get(f"/threads/{tid}").json()["status"] == "idle"
        messages = http.get(f"/threads/{tid}/state").json()["values"]["messages"]
        assert [m["type"] for m in messages] == ["human", "ai", "tool", "tool", "ai"]  # no step doubled
    finally:
        stop_process(second)


def test_a_run_killed_with_its_sqlite_server_is_finished_by_the_next_one(tmp_path: Path) -> None:
    _kill_mid_step_then_restart(str(tmp_path / "cp.sqlite"), tmp_path)


def test_a_run_killed_with_its_postgres_worker_is_taken_over_when_its_lease_expires(
    postgres_url: str, tmp_path: Path
) -> None:
    _kill_mid_step_then_restart(postgres_url, tmp_path, "--lease", "1")
