"""Turning tracing on and off: the tracer provider, its exporters, and the recent spans kept for the live view.

One switch: `$GRAPHWRIGHT_TRACE` (set by `enable_tracing`, by `--trace` on the command line, or by the user).
LangChain's callback managers add graphwright's span handler wherever that variable is set, so every graph,
model and tool call of the process is traced, in any thread, with no handler to pass around.
"""

from __future__ import annotations

import collections
import os
import sys
import threading
from collections.abc import Sequence
from typing import Any

from ..errors import TracingError

TRACE_ENV = "GRAPHWRIGHT_TRACE"
"""The switch: unset, empty or `0` is off; `1` or `otlp` exports over OTLP/HTTP (to
`$OTEL_EXPORTER_OTLP_ENDPOINT`, else a collector on 127.0.0.1:4318); `console` prints spans (to stderr); an `http(s)://`
URL exports to that collector; several may be joined with commas (`otlp,console`)."""

CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""OpenTelemetry's own opt-in for recording prompts and replies in spans (`true`); off by default."""

KEPT_SPANS = 20_000
"""Finished spans kept in memory for the live view's timeline; older ones are dropped first."""

_OFF = {"", "0", "false", "no", "off"}


class _State:
    """The process's tracing: one provider, the spans kept for the live view, whether content is recorded."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.provider: Any = None
        self.tracer: Any = None
        self.content = False
        self.kept: collections.deque[Any] = collections.deque(maxlen=KEPT_SPANS)  # finished SDK spans


STATE = _State()


def enable_tracing(
    destinations: str | Sequence[str] = "otlp",
    *,
    content: bool | None = None,
    exporters: Sequence[Any] = (),
    service_name: str = "graphwright",
) -> Any:
    """Turn tracing on for this process and return the OpenTelemetry `TracerProvider` it exports through.

    Every graph run, node, model call, tool call and retrieval from then on is a span (OpenTelemetry GenAI
    conventions: `gen_ai.operation.name`, `gen_ai.usage.input_tokens`, ...). Calling it again replaces the
    previous exporters.

    Args:
        destinations: `otlp` (OTLP/HTTP to `$OTEL_EXPORTER_OTLP_ENDPOINT`, default 127.0.0.1:4318), `console`,
            an `http(s)://` collector URL (`/v1/traces` is added when the URL has no path), or several of them;
            empty for none (only `exporters` and the live view's memory).
        content: record prompts, replies and retrieval queries in spans; None reads `$OTEL_INSTRUMENTATION_
            GENAI_CAPTURE_MESSAGE_CONTENT`. Tool arguments and results follow each tool's own `trace_content`.
        exporters: more OpenTelemetry `SpanExporter`s (e.g. an `InMemorySpanExporter` in a test).
        service_name: the `service.name` resource attribute collectors group spans by.

    Raises:
        TracingError: a destination that is none of the above.

    Example:
        >>> from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        >>> memory = InMemorySpanExporter()
        >>> _ = enable_tracing("", exporters=[memory])
        >>> tracing_enabled()
        True
        >>> disable_tracing(); tracing_enabled()
        False
    """
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    chosen = _exporters(destinations)
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(_keeper())
    for exporter in chosen:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    for exporter in exporters:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    with STATE.lock:
        old, STATE.provider = STATE.provider, provider
        STATE.tracer = provider.get_tracer("graphwright")
        STATE.content = _truthy(os.environ.get(CONTENT_ENV, "")) if content is None else content
    if old is not None:
        old.shutdown()
    if _truthy(os.environ.get(TRACE_ENV, "")) is False:
        os.environ[TRACE_ENV] = "1"  # the switch LangChain's callback managers read (see the module docstring)
    from ._handler import register

    register()
    return provider


def enable_tracing_from_env() -> bool:
    """Turn tracing on as `$GRAPHWRIGHT_TRACE` says, unless it is already on; return whether it is on.

    Raises:
        TracingError: `$GRAPHWRIGHT_TRACE` names an unknown destination.
    """
    if STATE.provider is not None:
        return True
    value = os.environ.get(TRACE_ENV, "")
    if not _truthy(value):
        return False
    enable_tracing("otlp" if value.strip().lower() in ("1", "true", "yes", "on") else value)
    return True


def disable_tracing() -> None:
    """Turn tracing off: flush and close the exporters, unset `$GRAPHWRIGHT_TRACE`, forget the kept spans."""
    with STATE.lock:
        old, STATE.provider, STATE.tracer = STATE.provider, None, None
        STATE.kept.clear()
    os.environ.pop(TRACE_ENV, None)
    if old is not None:
        old.shutdown()


def tracing_enabled() -> bool:
    """Whether spans are being recorded now."""
    return STATE.provider is not None


def flush_traces(timeout_s: float = 10.0) -> bool:
    """Export every finished span now (before a command exits); return False if an exporter timed out."""
    provider = STATE.provider
    return True if provider is None else bool(provider.force_flush(int(timeout_s * 1000)))


def recent_spans(thread_id: str | None = None) -> list[dict[str, Any]]:
    """The finished spans kept in memory, oldest first, as plain dicts; only one thread's runs when given.

    Each has `name`, `trace_id`, `span_id`, `parent_id` (hex; None at a root), `start_ns`, `end_ns`, `status`
    (`ok` or `error`) and `attributes`. A run's spans carry its thread as `gen_ai.conversation.id`.
    """
    with STATE.lock:
        spans = [_as_dict(span) for span in list(STATE.kept)]
    if thread_id is None:
        return spans
    traces = {s["trace_id"] for s in spans if s["attributes"].get("gen_ai.conversation.id") == thread_id}
    return [s for s in spans if s["trace_id"] in traces]


def _exporters(destinations: str | Sequence[str]) -> list[Any]:
    parts = destinations.split(",") if isinstance(destinations, str) else list(destinations)
    chosen = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        if part.lower() in ("otlp", "1", "true", "yes", "on"):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            chosen.append(OTLPSpanExporter())  # reads $OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT itself
        elif part.lower() == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            chosen.append(ConsoleSpanExporter(out=sys.stderr))  # stdout stays the command's own output
        elif part.startswith(("http://", "https://")):
            from urllib.parse import urlsplit

            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            url = part if urlsplit(part).path.strip("/") else part.rstrip("/") + "/v1/traces"
            chosen.append(OTLPSpanExporter(endpoint=url))
        else:
            raise TracingError(
                f"unknown trace destination {part!r}: use otlp, console or an http(s):// collector URL"
            )
    return chosen


def _truthy(value: str) -> bool:
    return value.strip().lower() not in _OFF


def _keeper() -> Any:
    from opentelemetry.sdk.trace import SpanProcessor

    class Keeper(SpanProcessor):
        """Keeps finished spans for `recent_spans` (the live view's timeline), as they are: they are turned
        into dicts only when the view asks, not on the traced run's path."""

        def on_end(self, span: Any) -> None:
            STATE.kept.append(span)

    return Keeper()


def _as_dict(span: Any) -> dict[str, Any]:
    context = span.get_span_context()
    return {
        "name": span.name,
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
        "parent_id": f"{span.parent.span_id:016x}" if span.parent is not None else None,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": "error" if span.status.status_code.name == "ERROR" else "ok",
        "attributes": dict(span.attributes or {}),
    }
