"""HTTP GET restricted to an allow-list of hosts.

Only `http`/`https` URLs whose host (and port, when the allow-list entry names one) is listed are fetched;
redirects are reported, not followed (a redirect could leave the list); proxies from the environment are
ignored; the body is cut at a byte limit. Host names are compared as written: list the names you trust, and
keep in mind that a listed name is only as safe as its DNS.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from langchain_core.tools import StructuredTool

from ..errors import ToolHostError
from ._registry import register_tool


def check_url(url: str, allowed_hosts: Iterable[str]) -> str:
    """Return `url` if its scheme is http(s) and its host is in `allowed_hosts`, else raise `ToolHostError`.

    An entry `host` allows any port on that host; `host:port` only that port.

    Example:
        >>> check_url("https://docs.python.org/3/", ["docs.python.org"])
        'https://docs.python.org/3/'
        >>> check_url("http://169.254.169.254/latest", ["docs.python.org"])
        Traceback (most recent call last):
        ...
        graphwright.errors.ToolHostError: host '169.254.169.254' is not in the allow-list
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ToolHostError(f"not a valid URL: {url!r} ({exc})") from exc
    if parts.scheme not in ("http", "https"):
        raise ToolHostError(f"only http and https URLs are fetched, not {parts.scheme or 'no scheme'!r}")
    if parts.username or parts.password:
        raise ToolHostError("URLs with a user name or password are not fetched")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise ToolHostError(f"URL {url!r} names no host")
    effective = port or (443 if parts.scheme == "https" else 80)
    for entry in allowed_hosts:
        name, sep, entry_port = entry.lower().rpartition(":") if _has_port(entry) else (entry.lower(), "", "")
        if name.strip("[]") == host and (not sep or int(entry_port) == effective):
            return url
    raise ToolHostError(f"host {host!r} is not in the allow-list")


def _has_port(entry: str) -> bool:
    head, sep, tail = entry.rpartition(":")
    return bool(sep) and tail.isdigit() and (not head.startswith("[") or head.endswith("]"))


def http_get_tool(allowed_hosts: Iterable[str], *, timeout: float = 10.0, max_bytes: int = 100_000) -> StructuredTool:
    """Return the `http_get` tool: fetch a URL on an allowed host and return its status and text.

    Args:
        allowed_hosts: host names (or `host:port`) the tool may reach; nothing else is fetched.
        timeout: seconds for connecting and for each read.
        max_bytes: bytes of the body returned; the rest is not read.

    Example:
        >>> tool = http_get_tool(["example.org"])
        >>> tool.name, tool.invoke({"url": "ftp://example.org/"})
        Traceback (most recent call last):
        ...
        graphwright.errors.ToolHostError: only http and https URLs are fetched, not 'ftp'
    """
    hosts = tuple(allowed_hosts)

    def http_get(url: str) -> str:
        """Fetch a web page or API response with HTTP GET and return its status line and text.

        Args:
            url: the full http or https URL; only some hosts are allowed.
        """
        import httpx

        check_url(url, hosts)
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            with client.stream("GET", url, headers={"User-Agent": "graphwright-http-get"}) as response:
                if response.is_redirect:
                    return f"HTTP {response.status_code}: redirect to {response.headers.get('location')!r} (not followed)"
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        break
        text = bytes(body[:max_bytes]).decode(response.encoding or "utf-8", errors="replace")
        cut = "\n… [body cut]" if len(body) > max_bytes else ""
        return f"HTTP {response.status_code}\n{text}{cut}"

    return register_tool(side_effects=False, timeout=timeout * 3, untrusted_output=True)(http_get)
