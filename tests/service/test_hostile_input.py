"""Hostile HTTP input gets a 4xx naming what was wrong, never a 5xx, and the connection stays open.

Each known technique is its own test, run against a live server whose records and checkpoints are in SQLite
and in Postgres (the two refuse different things: Postgres no NUL in text, SQLite no integer past 64 bits).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest
from service_support import ALICE, LiveServer, make_app

from graphwright.memory import open_checkpointer
from graphwright.service import ServiceOptions


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request, tmp_path_factory) -> Iterator[LiveServer]:
    """A live server over each backend, for the whole module."""
    if request.param == "postgres":
        target = request.getfixturevalue("postgres_url")
    else:
        target = tmp_path_factory.mktemp("hostile") / "cp.sqlite"
    with open_checkpointer(target) as saver, LiveServer(make_app(checkpointer=saver)) as live:
        yield live


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"x-api-key": ALICE}, timeout=30) as client:
        yield client


def _refused(response: httpx.Response, *words: str) -> None:
    """The answer is a 422 whose `detail` names every word in `words`."""
    assert response.status_code == 422, (response.status_code, response.text[:300])
    detail = response.json()["detail"]
    for word in words:
        assert word in detail, (word, detail)


def _raw(http: httpx.Client, method: str, url: str, body: str) -> httpx.Response:
    """Send `body` exactly as written (escapes such as a lone surrogate survive only in raw JSON text)."""
    return http.request(method, url, content=body.encode(), headers={"content-type": "application/json"})


def test_thread_metadata_nested_300_deep(http: httpx.Client) -> None:
    _refused(http.post("/threads", json={"metadata": _nested(300)}), "body.metadata.a", "nested deeper than 64")


def test_run_input_nested_300_deep(http: httpx.Client) -> None:
    body = {"assistant_id": "counter", "input": {"n": 1, "x": _nested(300)}}
    _refused(http.post("/runs/wait", json=body), "body.input.x", "nested deeper")


def test_patched_metadata_nested_300_deep(http: httpx.Client) -> None:
    tid = http.post("/threads", json={}).json()["thread_id"]
    _refused(http.patch(f"/threads/{tid}", json={"metadata": _nested(300)}), "nested deeper")


def test_array_nested_past_the_parsers_recursion_limit(http: httpx.Client) -> None:
    _refused(_raw(http, "POST", "/threads", '{"metadata": {"a": ' + "[" * 100_000 + "]" * 100_000 + "}}"), "nested")


def test_lone_surrogate_in_a_metadata_key(http: httpx.Client) -> None:
    _refused(_raw(http, "POST", "/threads", '{"metadata": {"\\ud800": 1}}'), "lone UTF-16 surrogate", "a key")


def test_lone_surrogate_in_a_run_input_value(http: httpx.Client) -> None:
    body = '{"assistant_id": "counter", "input": {"n": 1, "s": "x\\udc00"}}'
    _refused(_raw(http, "POST", "/runs/wait", body), "body.input.s", "surrogate")


def test_nul_in_a_metadata_key(http: httpx.Client) -> None:
    _refused(http.post("/threads", json={"metadata": {"a\x00b": 1}}), "NUL", "a key")


def test_nul_in_a_store_value(http: httpx.Client) -> None:
    body = {"namespace": ["notes"], "key": "k", "value": {"text": "a\x00"}}
    _refused(http.put("/store/items", json=body), "body.value.text", "NUL")


def test_nul_in_a_path_parameter(http: httpx.Client) -> None:
    _refused(http.get("/threads/abc%00def"), "path parameter thread_id", "NUL")


def test_nul_in_a_query_parameter(http: httpx.Client) -> None:
    _refused(http.get("/store/items", params={"key": "k\x00", "namespace": "notes"}), "query parameter key", "NUL")


def test_store_item_with_ttl_when_the_store_does_not_expire_items(http: httpx.Client) -> None:
    body = {"namespace": ["notes"], "key": "k", "value": {"v": 1}, "ttl": 5}
    _refused(http.put("/store/items", json=body), "ttl is not supported", "InMemoryStore")
    assert http.get("/store/items", params={"key": "k", "namespace": "notes"}).status_code == 404  # nothing kept
    body["ttl"] = None  # what langgraph_sdk sends without a ttl (it leaves the field out; null means the same)
    assert http.put("/store/items", json=body).status_code == 204


def test_empty_label_in_a_namespace_suffix(http: httpx.Client) -> None:  # found by the fuzzer: a 500
    _refused(http.post("/store/namespaces", json={"suffix": ["a", ""]}), "invalid namespace label ''")


def test_thread_with_ttl(http: httpx.Client) -> None:
    _refused(http.post("/threads", json={"ttl": {"ttl": 5, "strategy": "delete"}}), "thread ttl is not supported")


@pytest.mark.parametrize(
    "path", ["/threads/search", "/threads/count", "/store/items/search", "/store/namespaces", "/assistants/search"]
)
def test_offset_of_10_to_the_20_in_a_body(http: httpx.Client, path: str) -> None:
    _refused(http.post(path, json={"offset": 10**20}), "body.offset", "64-bit")


def test_offset_of_10_to_the_20_in_a_query(http: httpx.Client) -> None:
    tid = http.post("/threads", json={}).json()["thread_id"]
    _refused(http.get(f"/threads/{tid}/runs", params={"offset": 10**20}), "query.offset")


def test_offset_just_past_64_bits(http: httpx.Client) -> None:
    _refused(http.post("/threads/search", json={"offset": 2**63}), "64-bit")


def test_integer_past_64_bits_in_metadata(http: httpx.Client) -> None:
    _refused(http.post("/threads", json={"metadata": {"n": -(2**70)}}), "body.metadata.n", "64-bit")


def test_nan_and_infinity(http: httpx.Client) -> None:
    _refused(_raw(http, "POST", "/threads", '{"metadata": {"x": NaN}}'), "not a JSON number")
    _refused(_raw(http, "POST", "/threads/search", '{"metadata": {"x": -Infinity}}'), "not a JSON number")


def test_body_that_is_not_utf8(http: httpx.Client) -> None:
    response = http.post("/threads", content=b'{"metadata": {"a": "\xff\xfe"}}', headers={"content-type": "application/json"})
    _refused(response, "not UTF-8")


def test_boolean_where_an_integer_belongs(http: httpx.Client) -> None:
    _refused(http.post("/threads/search", json={"offset": False}), "offset")


def test_the_connection_survives_every_refusal(server: LiveServer) -> None:
    """One keep-alive socket: each hostile request is answered 4xx and the next request on it is served."""
    hostile = [
        ("POST", "/threads", json.dumps({"metadata": _nested(300)})),
        ("POST", "/threads", '{"metadata": {"\\ud800": 1}}'),
        ("PUT", "/store/items", json.dumps({"namespace": ["a"], "key": "k", "value": {}, "ttl": 1})),
        ("POST", "/threads/search", json.dumps({"offset": 10**20})),
    ]
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        stream = sock.makefile("rb")
        for method, path, body in hostile:
            status = _exchange(sock, stream, method, path, body)
            assert 400 <= status < 500, (method, path, status)
            assert _exchange(sock, stream, "GET", "/info", None) == 200


def test_an_unexpected_error_is_a_500_that_keeps_the_connection() -> None:
    """The guard answers a bug with a JSON 500 instead of letting the server drop the connection."""
    from graphwright.service._guard import Guard

    async def broken(scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/boom":
            raise RuntimeError("a bug")
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    app = Guard(broken, auth=None, options=ServiceOptions())
    with LiveServer(app) as live, socket.create_connection(("127.0.0.1", live.port), timeout=30) as sock:
        stream = sock.makefile("rb")
        assert _exchange(sock, stream, "GET", "/boom", None) == 500
        assert _exchange(sock, stream, "GET", "/fine", None) == 200


def _exchange(sock: socket.socket, stream, method: str, path: str, body: str | None) -> int:
    """Send one HTTP/1.1 request on `sock` and read its whole answer; return the status."""
    data = (body or "").encode("utf-8", "surrogatepass")
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nx-api-key: {ALICE}\r\nContent-Length: {len(data)}\r\n"
    if body is not None:
        head += "Content-Type: application/json\r\n"
    sock.sendall(head.encode() + b"\r\n" + data)
    status = int(stream.readline().split()[1])
    length = 0
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
        assert not (name.lower() == "connection" and value.strip().lower() == "close"), "server closes"
    stream.read(length)
    return status
