"""Traces: a run as a tree of OpenTelemetry spans (GenAI conventions), exported to a real collector.

The collector is Arize Phoenix (`arize-phoenix`, a dev dependency), started as a subprocess as a user would
run it locally; the test sends a traced `graphwright run` to it over OTLP/HTTP and reads the spans back from
Phoenix's REST API.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from services import require_service
from langgraph.checkpoint.memory import InMemorySaver
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from scripted_graphs import slow_assistant
from starlette.testclient import TestClient

from graphwright.errors import TracingError
from graphwright.graphs import compile_graph, thread_config
from graphwright.tracing import disable_tracing, enable_tracing, recent_spans

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def spans():
    memory = InMemorySpanExporter()
    enable_tracing("", exporters=[memory])
    yield memory
    disable_tracing()


def tree(memory: InMemorySpanExporter) -> dict[str, tuple[str | None, dict]]:
    """span name -> (its parent's name, its attributes); names are unique in the runs below."""
    finished = memory.get_finished_spans()
    names = {s.context.span_id: s.name for s in finished}
    return {s.name: (names.get(s.parent.span_id) if s.parent else None, dict(s.attributes)) for s in finished}


def test_a_run_is_a_tree_of_spans_linked_to_its_thread_and_checkpoints(spans: InMemorySpanExporter) -> None:
    app = compile_graph(slow_assistant(), checkpointer=InMemorySaver(), name="adder")
    app.invoke({"messages": [("human", "add 2 and 3")]}, thread_config("t-trace"))
    got = tree(spans)
    root = got["invoke_agent adder"]
    assert root[0] is None and root[1]["gen_ai.operation.name"] == "invoke_agent"
    for node in ("planner", "tools", "responder", "critic"):
        parent, attributes = got[f"node {node}"]
        assert parent == "invoke_agent adder" and attributes["gen_ai.conversation.id"] == "t-trace"
    tool_parent, tool = got["execute_tool slow_add"]
    assert tool_parent == "node tools"
    assert tool["gen_ai.tool.call.arguments"] == '{"a": 2, "b": 3}' and tool["gen_ai.tool.call.result"] == "5"
    assert tool["gen_ai.tool.call.id"] == "call-add-1"
    chats = [s for s in spans.get_finished_spans() if s.attributes.get("gen_ai.operation.name") == "chat"]
    assert sorted(s.attributes["graphwright.node"] for s in chats) == ["planner", "responder"]
    # Each node span names its task; the checkpoint the step started from (one step before) lists that task.
    history = list(app.get_state_history(thread_config("t-trace")))
    started_from = {t.id: s.metadata["step"] for s in history for t in s.tasks}
    for node in ("planner", "tools", "responder", "critic"):
        attributes = got[f"node {node}"][1]
        assert started_from[attributes["langgraph.task_id"]] == attributes["langgraph.step"] - 1
    # One span per run, node, model and tool call: routers, channel writes and inner sequences get none.
    assert len(spans.get_finished_spans()) == 8
    kept = recent_spans("t-trace")
    assert {s["name"] for s in kept} >= {"invoke_agent adder", "node tools"} and recent_spans("other") == []


def test_a_tool_can_keep_its_arguments_and_results_out_of_traces(spans: InMemorySpanExporter) -> None:
    from langchain_core.messages import AIMessage

    from graphwright.nodes import make_executor
    from graphwright.tools import register_tool

    @register_tool(side_effects=False, trace_content=False)
    def lookup_secret(name: str) -> str:
        """Return a secret.

        Args:
            name: which secret.
        """
        return "hunter2"

    call = {"name": "lookup_secret", "args": {"name": "db"}, "id": "c1", "type": "tool_call"}
    from langchain_core.runnables import RunnableLambda

    executor = make_executor([lookup_secret])
    RunnableLambda(executor, name="secrets").invoke({"messages": [AIMessage("", tool_calls=[call])]})
    parent, attributes = tree(spans)["execute_tool lookup_secret"]
    assert parent == "invoke_agent secrets" and attributes["gen_ai.tool.name"] == "lookup_secret"
    assert "gen_ai.tool.call.arguments" not in attributes and "gen_ai.tool.call.result" not in attributes
    assert "hunter2" not in json.dumps([dict(s.attributes) for s in spans.get_finished_spans()])


def test_a_retrieval_is_a_span_inside_its_node(spans: InMemorySpanExporter) -> None:
    from typing import TypedDict

    from langchain_core.messages import HumanMessage
    from langgraph.graph import START, StateGraph

    from graphwright.memory import KnowledgeGraph
    from graphwright.nodes import make_retriever

    class S(TypedDict, total=False):
        messages: list
        context: list

    kg = KnowledgeGraph()
    kg.add("Python", "created by", "Guido van Rossum", source="history")
    graph = StateGraph(S)
    graph.add_node("recall", make_retriever(graph=kg))
    graph.add_edge(START, "recall")
    out = compile_graph(graph).invoke({"messages": [HumanMessage("Who created Python?")]})
    assert out["context"]
    parent, attributes = tree(spans)["retrieval memory"]
    assert parent == "node recall" and attributes["gen_ai.operation.name"] == "retrieval"
    assert attributes["graphwright.documents"] == len(out["context"])


def test_the_service_joins_the_callers_trace(spans: InMemorySpanExporter) -> None:
    from graphwright.service import create_app

    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    client = TestClient(create_app({"adder": slow_assistant()}, auth=False))
    body = {"assistant_id": "adder", "input": {"messages": [{"role": "user", "content": "add 1 and 2"}]}}
    reply = client.post("/runs/wait", json=body, headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    assert reply.status_code == 200, reply.text
    [root] = [s for s in spans.get_finished_spans() if s.attributes.get("gen_ai.operation.name") == "invoke_agent"]
    assert f"{root.context.trace_id:032x}" == trace_id and f"{root.parent.span_id:016x}" == "00f067aa0ba902b7"


def test_a_caller_that_does_not_sample_gets_no_spans_and_no_errors(spans: InMemorySpanExporter, caplog) -> None:
    from opentelemetry import context, trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    unsampled = SpanContext(trace_id=7, span_id=7, is_remote=True, trace_flags=TraceFlags(TraceFlags.DEFAULT))
    token = context.attach(trace.set_span_in_context(NonRecordingSpan(unsampled)))
    try:
        app = compile_graph(slow_assistant(), checkpointer=InMemorySaver())
        out = app.invoke({"messages": [("human", "add 2 and 3")]}, thread_config("t-unsampled"))
    finally:
        context.detach(token)
    assert out["answer"] == "The answer is 5." and spans.get_finished_spans() == ()
    assert not [r for r in caplog.records if "SpanHandler" in r.getMessage()]


def test_an_unknown_destination_is_refused() -> None:
    with pytest.raises(TracingError, match="unknown trace destination 'kafka'"):
        enable_tracing("kafka")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> dict:
    return json.load(urllib.request.urlopen(url, timeout=10))


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory):
    """Arize Phoenix on a free port on 127.0.0.1, its data in a temporary folder; yields its base URL."""
    if importlib.util.find_spec("phoenix") is None:
        require_service("Arize Phoenix", "arize-phoenix is not installed (it is in the dev extra)")
    port = _free_port()
    env = dict(os.environ, PHOENIX_WORKING_DIR=str(tmp_path_factory.mktemp("phoenix")), PHOENIX_PORT=str(port),
               PHOENIX_GRPC_PORT=str(_free_port()), PHOENIX_HOST="127.0.0.1", PHOENIX_TELEMETRY_ENABLED="false")
    log = tmp_path_factory.mktemp("phoenix-log") / "phoenix.log"
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "phoenix.server.main", "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    require_service("Arize Phoenix", log.read_text()[-2000:])
                time.sleep(0.5)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_graphwright_run_with_trace_sends_its_spans_to_a_real_collector(phoenix: str, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(TESTS), HF_HUB_OFFLINE="1", OTEL_EXPORTER_OTLP_ENDPOINT=phoenix)
    env.pop("GRAPHWRIGHT_TRACE", None)
    command = [sys.executable, "-m", "graphwright", "run", "scripted_graphs:slow_assistant", "add 20 and 22",
               "--thread", "traced-1", "--db", str(tmp_path / "runs.sqlite"), "--trace"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == "The answer is 42.", done.stderr
    deadline = time.monotonic() + 30
    while True:
        received = _get(f"{phoenix}/v1/projects/default/spans?limit=100")["data"]
        if len(received) >= 8 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    by_name = {span["name"]: span for span in received}
    assert {"node planner", "node tools", "node responder", "node critic", "execute_tool slow_add"} <= set(by_name)
    [root] = [s for s in received if s["name"].startswith("invoke_agent")]
    assert root["attributes"]["gen_ai.conversation.id"] == "traced-1"
    assert {s["context"]["trace_id"] for s in received} == {root["context"]["trace_id"]}  # one trace
    assert by_name["execute_tool slow_add"]["parent_id"] == by_name["node tools"]["context"]["span_id"]
    assert by_name["execute_tool slow_add"]["attributes"]["gen_ai.tool.call.result"] == "42"


@pytest.mark.model
def test_a_model_call_records_tokens_time_to_first_token_batch_and_grammar(spans, local_chat_model) -> None:
    from graphwright.tools import calculator

    local_chat_model.bind_tools([calculator]).invoke("What is 2 + 3?", max_new_tokens=24)
    [chat] = [s for s in spans.get_finished_spans() if s.attributes.get("gen_ai.operation.name") == "chat"]
    attributes = dict(chat.attributes)
    assert attributes["gen_ai.usage.input_tokens"] > 50 and attributes["gen_ai.usage.output_tokens"] > 0
    assert 0 < attributes["gen_ai.response.time_to_first_chunk"] <= (chat.end_time - chat.start_time) / 1e9
    assert attributes["graphwright.batch_size"] == 1 and attributes["graphwright.grammar"] == "tool_calls"
    assert attributes["gen_ai.tool.definitions"] == '["calculator"]'
