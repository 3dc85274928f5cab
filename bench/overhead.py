"""What graphwright adds to each step over raw LangGraph: the same reason-act loop both ways, per checkpointer.

The graph: a scripted chat model (no sleeps, no model) that calls an `add` tool until it has made N calls, then
answers; a tools node runs each call. `raw` is that loop written directly on LangGraph (`StateGraph`, a node
calling the model, `langgraph.prebuilt.ToolNode`, `tools_condition`, LangGraph's own savers). `graphwright` is
`build_react` with the same model and tool compiled by `compile_graph` on `open_checkpointer`'s saver: the
planner node, metered nodes (the budget's usage counting), the executor (policy checks, timeouts) and, for
the `ledger` variant, the tool registered with side effects, so every call is recorded in the side-effect ledger
beside the checkpointer. Every run streams with durability "sync", as `graphwright run` does. A step is one
model call and one tool call (two super-steps in both graphs).

For each checkpointer (memory, SQLite in a temporary folder, Postgres at $GRAPHWRIGHT_TEST_POSTGRES when it
answers) and each run length (10 and 100 steps), each variant runs `--repeat` times, interleaved; the table
shows the median per-step wall time and this process's CPU time per step (robust to other load on a shared
machine; it leaves out the Postgres server's work), each with its ratio to raw. A per-step cost that grows with
the run's length shows as a 100-step figure above the 10-step one.

    .venv/bin/python bench/overhead.py [--steps 10,100] [--repeat 5] [--backends memory,sqlite,postgres]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from langchain_core.language_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage, ToolMessage  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatResult  # noqa: E402
from langchain_core.tools import tool  # noqa: E402
from langgraph.graph import START, MessagesState, StateGraph  # noqa: E402
from langgraph.prebuilt import ToolNode, tools_condition  # noqa: E402

from graphwright.graphs import ReactOptions, build_react, compile_graph  # noqa: E402
from graphwright.memory import open_checkpointer  # noqa: E402
from graphwright.nodes import Budget  # noqa: E402
from graphwright.tools import register_tool  # noqa: E402

POSTGRES = os.environ.get("GRAPHWRIGHT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


class Scripted(BaseChatModel):
    """Calls `add` until the conversation holds `steps` tool results, then answers; reports fixed usage."""

    steps: int = 10

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Scripted:
        return self

    def _generate(self, messages: list, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        done = sum(isinstance(m, ToolMessage) for m in messages)
        if done < self.steps:
            reply = AIMessage("", tool_calls=[{"name": "add", "args": {"a": done, "b": 1}, "id": f"call-{done}"}])
        else:
            reply = AIMessage(f"Done after {done} calls.")
        reply.usage_metadata = {"input_tokens": 20, "output_tokens": 8, "total_tokens": 28}
        return ChatResult(generations=[ChatGeneration(message=reply)])


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: first addend.
        b: second addend.
    """
    return a + b


READ_ONLY = tool(add)
RECORDED = register_tool(side_effects=True)(add)


def raw_graph(model: Scripted) -> StateGraph:
    """The loop on LangGraph alone."""

    def agent(state: MessagesState) -> dict:
        return {"messages": [model.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    graph.add_node("tools", ToolNode([READ_ONLY]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph


def graphwright_graph(model: Scripted, recorded: bool) -> StateGraph:
    """The same loop as graphwright's react graph, with a budget the run stays under."""
    options = ReactOptions(budget=Budget(model_calls=10_000, tokens=10**9))
    return build_react(model, tools=[RECORDED if recorded else READ_ONLY], options=options)


VARIANTS = {
    "raw": lambda model: raw_graph(model),
    "graphwright": lambda model: graphwright_graph(model, recorded=False),
    "gw+ledger": lambda model: graphwright_graph(model, recorded=True),
}


def run_once(variant: str, steps: int, target: str) -> tuple[float, float]:
    """(Wall seconds, CPU seconds of this process) per step of one run of `steps` steps on a fresh thread."""
    model = Scripted(steps=steps)
    builder = VARIANTS[variant](model)
    if variant == "raw":
        saver_context = _raw_saver(target)
    else:
        saver_context = open_checkpointer(target)
    with saver_context as saver:
        graph = compile_graph(builder, checkpointer=saver) if variant != "raw" else builder.compile(checkpointer=saver)
        config = {"configurable": {"thread_id": f"bench-{uuid.uuid4().hex[:12]}"}}
        started, cpu = time.perf_counter(), time.process_time()
        for _ in graph.stream({"messages": [("human", "Add up.")]}, config, stream_mode="updates", durability="sync"):
            pass
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        messages = graph.get_state(config).values["messages"]
    tools = sum(isinstance(m, ToolMessage) for m in messages)
    if tools != steps:
        raise SystemExit(f"{variant}: {tools} tool calls instead of {steps}")
    return seconds / steps, cpu / steps


def _raw_saver(target: str) -> Any:
    """LangGraph's own saver for `target`, set up as its docs show."""
    from contextlib import contextmanager

    @contextmanager
    def opened():
        if target == ":memory:":
            from langgraph.checkpoint.memory import InMemorySaver

            yield InMemorySaver()
        elif target.startswith("postgresql://"):
            from langgraph.checkpoint.postgres import PostgresSaver

            with PostgresSaver.from_conn_string(target) as saver:
                saver.setup()
                yield saver
        else:
            from langgraph.checkpoint.sqlite import SqliteSaver

            with SqliteSaver.from_conn_string(target) as saver:
                yield saver

    return opened()


def _postgres_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(POSTGRES, connect_timeout=3) as conn:
            conn.execute("select 1")
        return True
    except Exception as exc:  # noqa: BLE001 - any failure means: skip this backend
        print(f"postgres: unreachable ({str(exc).strip()[:120]}); skipped", file=sys.stderr)
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="10,100", help="run lengths, comma-separated")
    parser.add_argument("--repeat", type=int, default=5, help="runs per variant and length; the table shows medians")
    parser.add_argument("--backends", default="memory,sqlite,postgres")
    args = parser.parse_args()
    lengths = [int(x) for x in args.steps.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="gw-overhead-"))
    targets = {"memory": ":memory:", "sqlite": str(folder / "checkpoints.sqlite"), "postgres": POSTGRES}
    backends = [b for b in args.backends.split(",") if b != "postgres" or _postgres_reachable()]
    for variant in VARIANTS:  # warm-up: imports, first compile, table setup
        for backend in backends:
            run_once(variant, 2, targets[backend])
    print(f"{'checkpointer':12} {'steps':>5} {'variant':12} {'ms/step':>8} {'min':>7} {'x raw':>6} {'cpu ms/step':>11} {'x raw':>6}")
    for backend in backends:
        for steps in lengths:
            times: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
            for _ in range(args.repeat):  # interleaved, so drifting machine load hits every variant alike
                for variant in VARIANTS:
                    times[variant].append(run_once(variant, steps, targets[backend]))
            raw = statistics.median(w for w, _ in times["raw"])
            raw_cpu = statistics.median(c for _, c in times["raw"])
            for variant, values in times.items():
                median, cpu = statistics.median(w for w, _ in values), statistics.median(c for _, c in values)
                print(f"{backend:12} {steps:5d} {variant:12} {median * 1000:8.2f} {min(w for w, _ in values) * 1000:7.2f} "
                      f"{median / raw:6.2f} {cpu * 1000:11.2f} {cpu / raw_cpu:6.2f}", flush=True)


if __name__ == "__main__":
    main()
