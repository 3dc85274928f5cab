"""HTTP GET reaches only allow-listed hosts (a local server on 127.0.0.1 stands in for the web)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from graphwright.errors import ToolHostError
from graphwright.tools import check_url, http_get_tool


class _Handler(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        type(self).hits.append(self.path)
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://evil.example/")
            self.end_headers()
            return
        body = b"x" * 5000 if self.path == "/big" else b"hello from the allowed host"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    _Handler.hits = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_allowed_host_is_fetched(server: int) -> None:
    tool = http_get_tool(["127.0.0.1"])
    assert tool.invoke({"url": f"http://127.0.0.1:{server}/page"}) == "HTTP 200\nhello from the allowed host"
    assert _Handler.hits == ["/page"]


def test_body_is_cut_and_redirects_are_not_followed(server: int) -> None:
    tool = http_get_tool([f"127.0.0.1:{server}"], max_bytes=100)
    big = tool.invoke({"url": f"http://127.0.0.1:{server}/big"})
    assert big.startswith("HTTP 200\n" + "x" * 100) and big.endswith("[body cut]") and "x" * 101 not in big
    assert "not followed" in tool.invoke({"url": f"http://127.0.0.1:{server}/redirect"})
    assert _Handler.hits == ["/big", "/redirect"]


@pytest.mark.parametrize(
    ("allowed", "url", "message"),
    [
        (["example.org"], "http://127.0.0.1:{port}/", "'127.0.0.1' is not in the allow-list"),
        (["127.0.0.1:1"], "http://127.0.0.1:{port}/", "not in the allow-list"),
        (["127.0.0.1"], "http://localhost:{port}/", "'localhost' is not in the allow-list"),
        (["127.0.0.1"], "file:///etc/passwd", "only http and https"),
        (["127.0.0.1"], "http://user:pw@127.0.0.1:{port}/", "user name or password"),
        (["127.0.0.1"], "http://127.0.0.1.evil.example:{port}/", "not in the allow-list"),
        (["127.0.0.1"], "http://[::1]:{port}/", "'::1' is not in the allow-list"),
    ],
)
def test_hosts_outside_the_allow_list_are_never_contacted(server: int, allowed, url: str, message: str) -> None:
    with pytest.raises(ToolHostError, match=message):
        http_get_tool(allowed).invoke({"url": url.format(port=server)})
    assert _Handler.hits == []


def test_port_entries_and_default_ports() -> None:
    assert check_url("https://api.example.com/x", ["api.example.com:443"])
    with pytest.raises(ToolHostError):
        check_url("http://api.example.com/x", ["api.example.com:443"])
