"""Killing a `graphwright` process at a chosen moment, for the crash-and-resume tests."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable

from graphwright.graphs import compile_graph, load_graph, thread_config
from graphwright.memory import open_checkpointer


def kill_when(args: list[str], env: dict[str, str], ready: Callable[[], bool], *, waiting_for: str) -> None:
    """Run `python -m graphwright ARGS`, SIGKILL it as soon as `ready()` is true, and check it died of the kill.

    Fails when the process exits first or `ready()` stays false for two minutes (`waiting_for` says what for).
    """
    proc = subprocess.Popen([sys.executable, "-m", "graphwright", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not ready():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, f"the run never reached {waiting_for}"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def next_nodes(db: str, graph: str, thread: str) -> tuple[str, ...]:
    """The nodes thread `thread` of `graph` (a reference for `load_graph`) in checkpoint store `db` would run next."""
    with open_checkpointer(db) as saver:
        return compile_graph(load_graph(graph), checkpointer=saver).get_state(thread_config(thread)).next
