"""The live view as a workbench, in one real headless chromium for the module.

One served graph whose tool needs approval: a run waits at the tool; the page shows the pending call and
approves it with edited arguments; the thread list, checkpoints, a checkpoint's state, a fork with an edited
value, the run's trace as a timeline, an eval report and an episode replay all open from the page. Screenshots
go to $GRAPHWRIGHT_ARTIFACTS (CI keeps that folder), else to a temporary folder.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import pytest
from fakes import ScriptedChatModel
from langchain_core.messages import HumanMessage
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from scripted_graphs import adding_rule
from test_view import CHROMIUM, Browser, wait_for, wait_until_up

from graphwright.graphs import build_assistant
from graphwright.service import create_app, view_app
from graphwright.tools import register_tool
from graphwright.tracing import disable_tracing, enable_tracing


@register_tool(side_effects=False, needs_approval=True)
def slow_add(a: int, b: int) -> int:
    """Add two integers, once a person approves.

    Args:
        a: first addend.
        b: second addend.
    """
    return a + b


EPISODE = {
    "format": "graphwright-trajectory/1", "id": "twx:coin#3", "graph": "random", "env": "twx:coin", "seed": 3,
    "task": "Find the coin.", "score": 1.0, "success": True, "steps": 2, "error": None,
    "trajectory": [
        {"observation": "You are in the kitchen.", "valid_actions": ["move east", "look around"], "action": "move east", "reward": 0.0},
        {"observation": "You are in the hallway. You see a coin.", "valid_actions": ["take coin"], "action": "take coin", "reward": 1.0},
    ],
}


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """The served workbench (tracing on, a reports folder with a report and an episode) and one browser."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    import uvicorn

    reports = tmp_path_factory.mktemp("reports")
    (reports / "coin").mkdir()
    (reports / "coin" / "report.html").write_text("<h1>Eval report</h1><p>success_rate=1.000</p>")
    (reports / "coin" / "trajectories.jsonl").write_text(json.dumps(EPISODE) + "\n")
    enable_tracing("", exporters=[InMemorySpanExporter()])
    graphs = {"approver": build_assistant(model=ScriptedChatModel(rule=adding_rule), tools=[slow_add])}
    app = view_app(graphs, api=create_app(graphs, auth=False), reports=reports)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    browser = Browser(tmp_path_factory.mktemp("profile"))
    browser.call("Page.enable")
    base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    yield base, browser
    browser.close()
    server.should_exit = True
    thread.join(timeout=10)
    disable_tracing()


def shoot(browser: Browser, name: str) -> None:
    folder = Path(os.environ.get("GRAPHWRIGHT_ARTIFACTS") or tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    shot = base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"])
    assert shot.startswith(b"\x89PNG")
    (folder / f"workbench_{name}.png").write_bytes(shot)


def until(browser: Browser, expression: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not browser.eval(expression):
        assert time.monotonic() < deadline, (expression, browser.eval("document.getElementById('status').textContent"))
        time.sleep(0.05)


def text(browser: Browser, element: str) -> str:
    return browser.eval(f"document.getElementById('{element}').textContent")


def test_a_pending_tool_call_is_approved_with_edited_arguments_from_the_page(bench) -> None:
    base, browser = bench
    question = "%7B%22messages%22%3A%5B%7B%22role%22%3A%22user%22%2C%22content%22%3A%22add%2020%20and%2022%22%7D%5D%7D"
    browser.call("Page.navigate", url=f"{base}/view/?graph=approver&input={question}&run=1")
    wait_for(browser, "waiting")
    until(browser, "document.body.dataset.interrupt === 'pending'")
    pending = json.loads(text(browser, "interrupt-value"))
    assert pending["type"] == "tool_approval" and pending["args"] == {"a": 20, "b": 22}
    assert browser.eval("document.querySelector('#threads li').dataset.status") == "interrupted"
    shoot(browser, "interrupt")
    browser.eval("document.getElementById('interrupt-args').value = '{\"a\": 20, \"b\": 23}'")
    browser.eval("document.getElementById('edit').click()")
    wait_for(browser, "done")
    assert browser.eval("document.querySelector('#threads li').dataset.status") == "idle"
    assert '"answer": "The answer is 43."' in text(browser, "state")  # the newest checkpoint's state
    path = browser.eval("document.body.dataset.path").split()  # what ran from each checkpoint, oldest first
    assert [n for n in path if n != "__start__"] == ["planner", "tools", "responder", "critic"], path


def test_a_thread_opens_with_its_checkpoints_state_and_trace(bench) -> None:
    base, browser = bench
    browser.eval("document.getElementById('refresh').click()")
    until(browser, "document.querySelectorAll('#threads li').length >= 1")
    browser.eval("document.body.dataset.checkpoints = ''")  # the last test's view set it: wait for this click's
    browser.eval("document.querySelector('#threads li').click()")
    until(browser, "Number(document.body.dataset.checkpoints) >= 5")
    visited = browser.eval("[...document.querySelectorAll('#diagram .gw-visited')].map(g => g.querySelector('title')?.textContent ?? g.id.replace('node:', '')).sort().join(' ')")
    assert {"planner", "tools", "responder", "critic"} <= set(visited.split())
    first_step = browser.eval("document.querySelectorAll('#checkpoints li').length") - 2  # the oldest is the input's
    browser.eval(f"document.querySelectorAll('#checkpoints li')[{first_step}].click()")
    assert '"answer"' not in text(browser, "state") and "add 20 and 22" in text(browser, "state")  # before any step
    names = browser.eval("[...document.querySelectorAll('#timeline .span-row')].map(r => r.dataset.name)")
    assert "execute_tool slow_add" in names and "node planner" in names
    assert any(name.startswith("invoke_agent") for name in names)
    # A node's span opens the checkpoint its step started from: the tools step (2) started from step 1's.
    browser.eval("document.querySelector('#timeline .span-row[data-name=\"node tools\"]').click()")
    assert text(browser, "state-of").endswith("(step 1)") and '"tool_calls"' in text(browser, "state")
    assert browser.eval("document.querySelector('#checkpoints li.chosen').dataset.checkpoint") == browser.eval(
        "document.querySelector('#timeline .span-row[data-name=\"node tools\"]').dataset.checkpoint")
    shoot(browser, "thread")


def test_a_checkpoint_is_forked_with_an_edited_value(bench) -> None:
    base, browser = bench
    browser.eval("document.querySelectorAll('#checkpoints li')[0].click()")
    browser.eval("document.getElementById('fork-key').value = 'answer'")
    browser.eval("document.getElementById('fork-value').value = '\"forty-three\"'")
    browser.eval("document.getElementById('fork').click()")
    wait_for(browser, "forked")
    thread = browser.eval("document.body.dataset.thread")
    from urllib.request import urlopen

    state = json.load(urlopen(f"{base}/threads/{thread}/state", timeout=10))
    assert state["values"]["answer"] == "forty-three"
    assert '"answer": "forty-three"' in text(browser, "state")
    shoot(browser, "fork")


def test_an_eval_report_and_an_episode_replay_open_from_the_page(bench) -> None:
    base, browser = bench
    until(browser, "document.querySelector('#reports a.report') !== null")
    href = browser.eval("document.querySelector('#reports a.report').href")
    from urllib.request import urlopen

    assert b"Eval report" in urlopen(href, timeout=10).read()
    browser.eval("document.querySelector('#reports button.episodes').click()")
    until(browser, "document.body.dataset.episodeStep === '1'")
    assert "kitchen" in text(browser, "episode-view") and "action: move east" in text(browser, "episode-view")
    browser.eval("document.getElementById('next').click()")
    assert "coin" in text(browser, "episode-view") and "reward: 1" in text(browser, "episode-view")
    assert text(browser, "episode-step") == "step 2 of 2"
    shoot(browser, "episode")


def test_the_workbench_of_graphwright_serve_shows_a_tenants_thread_and_its_trace(bench, tmp_path: Path) -> None:
    """`graphwright serve --trace` with API keys: the page, given alice's key, lists her thread, opens its
    checkpoints and its spans; the spans route answers another key, or none, as the API answers for the thread."""
    import socket
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    from langgraph_sdk import get_sync_client

    _, browser = bench
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]), HF_HUB_OFFLINE="1", GW_SLOW="0",
               GRAPHWRIGHT_API_KEYS="key-alice-0001=alice,key-bob-00002=bob",
               GRAPHWRIGHT_TRACE="http://127.0.0.1:9/v1/traces")  # spans kept for the page; no collector listens
    command = [sys.executable, "-m", "graphwright", "serve", "scripted_graphs:slow_assistant", "--port", str(port),
               "--db", str(tmp_path / "served.sqlite"), "--trace"]
    with (tmp_path / "server.log").open("w") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/ok", server, (tmp_path / "server.log").read_text)
        alice = get_sync_client(url=base, api_key="key-alice-0001")
        thread = alice.threads.create()["thread_id"]
        alice.runs.wait(thread, "slow_assistant", input={"messages": [{"role": "user", "content": "add 20 and 22"}]})
        browser.call("Page.navigate", url=f"{base}/view/?graph=slow_assistant#key=key-alice-0001")
        until(browser, "document.querySelectorAll('#threads li').length === 1")
        browser.eval("document.querySelector('#threads li').click()")
        until(browser, "Number(document.body.dataset.checkpoints) >= 5 && Number(document.body.dataset.spans) > 0")
        assert browser.eval("document.body.dataset.thread") == thread
        names = browser.eval("[...document.querySelectorAll('#timeline .span-row')].map(r => r.dataset.name)")
        assert {"node planner", "node tools", "execute_tool slow_add"} <= set(names)
        shoot(browser, "serve_thread")
        route = f"{base}/view/traces/{thread}"
        for key, status in ((None, 401), ("key-bob-00002", 404)):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(urllib.request.Request(route, headers={"x-api-key": key} if key else {}), timeout=5)
            assert refused.value.code == status
    finally:
        server.terminate()
        server.wait(timeout=20)
