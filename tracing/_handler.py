"""The LangChain callback handler that turns a graph's runs into OpenTelemetry spans.

LangGraph reports each run, each node, each chat-model call, each tool call and each retrieval to LangChain's
callbacks, with run ids that say which is inside which; the handler opens a span for each and closes it when
the callback says the work ended. Chains that are not nodes (a node's inner sequences, channel writes, routers)
get no span of their own: what runs inside them nests under the node.
"""

from __future__ import annotations

import json
import threading
import time
from contextvars import ContextVar
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from ._setup import STATE, TRACE_ENV, enable_tracing_from_env

_REGISTERED = threading.Event()
_HOOK: ContextVar[Any] = ContextVar("graphwright_tracing_handler", default=None)
_INTERRUPTS = {"GraphInterrupt", "NodeInterrupt", "ParentCommand", "GraphBubbleUp"}
"""Exceptions LangGraph uses for control flow: a node that raises them paused the run, it did not fail."""
TEXT_LIMIT = 4_000
"""Characters of one recorded value (a prompt, a tool's result) kept in a span attribute."""


def register() -> None:
    """Have every LangChain callback manager add a `SpanHandler` while `$GRAPHWRIGHT_TRACE` is set (once)."""
    if _REGISTERED.is_set():
        return
    from langchain_core.tracers.context import register_configure_hook

    register_configure_hook(_HOOK, True, SpanHandler, TRACE_ENV)
    _REGISTERED.set()


class _Runs:
    """Open spans by LangChain run id; a run without a span of its own points at its parent's.

    Each callback reads or writes one entry at a time, and a single dict operation is atomic, so the table
    needs no lock of its own (callbacks of one run arrive from several threads).
    """

    def __init__(self) -> None:
        self.spans: dict[UUID, Any] = {}
        self.alias: dict[UUID, UUID] = {}
        self.first_token: dict[UUID, float] = {}

    def parent(self, parent_run_id: UUID | None) -> Any:
        alias = self.alias
        while parent_run_id in alias:
            parent_run_id = alias[parent_run_id]
        return self.spans.get(parent_run_id) if parent_run_id is not None else None


RUNS = _Runs()


class SpanHandler(BaseCallbackHandler):
    """Spans for graph runs, nodes, chat-model calls, tool calls and retrievals (OpenTelemetry GenAI conventions).

    Every instance shares one table of open spans, so LangChain may create one per callback manager.
    """

    run_inline = True  # called in the caller's thread and context: spans nest under an incoming trace context
    raise_error = False
    # Events no span is made of: LangChain skips calling the handler for them at all (tool events go by
    # `ignore_agent`, so that one stays off).
    ignore_retry = True
    ignore_custom_event = True

    def _open(self, run_id: UUID, parent_run_id: UUID | None, name: str, attributes: dict[str, Any]) -> None:
        """Start a span; `attributes` must hold only values OpenTelemetry accepts (see `_clean`)."""
        tracer = STATE.tracer
        if tracer is None:
            enable_tracing_from_env()  # the switch was set in the environment: trace as it says
            tracer = STATE.tracer
            if tracer is None:
                return
        parent = RUNS.parent(parent_run_id)
        context = _otel().set_span_in_context(parent) if parent is not None else None
        RUNS.spans[run_id] = tracer.start_span(name, context=context, attributes=attributes)

    def _close(self, run_id: UUID, attributes: dict[str, Any] | None = None, error: BaseException | None = None) -> None:
        span = RUNS.spans.pop(run_id, None)
        if span is None:
            RUNS.alias.pop(run_id, None)
            return
        if RUNS.first_token:
            RUNS.first_token.pop(run_id, None)
        if attributes:
            span.set_attributes(_clean(attributes))
        if error is not None and type(error).__name__ in _INTERRUPTS:
            span.set_attribute("graphwright.interrupted", True)
        elif error is not None:
            from opentelemetry.trace import Status, StatusCode

            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()

    # Graph runs and nodes.
    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, parent_run_id: UUID | None = None,
                       tags: list[str] | None = None, metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        metadata = metadata or _EMPTY
        name = kwargs.get("name") or (serialized or _EMPTY).get("name") or "chain"
        if parent_run_id is None or (parent_run_id not in RUNS.alias and parent_run_id not in RUNS.spans):
            attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": str(name)}
            _put(attributes, "gen_ai.conversation.id", metadata.get("thread_id"))
            _put(attributes, "langgraph.checkpoint_id", metadata.get("checkpoint_id"))  # a run started from one
            self._open(run_id, None, _span_name("invoke_agent", name), attributes)
        elif metadata.get("langgraph_node") == name and not (tags and "langsmith:hidden" in tags):
            # The task id is the link to checkpoints: the checkpoint the step started from lists this task
            # (`StateSnapshot.tasks`), and the writes it saved carry it; callbacks are not given a checkpoint id.
            namespace = str(metadata.get("langgraph_checkpoint_ns") or "")
            attributes = {"graphwright.node": str(name), "langgraph.checkpoint_ns": namespace}
            _put(attributes, "langgraph.step", metadata.get("langgraph_step"))
            _put(attributes, "langgraph.task_id", namespace.rpartition(":")[2] or None)
            _put(attributes, "gen_ai.conversation.id", metadata.get("thread_id"))
            self._open(run_id, parent_run_id, _span_name("node", name), attributes)
        else:  # a chain inside a node (a sequence, a router, a channel write): what runs in it nests under the node
            RUNS.alias[run_id] = parent_run_id

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._close(run_id)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._close(run_id, error=error)

    # Model calls.
    def on_chat_model_start(self, serialized: Any, messages: list[list[Any]], *, run_id: UUID,
                            parent_run_id: UUID | None = None, metadata: dict[str, Any] | None = None,
                            invocation_params: dict[str, Any] | None = None, **kwargs: Any) -> None:
        metadata = metadata or _EMPTY
        params = invocation_params or kwargs.get("invocation_params") or _EMPTY
        model = metadata.get("ls_model_name") or params.get("model") or params.get("_type") or "model"
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": metadata.get("ls_provider") or params.get("_type"),
            "gen_ai.request.model": model,
            "gen_ai.request.temperature": metadata.get("ls_temperature"),
            "gen_ai.request.max_tokens": metadata.get("ls_max_tokens"),
            "gen_ai.conversation.id": metadata.get("thread_id"),
            "gen_ai.tool.definitions": _text([t.get("function", {}).get("name") for t in params.get("tools") or []])
            if params.get("tools") else None,
            "graphwright.node": metadata.get("langgraph_node"),
        }
        if STATE.content and messages:
            attributes["gen_ai.input.messages"] = _text([_message(m) for m in messages[0]])
        self._open(run_id, parent_run_id, f"chat {model}", _clean(attributes))

    def on_llm_start(self, serialized: Any, prompts: list[str], *, run_id: UUID,
                     parent_run_id: UUID | None = None, **kwargs: Any) -> None:
        self.on_chat_model_start(serialized, [], run_id=run_id, parent_run_id=parent_run_id, **kwargs)

    def on_llm_new_token(self, token: str, *, run_id: UUID, **kwargs: Any) -> None:
        if run_id not in RUNS.first_token:
            RUNS.first_token[run_id] = time.time_ns()

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        generation = (response.generations or [[None]])[0][0]
        message = getattr(generation, "message", None)
        usage = getattr(message, "usage_metadata", None) or {}
        meta = getattr(message, "response_metadata", None) or {}
        first_token = meta.get("time_to_first_token_seconds")
        streamed, span = RUNS.first_token.get(run_id), RUNS.spans.get(run_id)
        started = getattr(span, "start_time", None)  # None: a span not sampled records nothing
        if first_token is None and streamed and started:  # another chat model, streamed
            first_token = (streamed - started) / 1e9
        attributes: dict[str, Any] = {
            "gen_ai.usage.input_tokens": usage.get("input_tokens"),
            "gen_ai.usage.output_tokens": usage.get("output_tokens"),
            "gen_ai.response.model": meta.get("model_name"),
            "gen_ai.response.finish_reasons": [meta["finish_reason"]] if meta.get("finish_reason") else None,
            "gen_ai.response.time_to_first_chunk": first_token,
            "graphwright.batch_size": meta.get("batch_size"),
            "graphwright.grammar": meta.get("grammar"),
            "graphwright.tool_calls": len(getattr(message, "tool_calls", None) or []) if message is not None else None,
        }
        if STATE.content and generation is not None:
            attributes["gen_ai.output.messages"] = _text(_message(message) if message is not None else generation.text)
        self._close(run_id, attributes)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._close(run_id, error=error)

    # Tool calls.
    def on_tool_start(self, serialized: Any, input_str: str, *, run_id: UUID, parent_run_id: UUID | None = None,
                      metadata: dict[str, Any] | None = None, inputs: dict[str, Any] | None = None,
                      **kwargs: Any) -> None:
        metadata = metadata or _EMPTY
        name = kwargs.get("name") or (serialized or _EMPTY).get("name") or "tool"
        allowed = _tool_allows(metadata)
        attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.description": (serialized or _EMPTY).get("description"),
            "gen_ai.tool.call.id": kwargs.get("tool_call_id"),
            "gen_ai.conversation.id": metadata.get("thread_id"),
            "graphwright.trace_content": allowed,
        }
        if allowed:  # serialised only when the tool's policy lets it into the trace
            attributes["gen_ai.tool.call.arguments"] = _text(inputs if inputs is not None else input_str)
        self._open(run_id, parent_run_id, f"execute_tool {name}", _clean(attributes))

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        recorded = getattr(RUNS.spans.get(run_id), "attributes", None) or _EMPTY  # none when not sampled
        allowed = recorded.get("graphwright.trace_content", False)
        self._close(run_id, {"gen_ai.tool.call.result": _text(getattr(output, "content", output))} if allowed else None)

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._close(run_id, error=error)

    # Retrievals.
    def on_retriever_start(self, serialized: Any, query: str, *, run_id: UUID, parent_run_id: UUID | None = None,
                           metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        name = kwargs.get("name") or (serialized or _EMPTY).get("name") or "retriever"
        attributes = {
            "gen_ai.operation.name": "retrieval",
            "gen_ai.data_source.id": name,
            "gen_ai.conversation.id": (metadata or _EMPTY).get("thread_id"),
            "gen_ai.retrieval.query.text": query if STATE.content else None,
        }
        self._open(run_id, parent_run_id, f"retrieval {name}", _clean(attributes))

    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kwargs: Any) -> None:
        attributes: dict[str, Any] = {"graphwright.documents": len(documents)}
        if STATE.content:
            attributes["gen_ai.retrieval.documents"] = _text([getattr(d, "page_content", d) for d in documents])
        self._close(run_id, attributes)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._close(run_id, error=error)


_EMPTY: dict[str, Any] = {}
_NAMES: dict[tuple[str, Any], str] = {}


def _span_name(kind: str, name: Any) -> str:
    """`kind name`, built once per graph or node name (the same few names recur on every step)."""
    key = (kind, name)
    found = _NAMES.get(key)
    if found is None:
        found = _NAMES[key] = f"{kind} {name}"
        if len(_NAMES) > 4096:  # names come from user graphs: bound the cache, do not grow it forever
            _NAMES.clear()
    return found


def _put(attributes: dict[str, Any], key: str, value: Any) -> None:
    """Set an attribute unless it is None; a value OpenTelemetry does not take is kept as text."""
    if value is not None:
        attributes[key] = value if isinstance(value, (str, bool, int, float)) else str(value)


_OTEL: Any = None


def _otel() -> Any:
    """`opentelemetry.trace`, imported on first use: `import graphwright` does not load OpenTelemetry."""
    global _OTEL
    if _OTEL is None:
        from opentelemetry import trace

        _OTEL = trace
    return _OTEL


def _tool_allows(metadata: dict[str, Any]) -> bool:
    """Whether a tool's arguments and results may go into a trace: its `ToolMeta.trace_content` (default yes)."""
    return bool(getattr(metadata.get("graphwright"), "trace_content", True))


def _message(message: Any) -> dict[str, Any]:
    role = {"human": "user", "ai": "assistant"}.get(getattr(message, "type", ""), getattr(message, "type", "user"))
    item: dict[str, Any] = {"role": role, "content": getattr(message, "content", str(message))}
    if getattr(message, "tool_calls", None):
        item["tool_calls"] = [{"name": c["name"], "arguments": c["args"]} for c in message.tool_calls]
    return item


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + "…"


def _clean(attributes: dict[str, Any]) -> dict[str, Any]:
    """Attributes OpenTelemetry accepts: None dropped, other objects as text."""
    kept = {}
    for key, value in attributes.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            value = [v if isinstance(v, (str, bool, int, float)) else str(v) for v in value]
        elif not isinstance(value, (str, bool, int, float)):
            value = str(value)
        kept[key] = value
    return kept
