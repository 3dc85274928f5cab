"""OpenTelemetry traces of graph runs, off by default: one switch turns them on.

A run is a span (`invoke_agent GRAPH`, its thread as `gen_ai.conversation.id`), each node a span inside it
(`node NAME`, with its step and task id: the task a checkpoint lists), each model call a `chat MODEL` span
(prompt and completion tokens, time to first token, the batch it shared, the grammar it was decoded under),
each tool call an `execute_tool NAME` span (arguments and result only where the tool's `trace_content`
allows) and each retrieval a `retrieval NAME` span, following OpenTelemetry's GenAI semantic conventions.
Spans go over OTLP to any collector (Arize Phoenix, Jaeger, an OpenTelemetry Collector), to the console, and
into memory for the live view's timeline.

Turn it on with `enable_tracing()`, with `--trace` on the command line, or with `GRAPHWRIGHT_TRACE=1` (or
`console`, or a collector's URL) in the environment.

Example:
    >>> from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    >>> from langchain_core.runnables import RunnableLambda
    >>> memory = InMemorySpanExporter()
    >>> _ = enable_tracing("", exporters=[memory])
    >>> RunnableLambda(lambda x: x + 1, name="inc").invoke(1)
    2
    >>> [span.name for span in memory.get_finished_spans()]
    ['invoke_agent inc']
    >>> disable_tracing()
"""

from ._handler import SpanHandler
from ._propagation import TraceContextMiddleware
from ._setup import (
    CONTENT_ENV,
    TRACE_ENV,
    disable_tracing,
    enable_tracing,
    enable_tracing_from_env,
    flush_traces,
    recent_spans,
    tracing_enabled,
)

__all__ = [
    "CONTENT_ENV",
    "SpanHandler",
    "TRACE_ENV",
    "TraceContextMiddleware",
    "disable_tracing",
    "enable_tracing",
    "enable_tracing_from_env",
    "flush_traces",
    "recent_spans",
    "tracing_enabled",
]
