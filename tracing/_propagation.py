"""W3C trace context from incoming HTTP requests: a run started by a traced caller joins the caller's trace."""

from __future__ import annotations

from typing import Any


class TraceContextMiddleware:
    """ASGI middleware: a request's `traceparent` (and `tracestate`) header becomes the current trace context
    while the request is handled, so the spans of a run it starts are children of the caller's span.

    Tasks the request starts (a background run) copy the context when they are created, so they keep it.

    Example:
        >>> from starlette.applications import Starlette
        >>> app = TraceContextMiddleware(Starlette())
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = dict(scope.get("headers") or ()) if scope.get("type") == "http" else {}
        if b"traceparent" not in headers:
            await self.app(scope, receive, send)
            return
        from opentelemetry import context
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers.items() if k in (b"traceparent", b"tracestate")}
        token = context.attach(TraceContextTextMapPropagator().extract(carrier))
        try:
            await self.app(scope, receive, send)
        finally:
            context.detach(token)
