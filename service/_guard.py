"""The ASGI guard in front of every route: API-key auth, a per-tenant rate limit, and a body size limit.

It runs before any body is read: a caller without a key gets 401, a caller over its rate 429 with
`Retry-After`, and a body over the limit 413 as soon as its `Content-Length` (or its running byte count when
chunked) passes the limit. The tenant it finds goes to the app in `scope["state"]["tenant"]`. An error no
handler answered becomes a 500 here (logged), so the server keeps the client's connection open.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

import orjson
from starlette.exceptions import HTTPException

from ._options import ANONYMOUS, ApiKeyAuth, ServiceOptions

_log = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset({"/ok", "/openapi.json", "/docs", "/docs/oauth2-redirect"})
"""Paths served without a key: a liveness probe and the API description (no data)."""


class _BodyTooLarge(HTTPException):
    """Raised from `receive` so the app's exception handling answers 413 when a chunked body runs over."""


class TokenBuckets:
    """One token bucket per tenant: `burst` tokens, refilled at `rate` per second.

    Example:
        >>> buckets = TokenBuckets(rate=1.0, burst=2)
        >>> [buckets.take("t", now=0.0) for _ in range(3)]
        [0.0, 0.0, 1.0]
    """

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, tenant: str, *, now: float | None = None) -> float:
        """Take one token for `tenant`; return 0 when granted, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._state.get(tenant, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._state[tenant] = (tokens - 1.0, now)
                return 0.0
            self._state[tenant] = (tokens, now)
            return (1.0 - tokens) / self.rate


class Guard:
    """ASGI middleware: authenticate, rate-limit and cap the body of every HTTP request to `app`."""

    def __init__(self, app: Any, *, auth: ApiKeyAuth | None, options: ServiceOptions) -> None:
        self.app = app
        self.auth = auth
        self.options = options
        self.buckets = TokenBuckets(options.rate_per_second, options.rate_burst)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if path in PUBLIC_PATHS and scope.get("method") in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        tenant, refusal = self._admit(headers)
        if refusal is not None:
            await _reply(send, *refusal)
            return
        scope.setdefault("state", {})["tenant"] = tenant
        await self._forward_capped(scope, receive, send)

    def _admit(self, headers: dict[str, str]) -> tuple[str, tuple[int, str, dict[str, str]] | None]:
        """The caller's tenant, and the refusal (status, detail, headers) when it may not go on: 401, 429, 400, 413.

        Nothing of the body has been read yet, so a refused request costs the server no more than its headers.
        """
        tenant = ANONYMOUS
        if self.auth is not None:
            found = self.auth.tenant_for(_presented_key(headers))
            if found is None:
                detail = "missing or invalid API key: send `x-api-key: KEY` or `Authorization: Bearer KEY`"
                return ANONYMOUS, (401, detail, {"www-authenticate": 'Bearer realm="graphwright"'})
            tenant = found
        wait = self.buckets.take(tenant)
        if wait > 0:
            retry = max(1, math.ceil(wait))
            return tenant, (429, f"rate limit exceeded; retry in {retry} s", {"retry-after": str(retry)})
        limit = self.options.max_body_bytes
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return tenant, (400, "invalid Content-Length header", {})
            if int(length) > limit:
                return tenant, (413, f"request body of {length} bytes exceeds the limit of {limit} bytes", {})
        return tenant, None

    async def _forward_capped(self, scope: dict, receive: Any, send: Any) -> None:
        """Pass the request to the app, answering 413 instead once a (chunked) body runs over the limit."""
        limit = self.options.max_body_bytes
        seen = 0
        started = False
        too_large = False
        detail = f"request body exceeds the limit of {limit} bytes"

        async def counted_receive() -> dict:
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    too_large = True
                    raise _BodyTooLarge(413, detail)
            return message

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if too_large:  # whatever the app made of the aborted read, the answer is 413
                if not started:
                    started = True
                    await _reply(send, 413, detail)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _reply(send, 413, detail)
        except Exception as exc:
            if too_large:  # the cut-off read, wrapped on its way out (e.g. in an ExceptionGroup)
                if not started:
                    await _reply(send, 413, detail)
                return
            # A bug, not the caller's fault: answer 500 and keep the connection (re-raised, the server would
            # log it and close the keep-alive connection under the client).
            _log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await _reply(send, 500, f"internal server error ({type(exc).__name__}); the request was not completed")


def _presented_key(headers: dict[str, str]) -> str | None:
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


async def _reply(send: Any, status: int, detail: str, extra: dict[str, str] | None = None) -> None:
    body = orjson.dumps({"detail": detail})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
