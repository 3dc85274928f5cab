"""The tool executor node: checks, approves and runs the planner's tool calls, and never repeats a side effect.

For the last AI message's calls, in order: an unparseable call, an unknown tool, a call the `ToolPolicy` refuses
or arguments that do not match the tool's schema each get an error `ToolMessage` telling the model what to fix
(nothing runs). Calls to tools that need approval then `interrupt()` with the call, one at a time, before
anything runs (a resumed node starts over, so nothing may have run before an interrupt). The calls left run
with the tool's timeout: read-only calls in parallel, side-effecting calls one after another in the order the
model gave them (a later one may depend on an earlier one's effect), each recorded in the side-effect ledger.
One reply may hold several calls; two calls that share an id (a model that repeats one, or an id-less call
numbered into a real one's id) are still two calls, each run and answered in order: calls are keyed by their
position in the reply and a hash of their content (`call_key`), never by id alone.
Text a tool returns is data, not instructions: once output of an `untrusted_output` tool is in the messages
(its answers carry `UNTRUSTED_MARK`), every side-effecting call, and every call of a tool never registered
(its effects unknown), goes through `ToolPolicy.after_untrusted` (by default a human approves it), so injected text
cannot get a side effect run on its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.types import interrupt

from ..tools import (
    UNTRUSTED_MARK,
    ToolLedger,
    ToolMeta,
    ToolPolicy,
    ledger_for,
    tool_meta,
    untrusted_source,
    validation_problem,
)

EXECUTOR_WRITES = frozenset({"messages"})
"""The state keys an executor node writes."""

APPROVAL = "tool_approval"
"""The `type` of the value an approval interrupt carries (see `make_executor`)."""

_CHECKPOINTER_KEY = "__pregel_checkpointer"  # where LangGraph puts the run's checkpointer in a node's config
_DURABILITY_KEY = "__pregel_durability"  # and the run's durability mode ("sync", "async" or "exit")


@dataclass(frozen=True)
class ExecutorOptions:
    """Bounds of one executor step."""

    max_output_chars: int = 4000
    """Characters of a tool's output kept in its message; the rest is cut and the cut is marked."""
    max_parallel: int = 4
    """Calls run at the same time (read-only calls run in parallel; side-effecting calls in order)."""


@dataclass(frozen=True)
class _Ready:
    index: int
    tool: BaseTool
    meta: ToolMeta
    call: dict[str, Any]
    key_id: str
    """The call's part of its idempotency key (see `call_key`)."""


def make_executor(
    tools: Sequence[BaseTool],
    *,
    policy: ToolPolicy = ToolPolicy(),
    options: ExecutorOptions = ExecutorOptions(),
    ledger: ToolLedger | None = None,
) -> Callable[[dict[str, Any], RunnableConfig], dict[str, Any]]:
    """Return a node that runs the tool calls in the last AI message and answers each with a `ToolMessage`.

    Reads: `messages` (the last one, an AI message with `tool_calls` and maybe `invalid_tool_calls`). Writes:
    `messages` (one tool message per call, in the order of the calls; errors have `status="error"`).

    A tool whose `ToolMeta.needs_approval` is set interrupts the run with `{"type": "tool_approval", "tool",
    "args", "id", "description"}`; resume with `Command(resume=...)` carrying `"approve"`, `"reject"`,
    `{"action": "reject", "reason": ...}` or `{"action": "edit", "args": {...}}` (edited arguments are checked
    against the schema again). Anything else is treated as a rejection: an unclear answer never runs a tool.

    Args:
        tools: the tools the model was given.
        policy: which of them this agent may call (see `ToolPolicy`).
        options: output and parallelism bounds.
        ledger: where side-effecting calls are recorded; None uses the ledger beside the run's checkpointer
            (see `graphwright.tools.ledger_for`), or none when the graph has no checkpointer.

    Example:
        >>> from graphwright.tools import calculator
        >>> node = make_executor([calculator])
        >>> call = {"name": "calculator", "args": {"expression": "6*7"}, "id": "c1", "type": "tool_call"}
        >>> node({"messages": [AIMessage("", tool_calls=[call])]}, {})["messages"][0].content
        '42'
    """
    by_name = {tool.name: tool for tool in tools}

    def executor(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        messages = state.get("messages") or []
        last = messages[-1] if messages else None
        if not isinstance(last, AIMessage):
            return {"messages": []}
        answers: dict[int, ToolMessage] = {}
        ready: list[_Ready] = []
        tainted = untrusted_source(messages, {name: tool_meta(tool) for name, tool in by_name.items()})
        for index, bad in enumerate(last.invalid_tool_calls):
            answers[-1 - index] = _error(
                bad.get("id") or f"invalid-{index}",
                bad.get("name") or "invalid_tool_call",
                f"Your tool call could not be used: {bad.get('error') or 'it is malformed'}. "
                f"Call the tool again with a JSON object of arguments. You wrote: {_clip(bad.get('args'), 300)}",
            )
        for index, call in enumerate(last.tool_calls):
            key_id = call_key(index, call)  # from the call as the model wrote it, before any approval edit
            call = dict(call)
            call["id"] = call.get("id") or f"call-{index}"
            problem, tool = _check(call, by_name, policy)
            if problem is None and tainted is not None and ToolPolicy.gates(tool_meta(tool)):
                problem, call = _after_untrusted(call, tool, policy, tainted)
            elif problem is None and tool_meta(tool).needs_approval:
                problem, call = _ask_approval(call, tool)
            if problem is not None:
                answers[index] = _error(call["id"], call["name"], problem)
            else:
                ready.append(_Ready(index, tool, tool_meta(tool), call, key_id))
        if ready:
            run_ledger = ledger if ledger is not None else ledger_for(_configurable(config).get(_CHECKPOINTER_KEY))
            if any(item.meta.side_effects for item in ready):
                if run_ledger is not None:
                    _await_checkpoint(config)
                elif _configurable(config).get(_CHECKPOINTER_KEY) is not None:
                    warnings.warn(
                        f"no side-effect ledger for {type(_configurable(config)[_CHECKPOINTER_KEY]).__name__}: "
                        "side-effecting calls may repeat after a resume; pass `ledger=` to make_executor",
                        RuntimeWarning,
                        stacklevel=2,
                    )
            answers.update(_run_all(ready, run_ledger, _run_key(config), options, (config or {}).get("callbacks")))
        ordered = [answers[k] for k in sorted(a for a in answers if a < 0)[::-1]]
        ordered += [answers[k] for k in sorted(a for a in answers if a >= 0)]
        return {"messages": ordered}

    return executor


def call_key(index: int, call: dict[str, Any]) -> str:
    """Return the part of a call's idempotency key that tells it from every other call of the same reply.

    It is `index:id:digest`: the call's position in the reply, its id (empty when it has none) and a hash of
    its name, arguments and id. The position alone keeps two calls of one reply apart even when a model gave
    both the same id (or an id-less call was numbered into a real call's id); the digest keeps a changed call
    at the same position from being taken for the recorded one. Resuming from the same checkpoint replays the
    same reply, so the key comes out the same and the ledger recognises the call.

    Example:
        >>> a = call_key(0, {"name": "pay", "args": {"to": "bo"}, "id": "c1"})
        >>> b = call_key(1, {"name": "pay", "args": {"to": "al"}, "id": "c1"})
        >>> a.split(":")[:2], b.split(":")[:2], a == call_key(0, {"name": "pay", "args": {"to": "bo"}, "id": "c1"})
        (['0', 'c1'], ['1', 'c1'], True)
    """
    call_id = str(call.get("id") or "")
    body = json.dumps([call.get("name"), call.get("args"), call_id], sort_keys=True, default=str)
    return f"{index}:{call_id}:{hashlib.sha256(body.encode()).hexdigest()[:12]}"


def distinct_call_ids(reply: AIMessage) -> AIMessage:
    """Return `reply` with an id on each tool call that no other call of the reply has (itself if it had).

    A model may repeat an id or leave one out; each call is then renamed `call-N` or `ID-N` (N its position),
    so every call gets its own `ToolMessage` answer that a chat template can pair with it.

    Example:
        >>> calls = [{"name": "f", "args": {}, "id": i, "type": "tool_call"} for i in ("a", "a", None)]
        >>> [c["id"] for c in distinct_call_ids(AIMessage("", tool_calls=calls)).tool_calls]
        ['a', 'a-1', 'call-2']
    """
    ids = [call.get("id") for call in reply.tool_calls]
    if all(ids) and len(set(ids)) == len(ids):
        return reply
    taken = {i for i in ids if i}
    seen: set[str] = set()
    calls = []
    for index, call in enumerate(reply.tool_calls):
        new_id = call.get("id")
        if not new_id or new_id in seen:
            base = f"{new_id}-{index}" if new_id else f"call-{index}"
            new_id, n = base, 0
            while new_id in taken or new_id in seen:
                n += 1
                new_id = f"{base}.{n}"
        seen.add(new_id)
        calls.append({**call, "id": new_id})
    return reply.model_copy(update={"tool_calls": calls})


def _check(call: dict[str, Any], by_name: dict[str, BaseTool], policy: ToolPolicy) -> tuple[str | None, Any]:
    tool = by_name.get(call["name"])
    if tool is None:
        return f"There is no tool named {call['name']!r}. Available tools: {', '.join(sorted(by_name))}.", None
    refusal = policy.refusal(tool.name, tool_meta(tool))
    if refusal is not None:
        return f"Refused: {refusal}. The call was not executed.", tool
    return validation_problem(tool, call.get("args")), tool


def _after_untrusted(
    call: dict[str, Any], tool: BaseTool, policy: ToolPolicy, source: str
) -> tuple[str | None, dict[str, Any]]:
    """A side-effecting call made after untrusted output (from tool `source`): as `policy.after_untrusted` says."""
    if policy.after_untrusted == "allow":
        return (None, call) if not tool_meta(tool).needs_approval else _ask_approval(call, tool)
    reason = f"it follows output of {source!r}, which others wrote and may carry instructions"
    if policy.after_untrusted == "refuse":
        changes = "changes things" if tool_meta(tool).side_effects else "may change things (it is not registered)"
        return f"Refused: {call['name']!r} {changes} and {reason}. The call was not executed.", call
    return _ask_approval(call, tool, reason)


def _ask_approval(call: dict[str, Any], tool: BaseTool, reason: str | None = None) -> tuple[str | None, dict[str, Any]]:
    request = {"type": APPROVAL, "tool": call["name"], "args": call["args"], "id": call["id"]}
    request["description"] = tool.description
    if reason is not None:
        request["reason"] = reason
    answer = interrupt(request)
    action = answer.get("action") if isinstance(answer, dict) else answer
    if action == "approve":
        return None, call
    if action == "edit" and isinstance(answer, dict) and "args" in answer:
        edited = {**call, "args": answer["args"]}
        return validation_problem(tool, answer["args"]), edited
    if action == "reject":
        reason = answer.get("reason") if isinstance(answer, dict) else None
        return f"A human rejected this call{': ' + reason if reason else ''}. It was not executed.", call
    return f"The approval answer {_clip(answer, 80)} was not understood, so the call was not executed.", call


def _run_all(
    ready: list[_Ready], ledger: ToolLedger | None, run_key: str, options: ExecutorOptions, callbacks: Any = None
) -> dict[int, ToolMessage]:
    side_effecting = [r for r in ready if r.meta.side_effects]
    jobs: list[list[_Ready]] = [[r] for r in ready if not r.meta.side_effects]
    if side_effecting:
        jobs.append(side_effecting)
    results: dict[int, ToolMessage] = {}

    def run_job(job: list[_Ready]) -> None:
        for item in job:
            results[item.index] = _run_one(item, ledger, run_key, options, callbacks)

    if len(jobs) == 1:  # one job (the usual single call): no pool thread to start and join
        run_job(jobs[0])
        return results
    with ThreadPoolExecutor(max_workers=max(1, min(options.max_parallel, len(jobs)))) as pool:
        for future in [pool.submit(run_job, job) for job in jobs]:
            future.result()
    return results


def _run_one(
    item: _Ready, ledger: ToolLedger | None, run_key: str, options: ExecutorOptions, callbacks: Any = None
) -> ToolMessage:
    call_id, name = item.call["id"], item.call["name"]
    key = f"{run_key}|{item.key_id}"  # the idempotency key: (thread, checkpoint, call in its reply)
    record = ledger is not None and item.meta.side_effects
    if record:
        entry = ledger.lookup(key)
        if entry is not None and entry.status == "done":
            status = "error" if entry.is_error else "success"
            return ToolMessage(entry.content or "", tool_call_id=call_id, name=name, status=status, **_mark(item.meta))
        if entry is not None:
            return _error(
                call_id,
                name,
                "This call was started before the run was interrupted and its outcome is unknown; "
                "it was not repeated, to avoid doing it twice.",
            )
        ledger.start(key, name, json.dumps(item.call["args"], sort_keys=True, default=str))
    text, failed = _invoke(item.tool, item.call, item.meta.timeout, key if item.meta.side_effects else None, callbacks)
    text = _cap(text, options.max_output_chars)
    if record:
        ledger.finish(key, text, is_error=failed)
    return ToolMessage(text, tool_call_id=call_id, name=name, status="error" if failed else "success", **_mark(item.meta))


def _mark(meta: ToolMeta) -> dict[str, Any]:
    """The keyword that marks a tool's answer untrusted (see `UNTRUSTED_MARK`), for a tool that returns others' text."""
    return {"response_metadata": {UNTRUSTED_MARK: True}} if meta.untrusted_output else {}


def _invoke(
    tool: BaseTool, call: dict[str, Any], timeout: float, key: str | None, callbacks: Any = None
) -> tuple[str, bool]:
    """Run one call in a daemon thread; return (text, failed). A call past `timeout` is abandoned.

    A side-effecting call gets its idempotency `key` as `configurable["idempotency_key"]` in the run config
    (a tool sees it through a parameter typed `RunnableConfig`). `callbacks` are the node's, so the call is
    reported (to tracers) as a run inside the node even though it runs in a thread of its own.
    """
    outcome: dict[str, Any] = {}
    tool_call = {"name": call["name"], "args": call["args"], "id": call["id"], "type": "tool_call"}
    run_config: RunnableConfig = {"configurable": {"idempotency_key": key}} if key else {}
    if callbacks is not None:
        run_config["callbacks"] = callbacks

    def target() -> None:
        try:
            if getattr(tool, "func", True) is None and getattr(tool, "coroutine", None) is not None:
                outcome["message"] = asyncio.run(tool.ainvoke(tool_call, run_config))
            else:
                outcome["message"] = tool.invoke(tool_call, run_config)
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a message to the model
            outcome["error"] = exc

    worker = threading.Thread(target=target, name=f"tool-{call['name']}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        return f"Error: tool {call['name']!r} timed out after {timeout:g} s and was abandoned.", True
    if "error" in outcome:
        exc = outcome["error"]
        return f"Error: {type(exc).__name__}: {exc}", True
    message = outcome.get("message")
    if isinstance(message, ToolMessage):
        return _text(message.content), message.status == "error"
    return _text(message), False


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return "\n".join(p.get("text", "") for p in content)
    return json.dumps(content, default=str)


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… [output cut: {len(text) - limit} more characters]"




def _error(call_id: str, name: str, text: str) -> ToolMessage:
    return ToolMessage(text, tool_call_id=call_id, name=name, status="error")


def _configurable(config: RunnableConfig | None) -> dict[str, Any]:
    return dict((config or {}).get("configurable") or {})


def _step_checkpoint(conf: dict[str, Any]) -> tuple[str, str | None]:
    """(namespace of the graph running this node, id of the checkpoint this step runs from)."""
    namespace = str(conf.get("checkpoint_ns") or "")
    graph_ns = namespace.rsplit("|", 1)[0] if "|" in namespace else ""
    return graph_ns, (conf.get("checkpoint_map") or {}).get(graph_ns) or conf.get("checkpoint_id")


def _run_key(config: RunnableConfig | None) -> str:
    """`thread|checkpoint` for the step being run: the same when the step is resumed or replayed."""
    conf = _configurable(config)
    checkpoint = _step_checkpoint(conf)[1] or str(conf.get("checkpoint_ns") or "")
    return f"{conf.get('thread_id', '')}|{checkpoint}"


def _await_checkpoint(config: RunnableConfig | None, timeout: float = 30.0) -> None:
    """Wait until the checkpoint this step runs from is saved, so a side effect's key outlives a crash.

    LangGraph saves checkpoints in the background by default (durability "async"): a step can start before
    the checkpoint it runs from is on disk. A crash then would resume from an older checkpoint, the call
    would get a new key, and its side effect would be repeated. With durability "sync" LangGraph saved it
    before the step started, and reading it back costs a decode of the whole state (which grows with the run),
    so there is no wait; with "exit" nothing is saved before the end, so there is nothing to wait for (and no
    exactly-once across crashes).
    """
    conf = _configurable(config)
    saver = conf.get(_CHECKPOINTER_KEY)
    graph_ns, checkpoint_id = _step_checkpoint(conf)
    if saver is None or checkpoint_id is None or conf.get(_DURABILITY_KEY) in ("sync", "exit"):
        return
    target = {"configurable": {"thread_id": conf.get("thread_id"), "checkpoint_ns": graph_ns, "checkpoint_id": checkpoint_id}}
    deadline = time.monotonic() + timeout
    try:
        while saver.get_tuple(target) is None and time.monotonic() < deadline:
            time.sleep(0.01)
    except Exception:  # noqa: BLE001 - a saver that cannot be read from here (e.g. async-only) is not waited on
        return


def _clip(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
