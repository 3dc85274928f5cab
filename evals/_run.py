"""Running a task set through a graph: concurrently, each task on its own checkpointed thread, resumably.

Everything a run writes goes into one folder: `eval.json` (which graph and tasks), `checkpoints.sqlite` (every
task's thread, for `graphwright history --db ... --thread ...`), and `results.jsonl`, one line per finished
task, flushed to disk as it finishes. Run again into the same folder and the tasks already in
`results.jsonl` are not run again; a task that was cut off mid-run starts over on a new thread, so its
timings and counts describe one whole run.

Tasks run in a thread pool. Through `ChatLocal`, whose scheduler batches the model calls of concurrent
threads, concurrent tasks decode in one batch.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.outputs import LLMResult
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.errors import GraphBubbleUp
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel

from ..errors import EvalReportError, TaskFileError
from ._checkers import Outcome
from ._jsonl import JsonlAppender, read_jsonl, write_text_atomic
from ._tasks import Task, thread_id_for

RESULTS = "results.jsonl"
"""The file in an eval folder that holds one JSON line per finished task."""
CHECKPOINTS = "checkpoints.sqlite"
"""The SQLite checkpoint file in an eval folder."""
META = "eval.json"
"""The file in an eval folder that says which graph and tasks its results belong to."""

GraphFor = Callable[[tuple[Mapping[str, Any], ...]], StateGraph | Pregel]
"""Builds the graph to run for tasks that bring these tools (an empty tuple for most tasks)."""


class RunRecorder(BaseCallbackHandler):
    """A callback for one graph run: each node's runs, time and failures, and the model calls and tokens.

    A node run is a direct child of the graph's run carrying LangGraph's `langgraph_node` metadata (the calls
    a node makes inside, nested graphs included, are counted for it, not as nodes). A node fails when it
    raises (an interrupt waiting for input is not a failure) or returns a tool result marked as an error.
    Tokens come from each reply's `usage_metadata`; `calls_without_usage` counts replies that had none.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._root: Any = None
        self._open: dict[Any, tuple[str, float]] = {}
        self.nodes: dict[str, dict[str, float]] = {}
        """Per node: `runs`, `seconds` and `errors`."""
        self.model_calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.calls_without_usage = 0

    def on_chain_start(
        self,
        serialized: Any,
        inputs: Any,
        *,
        run_id: Any,
        parent_run_id: Any = None,
        metadata: Any = None,
        **kwargs: Any,
    ) -> None:
        """Start timing a node run (or note the graph's own run)."""
        with self._lock:
            if parent_run_id is None and self._root is None:
                self._root = run_id
            elif parent_run_id == self._root and (metadata or {}).get("langgraph_node"):
                self._open[run_id] = (str(metadata["langgraph_node"]), time.perf_counter())

    def on_chain_end(self, outputs: Any, *, run_id: Any, **kwargs: Any) -> None:
        """Finish a node run; it failed if it returned a tool result marked as an error."""
        messages = outputs.get("messages") if isinstance(outputs, dict) else None
        failed = any(isinstance(m, ToolMessage) and m.status == "error" for m in messages or [])
        self._close(run_id, failed)

    def on_chain_error(self, error: BaseException, *, run_id: Any, **kwargs: Any) -> None:
        """Finish a node run that raised (an interrupt is not a failure)."""
        self._close(run_id, not isinstance(error, GraphBubbleUp))

    def _close(self, run_id: Any, failed: bool) -> None:
        with self._lock:
            opened = self._open.pop(run_id, None)
            if opened is None:
                return
            node, started = opened
            stats = self.nodes.setdefault(node, {"runs": 0, "seconds": 0.0, "errors": 0})
            stats["runs"] += 1
            stats["seconds"] += time.perf_counter() - started
            stats["errors"] += int(failed)

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        """Count one model call and the tokens its reply reports."""
        with self._lock:
            self.model_calls += 1
            for generations in response.generations:
                for generation in generations:
                    usage = getattr(getattr(generation, "message", None), "usage_metadata", None)
                    if usage:
                        self.prompt_tokens += int(usage.get("input_tokens") or 0)
                        self.completion_tokens += int(usage.get("output_tokens") or 0)
                    else:
                        self.calls_without_usage += 1

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        """Count a model call that failed."""
        with self._lock:
            self.model_calls += 1


def outcome_of(state: Any) -> Outcome:
    """Return what a run produced: the state's `answer` (else the last AI message's text) and its tool calls.

    Example:
        >>> from langchain_core.messages import AIMessage, HumanMessage
        >>> calls = [{"name": "calculator", "args": {"expression": "6*7"}, "id": "c1"}]
        >>> state = {"messages": [HumanMessage("6*7?"), AIMessage("", tool_calls=calls), AIMessage("42")]}
        >>> outcome = outcome_of(state)
        >>> outcome.answer, outcome.tool_calls
        ('42', ({'name': 'calculator', 'args': {'expression': '6*7'}},))
    """
    if not isinstance(state, Mapping):
        return Outcome(answer="" if state is None else str(state))
    messages = [m for m in state.get("messages") or [] if isinstance(m, AIMessage)]
    answer = state.get("answer")
    if not isinstance(answer, str) or not answer.strip():
        answer = next((m.text for m in reversed(messages) if not m.tool_calls and m.text.strip()), "")
    calls = tuple({"name": c["name"], "args": dict(c["args"])} for m in messages for c in m.tool_calls)
    return Outcome(answer=answer, tool_calls=calls, state=state)


def stub_tools(tools: Sequence[Mapping[str, Any]]) -> list[BaseTool]:
    """Return tools with the schemas of OpenAI-style `tools` that do nothing but say the call was recorded.

    For tasks that check which calls a model makes (BFCL), not what the functions would have returned.

    Example:
        >>> spec = {"type": "function", "function": {"name": "area", "description": "Area.", "parameters":
        ...     {"type": "object", "properties": {"side": {"type": "number"}}, "required": ["side"]}}}
        >>> stub_tools([spec])[0].invoke({"side": 2})
        'area was called with {"side": 2} (an evaluation stub: no result).'
    """
    made = []
    for spec in tools:
        function = spec.get("function", spec)
        name = function["name"]

        def record(_name: str = name, **kwargs: Any) -> str:
            return f"{_name} was called with {json.dumps(kwargs, sort_keys=True)} (an evaluation stub: no result)."

        made.append(
            StructuredTool(
                name=name,
                description=function.get("description") or name,
                args_schema=dict(function.get("parameters") or {"type": "object", "properties": {}}),
                func=record,
            )
        )
    return made


def previous_results(out: Path) -> dict[str, dict[str, Any]]:
    """Return the finished results already in eval folder `out`, by task id (the latest line wins)."""
    path = out / RESULTS
    if not path.exists():
        return {}
    found: dict[str, dict[str, Any]] = {}
    try:
        for _, record in read_jsonl(path, skip_partial=True):
            if isinstance(record, dict) and "id" in record:
                found[str(record["id"])] = record
    except TaskFileError as exc:
        raise EvalReportError(f"cannot read the results in {path}: {exc}") from exc
    return found


def run_eval(
    tasks: Sequence[Task],
    graph_for: GraphFor,
    out: Path,
    *,
    label: str,
    concurrency: int = 4,
    recursion_limit: int = 50,
    on_result: Callable[[dict[str, Any], int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every task not yet finished in `out` and return all tasks' results, in task order.

    Args:
        tasks: the tasks (see `load_tasks`).
        graph_for: builds the graph for a task's tools (`()` for tasks without their own tools).
        out: the eval folder (created if missing); results already in it for an unchanged task are reused.
        label: names the graph; a folder holding results of another graph is refused.
        concurrency: tasks run at the same time.
        recursion_limit: super-steps allowed per task run.
        on_result: called as `on_result(result, finished, total)` after each task finishes (for progress).

    Returns:
        One result dict per task: `id`, `ok`, `answer`, `error`, `seconds`, `model_calls`, `prompt_tokens`,
        `completion_tokens`, `steps`, `nodes` (per node `runs`, `seconds`, `errors`), `tool_calls`, `thread_id`.

    Raises:
        EvalReportError: `out` holds results of another graph, or its results file is unreadable.
    """
    from ..graphs import compile_graph
    from ..memory import open_checkpointer

    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    out.mkdir(parents=True, exist_ok=True)
    claim_folder(out, label)
    done = previous_results(out)
    finished = {t.id: done[t.id] for t in tasks if t.id in done and done[t.id].get("key") == t.key()}
    pending = [t for t in tasks if t.id not in finished]
    total, count = len(tasks), len(finished)
    appender = JsonlAppender(out / RESULTS)
    try:
        with open_checkpointer(out / CHECKPOINTS) as saver:
            graphs: dict[str, Any] = {}
            for task in pending:
                key = json.dumps(task.tools, sort_keys=True)
                if key not in graphs:
                    graphs[key] = compile_graph(graph_for(task.tools), checkpointer=saver)
            pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="eval")
            try:
                futures: set[Future[dict[str, Any]]] = {
                    pool.submit(_run_one, task, graphs[json.dumps(task.tools, sort_keys=True)], recursion_limit)
                    for task in pending
                }
                while futures:
                    complete, futures = wait(futures, return_when=FIRST_COMPLETED)
                    for future in complete:
                        result = future.result()
                        appender.append(result)
                        finished[result["id"]] = result
                        count += 1
                        if on_result is not None:
                            on_result(result, count, total)
            except BaseException:  # Ctrl-C, or a failure: tasks not started are dropped, running ones finish first,
                # as they still use the checkpointer that closes next (SQLite closed under a running query crashed
                # the process); their results are not recorded, so a resumed eval runs them again
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
    finally:
        appender.close()
    return [finished[t.id] for t in tasks]


def claim_folder(out: Path, label: str) -> None:
    """Mark eval folder `out` as graph `label`'s (writing `eval.json`), or refuse one that holds another graph's.

    Raises:
        EvalReportError: `out` belongs to another graph, or its `eval.json` is unreadable.
    """
    meta = out / META
    if meta.exists():
        try:
            owner = json.loads(meta.read_text()).get("graph")
        except (OSError, ValueError, AttributeError) as exc:
            raise EvalReportError(f"{meta} is not an eval folder's description: {exc}") from exc
        if owner != label:
            raise EvalReportError(
                f"{out} holds results of graph {owner!r}, not {label!r}: use another --out folder (or delete it)"
            )
        return
    write_text_atomic(meta, json.dumps({"graph": label}, indent=1) + "\n")


def continue_thread(graph: Any, run_input: Any, config: Any, **kwargs: Any) -> Any:
    """Run compiled `graph` on `config`'s thread to its end and return the final state: from `run_input` on a
    thread with no checkpoint, from the last checkpoint on one that stopped mid-run (its process died), and not at
    all on one that already finished (its result was lost, not its run). `kwargs` go to `invoke`."""
    snapshot = graph.get_state(config)
    if snapshot.created_at is None:
        return graph.invoke(run_input, config, **kwargs)
    if snapshot.next or snapshot.tasks:  # `tasks` alone: a step whose writes were saved, not the checkpoint after it
        return graph.invoke(None, config, **kwargs)
    return snapshot.values


def _run_one(task: Task, graph: Any, recursion_limit: int, thread: str | None = None) -> dict[str, Any]:
    """Run `task` on a new thread, or on `thread`, continued where it stopped (see `continue_thread`)."""
    from ..graphs import thread_config

    recorder = RunRecorder()
    config = thread_config(thread or thread_id_for(task, uuid.uuid4().hex[:8]), recursion_limit=recursion_limit)
    config["callbacks"] = [recorder]
    error: str | None = None
    state: Any = {}
    started = time.perf_counter()
    try:
        if thread is None:
            state = graph.invoke(task.graph_input(), config)
        else:  # each step on disk before the next starts: a killed run resumes from the step it was in
            state = continue_thread(graph, task.graph_input(), config, durability="sync")
        waiting = graph.get_state(config).next
        if waiting:
            error = f"stopped before {', '.join(waiting)}: an interrupt waits for input"
    except Exception as exc:  # a failed run is a failed task, recorded; the eval goes on
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - started
    outcome = outcome_of(state)
    ok = False
    if error is None:
        try:
            ok = bool(task.check(outcome))
        except Exception as exc:  # a predicate that raises fails its task, visibly
            error = f"checker {task.check.spec()} raised {type(exc).__name__}: {exc}"
    return {
        "id": task.id,
        "key": task.key(),
        "ok": ok,
        "answer": outcome.answer,
        "error": error,
        "seconds": round(seconds, 4),
        "model_calls": recorder.model_calls,
        "prompt_tokens": recorder.prompt_tokens,
        "completion_tokens": recorder.completion_tokens,
        "calls_without_usage": recorder.calls_without_usage,
        "steps": int(sum(n["runs"] for n in recorder.nodes.values())),
        "nodes": {name: {**stats, "seconds": round(stats["seconds"], 4)} for name, stats in recorder.nodes.items()},
        "tool_calls": [dict(c) for c in outcome.tool_calls],
        "verdict": state.get("verdict") if isinstance(state, Mapping) else None,
        "thread_id": config["configurable"]["thread_id"],
    }
