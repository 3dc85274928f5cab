"""The live view in a real headless browser (Debian's chromium, driven over the DevTools protocol).

The page is served by `view_app` in front of the LangGraph API; a run of the scripted assistant streams and
the highlighted node changes as updates arrive. The screenshot is saved as a test artefact: in
$GRAPHWRIGHT_ARTIFACTS when set (CI keeps that folder), else in the test's temporary folder.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from scripted_graphs import slow_assistant
from starlette.testclient import TestClient

from graphwright.errors import DrawingError
from graphwright.service import view_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_the_page_and_its_assets_come_from_the_package_with_no_cdn() -> None:
    client = TestClient(view_app({"assistant": slow_assistant()}))
    page = client.get("/view/")
    assert page.status_code == 200 and "assets/view.js" in page.text
    for name in ("view.js", "view.css"):
        body = client.get(f"/view/assets/{name}").text
        assert body and not re.search(r"https?://", body), name  # nothing fetched from elsewhere
    assert not re.search(r"(src|href)=\"https?://", page.text)
    assert client.get("/view/assets/../../errors.py").status_code == 404
    svg = client.get("/view/graphs/assistant.svg")
    assert svg.headers["content-type"] == "image/svg+xml" and b"planner" in svg.content
    assert client.get("/view/graphs/nosuch.svg").status_code == 404
    assert client.get("/view/graphs").json() == ["assistant"]
    assert client.post("/threads", json={}).status_code == 200  # the API beside it
    with pytest.raises(DrawingError, match="at least one graph"):
        view_app({})


def wait_until_up(url: str, server: subprocess.Popen, output: Callable[[], str], seconds: float = 60) -> None:
    """Wait until `url` answers; fail with the server's `output()` if it exits or `seconds` pass first."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=5)
            return
        except OSError:
            assert time.monotonic() < deadline and server.poll() is None, output()
            time.sleep(0.2)


class Browser:
    """A headless chromium and one page of it, driven over the DevTools protocol."""

    def __init__(self, profile: Path) -> None:
        self.process = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
             f"--user-data-dir={profile}", "--window-size=1280,860", "about:blank"],
            stderr=subprocess.PIPE, text=True,
        )
        for line in self.process.stderr:  # "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/..."
            match = re.search(r"ws://127\.0\.0\.1:(\d+)/", line)
            if match:
                break
        else:
            raise RuntimeError("chromium did not start its DevTools server")
        threading.Thread(target=self.process.stderr.read, daemon=True).start()  # keep draining its log
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{match.group(1)}/json/list", timeout=10))
        from websockets.sync.client import connect

        page = next(t for t in targets if t["type"] == "page")
        self.stack = contextlib.ExitStack()
        self.socket = self.stack.enter_context(connect(page["webSocketDebuggerUrl"], max_size=None))
        self.ids = itertools.count(1)

    def call(self, method: str, **params):
        ident = next(self.ids)
        self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            reply = json.loads(self.socket.recv(timeout=30))
            if reply.get("id") == ident:
                if "error" in reply:
                    raise RuntimeError(reply["error"])
                return reply["result"]

    def eval(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result["result"].get("value")

    def close(self) -> None:
        self.stack.close()
        self.process.kill()
        self.process.wait(timeout=10)


class S(TypedDict):
    n: int


def failing() -> StateGraph:
    """start → a → boom (raises) → end."""
    graph = StateGraph(S)
    graph.add_node("a", lambda s: {"n": s["n"] + 1})
    graph.add_node("boom", lambda s: (_ for _ in ()).throw(ValueError("kaboom")))
    graph.add_edge(START, "a")
    graph.add_edge("a", "boom")
    graph.add_edge("boom", END)
    return graph


def pipeline() -> StateGraph:
    """fetch → think → write, each taking 0.4 s."""
    graph = StateGraph(S)
    for name in ("fetch", "think", "write"):
        graph.add_node(name, lambda s: time.sleep(0.4) or {"n": s["n"] + 1})
    graph.add_edge(START, "fetch")
    graph.add_edge("fetch", "think")
    graph.add_edge("think", "write")
    graph.add_edge("write", END)
    return graph


@pytest.fixture(params=["auto", "matplotlib"])
def served(request, monkeypatch):
    """The live view of the scripted assistant (its tool takes 0.6 s) and a failing graph on a free port.

    Parametrized over the picture engine: Graphviz's SVG (when installed) and matplotlib's name their node
    groups differently, and the page must find both.
    """
    import uvicorn

    monkeypatch.setenv("GW_SLOW", "0.6")
    if request.param == "auto" and shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed")
    app = view_app({"assistant": slow_assistant(), "failing": failing(), "pipeline": pipeline()}, engine=request.param)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser(tmp_path: Path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    opened = Browser(tmp_path / "profile")
    opened.call("Page.enable")
    yield opened
    opened.close()


NAMES = "g => g.querySelector('title')?.textContent ?? g.id.replace('node:', '')"


def wait_for(browser: Browser, status: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while browser.eval("document.body.dataset.status") != status:
        assert time.monotonic() < deadline, browser.eval("document.getElementById('status').textContent")
        time.sleep(0.03)


def watch_highlights(browser: Browser, seconds: float = 60) -> list[str]:
    """Poll the page until its run is done; return the highlighted (running) nodes in the order they changed."""
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    while browser.eval("document.body.dataset.status") != "done":
        assert time.monotonic() < deadline, browser.eval("document.getElementById('status').textContent")
        active = browser.eval(f"[...document.querySelectorAll('#diagram .gw-active')].map({NAMES}).join(' ')")
        if active and (not seen or seen[-1] != active):
            seen.append(active)
        time.sleep(0.03)
    return seen


def test_a_streamed_run_lights_up_each_node_in_turn_in_a_real_browser(served: str, browser: Browser, tmp_path: Path) -> None:
    browser.call("Page.navigate", url=f"{served}/view/?graph=assistant")
    wait_for(browser, "ready", 30)
    nodes = browser.eval("[...document.querySelectorAll('#diagram g.node title, #diagram [id^=\"node:\"]')].length")
    assert nodes >= 6  # the drawn graph: start, four nodes, end
    browser.eval("document.getElementById('input').value = JSON.stringify({messages: [{role: 'user', content: 'add 20 and 22'}]})")
    browser.eval("document.getElementById('start').click()")
    seen = watch_highlights(browser)
    assert browser.eval("document.body.dataset.trail") == "planner tools responder critic"
    assert "tools" in seen, seen  # lit while its tool ran
    trail = ["planner", "tools", "responder", "critic"]
    assert seen == sorted(seen, key=trail.index), seen
    visited = browser.eval(f"[...document.querySelectorAll('#diagram .gw-visited')].map({NAMES}).sort().join(' ')")
    assert visited == "critic planner responder tools"
    state = browser.eval("document.querySelectorAll('#steps li')[1].click(); document.getElementById('state').textContent")
    assert '"slow_add"' in state and "42" in state  # the state after the tools step, one click away
    shot = base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"])
    folder = Path(os.environ.get("GRAPHWRIGHT_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    engine = "graphviz" if "g.node" in browser.eval("document.querySelector('#diagram g.node') ? 'g.node' : ''") else "matplotlib"
    (folder / f"live_view_{engine}.png").write_bytes(shot)
    assert shot.startswith(b"\x89PNG")


def test_the_highlight_follows_the_running_node_in_a_real_browser(served: str, browser: Browser) -> None:
    browser.call("Page.navigate", url=f"{served}/view/?graph=pipeline&input=%7B%22n%22%3A%200%7D&run=1")
    seen = watch_highlights(browser)
    assert seen == ["fetch", "think", "write"]  # each lit while it ran, one after the other
    assert browser.eval(f"[...document.querySelectorAll('#diagram .gw-visited')].map({NAMES}).sort().join(' ')") == "fetch think write"
    assert browser.eval("document.body.dataset.trail") == "fetch think write"


def test_a_failing_run_marks_the_failed_node_in_a_real_browser(served: str, browser: Browser) -> None:
    browser.call("Page.navigate", url=f"{served}/view/?graph=failing&input=%7B%22n%22%3A%201%7D&run=1")
    wait_for(browser, "error:")
    assert "kaboom" in browser.eval("document.getElementById('status').textContent")
    assert browser.eval(f"[...document.querySelectorAll('#diagram .gw-failed')].map({NAMES}).join(' ')") == "boom"
    assert browser.eval(f"[...document.querySelectorAll('#diagram .gw-visited')].map({NAMES}).join(' ')") == "a"


def test_in_front_of_a_keyed_service_the_page_loads_and_the_api_still_wants_its_key() -> None:
    from graphwright.service import ApiKeyAuth, create_app

    graphs = {"assistant": slow_assistant()}
    client = TestClient(view_app(graphs, api=create_app(graphs, auth=ApiKeyAuth({"secret-key-1": "me"}))))
    assert client.get("/view/").status_code == 200 and client.get("/view/graphs/assistant.svg").status_code == 200
    assert client.post("/threads", json={}).status_code == 401
    assert client.post("/threads", json={}, headers={"x-api-key": "secret-key-1"}).status_code == 200
    assert "x-api-key" in client.get("/view/assets/view.js").text  # the page sends the key from its #key=


def test_graphwright_view_serves_the_page_and_runs_locally(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]), HF_HUB_OFFLINE="1")
    db = tmp_path / "runs.sqlite"
    command = [sys.executable, "-m", "graphwright", "view", "scripted_graphs:slow_assistant", "--port", str(port), "--db", str(db)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "/view/" in server.stdout.readline()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                names = json.load(urllib.request.urlopen(f"{base}/view/graphs", timeout=5))
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, server.stderr.read()
                time.sleep(0.2)
        assert names == ["slow_assistant"]
        assert b"assets/view.js" in urllib.request.urlopen(f"{base}/view/", timeout=5).read()
        request = urllib.request.Request(
            f"{base}/runs/wait",
            data=json.dumps({"assistant_id": "slow_assistant", "input": {"messages": [{"role": "user", "content": "add 2 and 3"}]}}).encode(),
            headers={"content-type": "application/json"},
        )
        assert json.load(urllib.request.urlopen(request, timeout=60))["answer"] == "The answer is 5."
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert db.exists()  # runs were kept where --db said


@pytest.mark.parametrize(("args", "message"), [(["--port", "0"], "--port must be 1-65535"), (["nosuch"], "unknown graph 'nosuch'")])
def test_graphwright_view_refuses_bad_input(args: list[str], message: str) -> None:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-m", "graphwright", "view", *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_graphwright_serve_hosts_the_live_view_behind_its_api_keys(browser: Browser, tmp_path: Path) -> None:
    """The page of `graphwright serve` loads without a key, drives a run with the key from its fragment, and the
    run belongs to that key's tenant, as every run of the service does."""
    import socket

    from langgraph_sdk import get_sync_client

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tests = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(tests), HF_HUB_OFFLINE="1", GW_SLOW="0.6",
               GRAPHWRIGHT_API_KEYS="key-alice-0001=alice,key-bob-00002=bob")
    command = [sys.executable, "-m", "graphwright", "serve", "scripted_graphs:slow_assistant", "--port", str(port),
               "--db", str(tmp_path / "served.sqlite")]
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/ok", server, lambda: server.stdout.read())
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(f"{base}/threads", data=b"{}", method="POST"), timeout=5)
        assert refused.value.code == 401  # the API still wants its key
        question = urllib.parse.quote(json.dumps({"messages": [{"role": "user", "content": "add 20 and 22"}]}))
        browser.call("Page.navigate", url=f"{base}/view/?graph=slow_assistant&input={question}&run=1#key=key-alice-0001")
        seen = watch_highlights(browser)
        assert "tools" in seen, seen
        assert browser.eval("document.body.dataset.trail") == "planner tools responder critic"
        alice, bob = (get_sync_client(url=base, api_key=key) for key in ("key-alice-0001", "key-bob-00002"))
        [thread] = alice.threads.search()
        assert thread["values"]["answer"] == "The answer is 42."
        assert bob.threads.search() == []
    finally:
        server.terminate()
        server.wait(timeout=20)
    printed = server.stdout.read()
    assert f"live view at {base}/view/#key=YOUR_API_KEY" in printed


def test_graphwright_serve_without_the_view(tmp_path: Path, monkeypatch) -> None:
    from graphwright.cli._serve import _opened

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))
    settings = {"graphs": ["scripted_graphs:slow_assistant"], "db": ":memory:", "no_auth": True, "options": {}}
    for view, status in ((True, 200), (False, 404)):
        with _opened({**settings, "view": view}) as app:
            assert TestClient(app).get("/view/").status_code == status
