"""Executing runs: one asyncio task per run, its events fanned out to any number of listeners.

A run claims its thread (atomically, in the shared records), streams the graph, and records how it ended:
`success`, `error`, `timeout` (over `ServiceOptions.run_timeout`) or `interrupted` (cancelled). Listeners
replay the run's events from the start, so a client that joins late sees the whole run. A cancellation asked
of another worker is written to the records; the worker running the run polls for it.

A run whose process died (kill -9, a crash, a lost machine) is not lost: its record stays `pending` or
`running`, and a worker adopts it (`Records.adopt_orphans`: a restarted single server at start-up, a live worker
once the dead one's lease expires) and runs it again as attempt 2. When the thread's latest checkpoint was
written by that run, it continues from there (`invoke(None)`: the step that was cut short runs again, and the
tool ledger answers side-effecting calls that already ran with what they returned); when the run never reached a
checkpoint, it starts over from its input. Clients join it as usual (`runs.join`, `runs.join_stream`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessageChunk
from langgraph.types import Command

from ..graphs import unfinished_nodes
from ._encode import jsonable, sse
from ._options import ServiceOptions
from ._records import TERMINAL, Records

log = logging.getLogger(__name__)


@dataclass
class RunHandle:
    """A run executing in this process: its record, the events so far, and how it ended."""

    run: dict[str, Any]
    """The run record (as returned by the API)."""
    request: dict[str, Any]
    """The validated run request (input, command, stream modes, config, ...)."""
    graph: Any
    """The compiled graph to run."""
    claimed: bool
    """True when the thread was already claimed for this run (reject policy claims before creating it)."""
    events: list[bytes] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    result: Any = None
    error: dict[str, str] | None = None
    status: str = "pending"
    task: asyncio.Task | None = None
    attempt: int = 1
    """1 for a run as it was asked for; 2 for a run adopted after the process running it died."""

    def emit(self, frame: bytes) -> None:
        self.events.append(frame)
        self.changed.set()

    async def frames(self) -> AsyncIterator[bytes]:
        """Every event of the run from its start, then new ones as they come, until the run ends."""
        index = 0
        while True:
            while index < len(self.events):
                yield self.events[index]
                index += 1
            if self.done.is_set():
                return
            self.changed.clear()
            if index < len(self.events):
                continue
            await self.changed.wait()


class RunManager:
    """Starts, tracks and cancels the runs of one worker process."""

    def __init__(self, records: Records, options: ServiceOptions, graphs: Mapping[str, Any]) -> None:
        self.records = records
        self.options = options
        self.graphs = graphs
        self.active: dict[str, RunHandle] = {}
        self._monitor: asyncio.Task | None = None

    async def adopt_orphans(self) -> list[RunHandle]:
        """Run again the runs a dead process left unfinished (see the module docstring); return their handles.

        Only runs of the assistants served here are adopted; one whose cancellation was asked ends `interrupted`.
        """
        orphans = await self.records.adopt_orphans(sorted(self.graphs))
        cancelled = await self.records.cancel_requested([run["run_id"] for run in orphans])
        started = []
        for run in orphans:
            if run["run_id"] in cancelled:  # the client asked it to stop before the process died
                await self.records.set_run_status(run["run_id"], "interrupted")
                continue
            graph, request = self.graphs[run["assistant_id"]], dict(run["kwargs"])
            started.append(self.start(RunHandle(run=run, request=request, graph=graph, claimed=False, attempt=2)))
        return started

    async def start_monitor(self) -> None:
        """Poll shared records for cancellations of this worker's runs, renew its leases and adopt the runs of
        workers that died (multi-worker)."""
        if self.records.shared and self._monitor is None:
            self._monitor = asyncio.create_task(self._watch_cancellations())

    async def stop(self) -> None:
        """Cancel the monitor and every active run (server shutdown)."""
        if self._monitor is not None:
            self._monitor.cancel()
        for handle in list(self.active.values()):
            if handle.task is not None:
                handle.task.cancel()
        for handle in list(self.active.values()):
            if handle.task is not None:
                with contextlib.suppress(BaseException):
                    await handle.task

    async def _watch_cancellations(self) -> None:
        last_renewal = 0.0
        while True:
            await asyncio.sleep(self.options.cancel_poll_seconds)
            try:
                if asyncio.get_running_loop().time() - last_renewal > self.options.busy_lease_seconds / 3:
                    last_renewal = asyncio.get_running_loop().time()
                    claimed = [h.run["thread_id"] for h in self.active.values() if h.claimed]
                    await self.records.renew(claimed, list(self.active))
                    await self.adopt_orphans()
                flagged = await self.records.cancel_requested(list(self.active))
            except Exception:  # the database may blip; try again next tick
                log.exception("checking for cancellations failed")
                continue
            for run_id in flagged:
                handle = self.active.get(run_id)
                if handle is not None and handle.task is not None and not handle.done.is_set():
                    handle.task.cancel()

    def start(self, handle: RunHandle) -> RunHandle:
        """Start executing `handle` in a new task and return it."""
        self.active[handle.run["run_id"]] = handle
        handle.emit(sse("metadata", {"run_id": handle.run["run_id"], "attempt": handle.attempt}))
        handle.task = asyncio.create_task(self._execute(handle))
        return handle

    async def cancel(self, run: dict[str, Any]) -> None:
        """Cancel `run` here if it runs in this process, else flag it for the worker that runs it."""
        handle = self.active.get(run["run_id"])
        if handle is not None and handle.task is not None:
            handle.task.cancel()
        elif run["status"] not in TERMINAL:
            await self.records.request_cancel(run["run_id"])
            if not self.records.shared:
                await self.records.set_run_status(run["run_id"], "interrupted")

    async def wait_terminal(self, run: dict[str, Any], *, timeout: float) -> str:
        """Wait until `run` has ended (here or on another worker); return its final status."""
        handle = self.active.get(run["run_id"])
        if handle is not None:
            await asyncio.wait_for(handle.done.wait(), timeout)
            return handle.status
        deadline = asyncio.get_running_loop().time() + timeout
        status = run["status"]
        while status not in TERMINAL:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError
            await asyncio.sleep(0.1)
            row = await self.records.get_run(run["run_id"], run["thread_id"], run["owner"])
            if row is None:
                return "interrupted"
            status = row["status"]
        return status

    async def _claim(self, handle: RunHandle) -> None:
        run = handle.run
        if handle.claimed:
            return
        deadline = asyncio.get_running_loop().time() + self.options.enqueue_timeout
        while not await self.records.claim_thread(run["thread_id"], run["owner"]):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"thread stayed busy for {self.options.enqueue_timeout:g} s")
            await asyncio.sleep(0.05)
        handle.claimed = True

    async def _execute(self, handle: RunHandle) -> None:
        run = handle.run
        thread_status = "idle"
        try:
            try:
                await self._claim(handle)
            except TimeoutError as exc:
                handle.status, handle.error = "error", {"error": "ThreadBusy", "message": str(exc)}
                handle.emit(sse("error", handle.error))
                return
            handle.status = "running"
            await self.records.set_run_status(run["run_id"], "running")
            async with asyncio.timeout(self.options.run_timeout):
                await self._stream(handle)
            state = await handle.graph.aget_state({"configurable": {"thread_id": run["thread_id"]}})
            handle.result = run_result(state)
            thread_status = "interrupted" if unfinished_nodes(state) or state.interrupts else "idle"
            handle.status = "success"
        except asyncio.CancelledError:
            handle.status = "interrupted"
            handle.error = {"error": "Cancelled", "message": "the run was cancelled"}
            handle.emit(sse("error", handle.error))
        except TimeoutError:
            handle.status = "timeout"
            handle.error = {
                "error": "TimeoutError",
                "message": f"the run exceeded the run timeout of {self.options.run_timeout:g} s",
            }
            thread_status = "error"
            handle.emit(sse("error", handle.error))
        except Exception as exc:  # a node failed: the client gets an error event, the server stays up
            log.info("run %s failed: %r", run["run_id"], exc)
            handle.status = "error"
            handle.error = {"error": type(exc).__name__, "message": str(exc)}
            thread_status = "error"
            handle.emit(sse("error", handle.error))
        finally:
            await asyncio.shield(self._finish(handle, thread_status))

    async def _stream(self, handle: RunHandle) -> None:
        """Run the graph for `handle`, emitting the events of the stream modes its request asked for."""
        req = handle.request
        config = _run_config(handle.run, req, self.options)
        graph_input: Any = req.get("input")
        if req.get("command"):
            graph_input = Command(**req["command"])
        if handle.attempt > 1 and await self._reached_checkpoint(handle):
            graph_input = None  # continue from the checkpoint the first attempt left, not from a forked one
            config["configurable"].pop("checkpoint_id", None)
        modes, wanted = _stream_modes(req.get("stream_mode"))
        seen_messages: dict[str, Any] = {}
        kwargs: dict[str, Any] = {}
        if req.get("context") is not None:
            kwargs["context"] = req["context"]
        durability = req.get("durability") or ("exit" if req.get("temporary") else None)
        if durability:  # a temporary thread is deleted afterwards: its steps need no checkpoints
            kwargs["durability"] = durability
        async for ns, mode, chunk in handle.graph.astream(
            graph_input,
            config,
            stream_mode=modes,
            subgraphs=True,
            interrupt_before=req.get("interrupt_before"),
            interrupt_after=req.get("interrupt_after"),
            **kwargs,
        ):
            if ns and not req.get("stream_subgraphs") and mode != "messages":
                continue
            for frame in _frames(ns, mode, chunk, wanted, seen_messages):
                handle.emit(frame)

    async def _reached_checkpoint(self, handle: RunHandle) -> bool:
        """True when the thread's latest checkpoint was written by this run (LangGraph records the run id)."""
        state = await handle.graph.aget_state({"configurable": {"thread_id": handle.run["thread_id"]}})
        return (state.metadata or {}).get("run_id") == handle.run["run_id"]

    async def _finish(self, handle: RunHandle, thread_status: str) -> None:
        run = handle.run
        try:
            if handle.claimed:
                await self.records.release_thread(run["thread_id"], thread_status)
            await self.records.set_run_status(run["run_id"], handle.status)
            if handle.request.get("temporary"):
                await self._drop_temporary(handle)
        except Exception:
            log.exception("recording the end of run %s failed", run["run_id"])
        finally:
            handle.emit(sse("end", {"run_id": run["run_id"], "status": handle.status}))
            handle.done.set()
            handle.changed.set()
            self.active.pop(run["run_id"], None)

    async def _drop_temporary(self, handle: RunHandle) -> None:
        run = handle.run
        await self.records.delete_thread(run["thread_id"], run["owner"])
        saver = handle.graph.checkpointer
        if saver is not None:
            await saver.adelete_thread(run["thread_id"])


def run_result(state: Any) -> Any:
    """What a finished run returns: the thread's values, with `__interrupt__` listing pending interrupts."""
    result = jsonable(state.values)
    if state.interrupts and isinstance(result, dict):
        result["__interrupt__"] = jsonable(list(state.interrupts))
    return result


def _run_config(run: dict[str, Any], req: dict[str, Any], options: ServiceOptions) -> dict[str, Any]:
    config = dict(req.get("config") or {})
    # the caller may tune its graph's own settings, never LangGraph's internals or which thread is used
    configurable = {k: v for k, v in (config.get("configurable") or {}).items() if not k.startswith("__")}
    for reserved in ("checkpoint_ns", "checkpoint_map", "checkpoint_id"):
        configurable.pop(reserved, None)
    configurable["thread_id"] = run["thread_id"]
    checkpoint_id = req.get("checkpoint_id") or (req.get("checkpoint") or {}).get("checkpoint_id")
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    configurable["graphwright_tenant"] = run["owner"]
    config["configurable"] = configurable
    limit = options.recursion_limit
    config["recursion_limit"] = min(int(config.get("recursion_limit") or limit), limit)
    ids = {"run_id": run["run_id"], "assistant_id": run["assistant_id"]}
    config["metadata"] = {**(config.get("metadata") or {}), **ids}
    config["run_id"] = run["run_id"]
    return config


def _stream_modes(requested: Any) -> tuple[list[str], set[str]]:
    """Graph stream modes to ask for, and the API modes the client asked for."""
    wanted = {requested} if isinstance(requested, str) else set(requested or ["values"])
    modes = set()
    for mode in wanted:
        modes.add("messages" if mode in ("messages", "messages-tuple") else mode)
    return sorted(modes), wanted


def _frames(ns: tuple[str, ...], mode: str, chunk: Any, wanted: set[str], seen: dict[str, Any]) -> list[bytes]:
    suffix = ("|" + "|".join(ns)) if ns else ""
    if mode != "messages":
        return [sse(mode + suffix, chunk)]
    message, metadata = chunk
    frames = []
    if "messages-tuple" in wanted:
        frames.append(sse("messages" + suffix, [message, metadata]))
    if "messages" in wanted:
        msg_id = getattr(message, "id", None) or ""
        if msg_id not in seen:
            frames.append(sse("messages/metadata", {msg_id: {"metadata": metadata}}))
            seen[msg_id] = None
        if isinstance(message, BaseMessageChunk):
            seen[msg_id] = message if seen[msg_id] is None else seen[msg_id] + message
            frames.append(sse("messages/partial", [seen[msg_id]]))
        else:
            frames.append(sse("messages/complete", [message]))
    return frames
