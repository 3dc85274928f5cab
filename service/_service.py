"""What the routes share: the served graphs, thread and run records, the run manager and the store."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import HTTPException, Request
from langgraph.store.base import BaseStore

from ._encode import jsonable
from ._options import ServiceOptions
from ._records import Records
from ._runs import RunManager


class Service:
    """What the routes share: compiled graphs, records of threads and runs, the run manager, the store."""

    def __init__(
        self,
        graphs: dict[str, Any],
        records: Records,
        store: BaseStore,
        options: ServiceOptions,
    ) -> None:
        self.graphs = graphs
        self.records = records
        self.store = store
        self.options = options
        self.runs = RunManager(records, options, graphs)
        self._ready = False
        self._lock = asyncio.Lock()

    async def ready(self) -> None:
        """Set up the records and the cancellation monitor once, on first use (works when mounted, too), and
        run again the runs a dead process left unfinished."""
        if self._ready:
            return
        async with self._lock:
            if not self._ready:
                await self.records.setup()
                await self.runs.adopt_orphans()
                await self.runs.start_monitor()
                self._ready = True

    async def close(self) -> None:
        """Stop runs and close the records."""
        await self.runs.stop()
        await self.records.close()

    def graph(self, assistant_id: str) -> Any:
        """The compiled graph an assistant id names, or 404."""
        graph = self.graphs.get(assistant_id)
        if graph is None:
            raise HTTPException(404, f"assistant {assistant_id!r} not found; known: {sorted(self.graphs)}")
        return graph

    async def thread(self, thread_id: str, tenant: str) -> dict[str, Any]:
        """The caller's thread, or 404 (also when it belongs to someone else)."""
        row = await self.records.get_thread(thread_id, tenant)
        if row is None:
            raise HTTPException(404, f"thread {thread_id!r} not found")
        return row

    def thread_graph(self, row: dict[str, Any]) -> Any:
        """The graph that runs (or will run) on a thread."""
        return self.graphs.get(row.get("graph_id") or "") or next(iter(self.graphs.values()))

    async def thread_out(self, row: dict[str, Any], *, with_values: bool = True) -> dict[str, Any]:
        """A thread record as the SDK's `Thread` dict (with its current values)."""
        values: Any = {}
        interrupts: dict[str, Any] = {}
        if with_values:
            state = await self.thread_graph(row).aget_state(state_config(row["thread_id"]))
            values = jsonable(state.values)
            for task in state.tasks:
                if task.interrupts:
                    interrupts[task.id] = jsonable(task.interrupts)
        return {
            "thread_id": row["thread_id"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "metadata": row["metadata"],
            "status": row["status"],
            "values": values,
            "interrupts": interrupts,
            "config": {},
        }


def state_config(thread_id: str, checkpoint_id: str | None = None, checkpoint_ns: str = "") -> dict[str, Any]:
    """The config that reads a thread's state (at `checkpoint_id` when given)."""
    conf: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns or ""}
    if checkpoint_id:
        conf["checkpoint_id"] = checkpoint_id
    return {"configurable": conf}


def tenant_of(request: Request) -> str:
    """The tenant the guard authenticated for this request."""
    return request.scope["state"]["tenant"]


def assistant_record(name: str) -> dict[str, Any]:
    """The SDK's `Assistant` dict for the graph served as `name`."""
    return {
        "assistant_id": name,
        "graph_id": name,
        "name": name,
        "description": None,
        "config": {},
        "context": {},
        "metadata": {},
        "version": 1,
        "created_at": "1970-01-01T00:00:00+00:00",
        "updated_at": "1970-01-01T00:00:00+00:00",
    }
