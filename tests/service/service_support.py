"""Helpers for the service tests: the served graphs, SDK clients in-process (ASGI) and against live servers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import uvicorn
from langgraph_sdk.client import LangGraphClient

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))  # `service_graphs` is importable, here and in `graphwright serve` subprocesses

import service_graphs  # noqa: E402

from graphwright.service import ApiKeyAuth, ServiceOptions, create_app  # noqa: E402

KEYS = {"key-alice-0001": "alice", "key-bob-00002": "bob"}
ALICE, BOB = "key-alice-0001", "key-bob-00002"


def serve_graphs() -> dict:
    """Assistant id -> graph for every graph the tests serve."""
    return {
        "assistant": service_graphs.assistant(),
        "approval": service_graphs.approval(),
        "slow": service_graphs.slow(),
        "counter": service_graphs.counter(),
    }


def make_app(**kwargs):
    """A service app over `serve_graphs()` with the test keys (override anything by keyword)."""
    kwargs.setdefault("auth", ApiKeyAuth(KEYS))
    kwargs.setdefault("options", ServiceOptions(rate_per_second=1000, rate_burst=1000))
    return create_app(serve_graphs(), **kwargs)


def asgi_client(app, key: str | None = ALICE) -> LangGraphClient:
    """The real SDK client talking to `app` in-process through httpx's ASGI transport."""
    headers = {"x-api-key": key} if key else {}
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service", headers=headers)
    return LangGraphClient(http)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """A uvicorn server on 127.0.0.1 in a background thread."""

    def __init__(self, app) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def serve_process(graphs: list[str], db: str, port: int, cwd: Path, *extra: str, **env: str) -> subprocess.Popen:
    """A real `graphwright serve` subprocess of `graphs` (`NAME=service_graphs:NAME`) on `port`, with the test
    keys and `env` added to its environment; its output is piped."""
    full_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)]),
        "GRAPHWRIGHT_API_KEYS": ",".join(f"{k}={t}" for k, t in KEYS.items()),
        "HF_HUB_OFFLINE": "1",
        **env,
    }
    cmd = [sys.executable, "-m", "graphwright", "serve", *graphs, "--db", db, "--port", str(port), *extra]
    return subprocess.Popen(cmd, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_served(proc: subprocess.Popen, port: int, timeout: float = 60) -> None:
    """Return once the server of `proc` answers `/ok` on `port`; raise if it exits or stays down `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stdout.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ok", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not come up")


def stop_process(proc: subprocess.Popen) -> None:
    """Stop a server subprocess: SIGTERM, then SIGKILL after 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
