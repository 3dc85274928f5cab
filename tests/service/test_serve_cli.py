"""`graphwright serve`: refuses bad setups before binding a port or writing anything, and serves the SDK."""

from __future__ import annotations

from pathlib import Path

import pytest
from service_support import ALICE, BOB, free_port, serve_process, stop_process, wait_served
from langgraph_sdk import get_sync_client

import graphwright.service as service
from graphwright.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "assistant"], "no API keys configured"),
        (["serve", "no_such_module:graph", "--no-auth"], "cannot import module"),
        (["serve", "assistant", "--workers", "2", "--no-auth", "--db", "x.sqlite"], "needs a postgresql://"),
        (["serve", "assistant", "--port", "70000", "--no-auth"], "--port must be"),
        (["serve", "assistant", "--no-auth", "--rate", "0"], "rate_per_second must be positive"),
    ],
)
def test_bad_setups_exit_2_and_write_nothing(argv, message, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GRAPHWRIGHT_API_KEYS", raising=False)
    monkeypatch.delenv("GRAPHWRIGHT_DB", raising=False)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_serve_runs_graphs_for_the_sdk_and_keeps_threads_in_sqlite_across_restarts(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "serve.sqlite"

    def start():
        proc = serve_process(["service_graphs:counter"], str(db), port, tmp_path)
        wait_served(proc, port)
        return proc

    proc = start()
    try:
        client = get_sync_client(url=f"http://127.0.0.1:{port}", api_key=ALICE)
        assert [a["assistant_id"] for a in client.assistants.search()] == ["counter"]
        thread = client.threads.create(metadata={"keep": "me"})
        assert client.runs.wait(thread["thread_id"], "counter", input={"n": 1}) == {"n": 2}
    finally:
        stop_process(proc)
    assert proc.stdout.read().startswith(f"serving service_graphs:counter on http://127.0.0.1:{port}")
    proc = start()  # a restarted server still knows the thread, its owner and its state
    try:
        client = get_sync_client(url=f"http://127.0.0.1:{port}", api_key=ALICE)
        again = client.threads.get(thread["thread_id"])
        assert again["metadata"] == {"keep": "me"} and again["values"] == {"n": 2}
        assert [r["status"] for r in client.runs.list(thread["thread_id"])] == ["success"]
        other = get_sync_client(url=f"http://127.0.0.1:{port}", api_key=BOB)
        assert other.threads.search() == []
    finally:
        stop_process(proc)


def test_service_api_is_sorted_and_complete() -> None:
    assert service.__all__ == sorted(service.__all__)
    for name in service.__all__:
        assert getattr(service, name).__doc__ or isinstance(getattr(service, name), str)
