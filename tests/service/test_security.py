"""Safe by default: keys on every route, tenants isolated, bodies capped before buffering, bursts limited."""

from __future__ import annotations

import re
import socket
import time

import httpx
import pytest
from service_support import ALICE, BOB, KEYS, LiveServer, asgi_client, make_app
from langgraph_sdk import get_client

from graphwright import GraphwrightError
from graphwright.service import ApiKeyAuth, ServiceOptions, create_app


def _routes(app) -> list[tuple[str, str]]:
    doc = app.openapi()
    return [(method.upper(), path) for path, ops in doc["paths"].items() for method in ops]


async def test_no_key_or_a_wrong_key_gets_401_on_every_route_in_the_openapi_document() -> None:
    app = make_app()
    routes = _routes(app)
    assert len(routes) >= 35
    for key in (None, "key-wrong-0000"):
        http = asgi_client(app, key=key).http.client
        for method, path in routes:
            url = re.sub(r"\{[^}]+\}", "x1", path)
            response = await http.request(method, url, json={} if method in ("POST", "PUT", "PATCH") else None)
            assert response.status_code == 401, (method, path, response.status_code)
            assert "API key" in response.json()["detail"]


async def test_openapi_document_declares_the_key_schemes() -> None:
    doc = make_app().openapi()
    assert {"APIKeyHeader", "HTTPBearer"} <= set(doc["components"]["securitySchemes"])
    assert "/threads/{thread_id}/runs/stream" in doc["paths"] and "/store/items" in doc["paths"]


async def test_bearer_token_is_accepted_like_an_api_key() -> None:
    http = asgi_client(make_app(), key=None).http.client
    response = await http.post("/threads", json={}, headers={"Authorization": f"Bearer {BOB}"})
    assert response.status_code == 200


async def test_another_tenant_gets_404_for_every_thread_route() -> None:
    app = make_app()
    alice, bob = asgi_client(app, ALICE), asgi_client(app, BOB)
    tid = (await alice.threads.create(metadata={"secret": "yes"}))["thread_id"]
    run = await alice.runs.create(tid, "counter", input={"n": 1})
    await alice.runs.join(tid, run["run_id"])
    await alice.store.put_item(["private"], "k", {"v": 1})
    http = bob.http.client
    attempts = [
        ("GET", f"/threads/{tid}", None),
        ("GET", f"/threads/{tid}/state", None),
        ("POST", f"/threads/{tid}/history", {}),
        ("POST", f"/threads/{tid}/state", {"values": {"n": 0}}),
        ("PATCH", f"/threads/{tid}", {"metadata": {"x": 1}}),
        ("DELETE", f"/threads/{tid}", None),
        ("GET", f"/threads/{tid}/runs", None),
        ("GET", f"/threads/{tid}/runs/{run['run_id']}", None),
        ("GET", f"/threads/{tid}/runs/{run['run_id']}/join", None),
        ("POST", f"/threads/{tid}/runs/{run['run_id']}/cancel", None),
        ("POST", f"/threads/{tid}/runs/wait", {"assistant_id": "counter", "input": {"n": 5}}),
        ("POST", f"/threads/{tid}/runs", {"assistant_id": "counter", "input": {"n": 5}, "if_not_exists": "create"}),
    ]
    for method, url, body in attempts:
        response = await http.request(method, url, json=body)
        assert response.status_code == 404, (method, url, response.status_code)
    assert await bob.threads.search() == []
    with pytest.raises(httpx.HTTPStatusError):
        await bob.store.get_item(["private"], "k")
    # alice's thread is untouched by all of it
    thread = await alice.threads.get(tid)
    assert thread["metadata"] == {"secret": "yes"} and thread["values"] == {"n": 2}
    assert len(await alice.runs.list(tid)) == 1


async def test_oversize_body_gets_413_by_length_and_when_chunked() -> None:
    app = make_app(options=ServiceOptions(max_body_bytes=2_000, rate_per_second=1000, rate_burst=1000))
    http = asgi_client(app).http.client
    big = {"metadata": {"blob": "x" * 5_000}}
    response = await http.post("/threads", json=big)
    assert response.status_code == 413 and "2000" in response.json()["detail"]

    async def chunks():
        for _ in range(10):
            yield b" " * 500  # no Content-Length: counted as it arrives
    response = await http.post("/threads", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert await asgi_client(app).threads.search() == []  # nothing was created


def test_oversize_body_is_refused_before_it_is_sent() -> None:
    """The server answers 413 from the headers alone: the client never sends the 50 MB it announced."""
    app = make_app(options=ServiceOptions(max_body_bytes=1_000))
    with LiveServer(app) as server, socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        head = (
            f"POST /threads HTTP/1.1\r\nHost: x\r\nx-api-key: {ALICE}\r\ncontent-type: application/json\r\n"
            "content-length: 50000000\r\n\r\n{"
        )
        sock.sendall(head.encode())
        reply = sock.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 413")


async def test_burst_over_the_rate_gets_429_with_retry_after_per_tenant() -> None:
    app = make_app(options=ServiceOptions(rate_per_second=0.5, rate_burst=5))
    alice, bob = asgi_client(app, ALICE).http.client, asgi_client(app, BOB).http.client
    codes = [(await alice.get("/info")).status_code for _ in range(8)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429] * 3
    limited = await alice.get("/info")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert (await bob.get("/info")).status_code == 200  # another tenant has its own bucket


def test_burst_against_a_live_server_through_the_sdk() -> None:
    app = make_app(options=ServiceOptions(rate_per_second=1, rate_burst=3))
    with LiveServer(app) as server:
        client = httpx.Client(base_url=server.url, headers={"x-api-key": ALICE})
        codes = [client.get("/info").status_code for _ in range(6)]
        assert codes.count(429) >= 2 and codes[:3] == [200, 200, 200]
        time.sleep(1.1)
        assert client.get("/info").status_code == 200  # the bucket refills


def test_auth_is_off_only_when_explicitly_disabled(monkeypatch) -> None:
    monkeypatch.delenv("GRAPHWRIGHT_API_KEYS", raising=False)
    with pytest.raises(GraphwrightError, match="no API keys configured"):
        make_app(auth=None)
    with pytest.raises(GraphwrightError, match="at least 8 characters"):
        ApiKeyAuth({"short": "x"})
    monkeypatch.setenv("GRAPHWRIGHT_API_KEYS", ",".join(f"{k}={t}" for k, t in KEYS.items()))
    assert make_app(auth=None) is not None


async def test_disabled_auth_serves_everyone_as_one_anonymous_tenant() -> None:
    app = make_app(auth=False)
    first, second = asgi_client(app, key=None), asgi_client(app, key="anything-at-all")
    tid = (await first.threads.create())["thread_id"]
    assert (await second.threads.get(tid))["thread_id"] == tid


async def test_mounted_inside_a_users_fastapi_app() -> None:
    from fastapi import FastAPI

    outer = FastAPI()

    @outer.get("/health")
    def health() -> dict:
        return {"ok": True}

    outer.mount("/agents", create_app({"counter": make_graph()}, auth=ApiKeyAuth(KEYS)))
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=outer), base_url="http://svc/agents")
    assert (await http.post("/runs/wait", json={"assistant_id": "counter", "input": {"n": 1}})).status_code == 401
    client = get_client(url="http://svc/agents", api_key=ALICE)
    client.http.client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=outer), base_url="http://svc/agents", headers={"x-api-key": ALICE}
    )
    assert await client.runs.wait(None, "counter", input={"n": 1}) == {"n": 2}


def make_graph():
    import service_graphs

    return service_graphs.counter()


async def test_run_config_cannot_point_a_run_at_another_tenants_thread() -> None:
    app = make_app()
    alice, bob = asgi_client(app, ALICE), asgi_client(app, BOB)
    victim = (await alice.threads.create())["thread_id"]
    await alice.runs.wait(victim, "counter", input={"n": 100})
    mine = (await bob.threads.create())["thread_id"]
    config = {"configurable": {"thread_id": victim, "checkpoint_ns": "", "__pregel_read": "x"}}
    result = await bob.runs.wait(mine, "counter", input={"n": 1}, config=config)
    assert result == {"n": 2}  # ran on bob's own thread
    assert (await alice.threads.get_state(victim))["values"] == {"n": 101}
