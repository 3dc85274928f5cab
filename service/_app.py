"""`create_app`: serve compiled graphs over the LangGraph server API, as an ASGI app you can mount anywhere.

Routes follow what `langgraph_sdk` 0.4 calls: `/assistants/...`, `/threads/...`, `/threads/{id}/runs/...`,
`/runs/...` (stateless) and `/store/...`. Every route needs an API key unless auth is explicitly disabled;
threads belong to the tenant that created them and are invisible (404) to everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import APIRouter, Body, FastAPI, HTTPException, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import APIKeyHeader, HTTPBearer
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from .._errors import GraphwrightError, InvalidThreadIdError, ServiceSetupError
from ..graphs import check_thread_id, compile_graph
from ._bridge import async_capable
from ._encode import checkpoint_ref, jsonable, sse, thread_state
from ._guard import Guard
from ._options import ApiKeyAuth, ServiceOptions
from ._records import MemoryRecords, PostgresRecords, now
from ._runs import RunHandle, RunManager
from ._schemas import (
    AssistantSearch,
    HistoryQuery,
    RunCreate,
    StateAtCheckpoint,
    StateUpdate,
    StoreDelete,
    StoreNamespaces,
    StorePut,
    StoreSearch,
    ThreadCreate,
    ThreadPatch,
    ThreadSearch,
)
from ._stores import store_router


class Service:
    """What the routes share: compiled graphs, records of threads and runs, the run manager, the store."""

    def __init__(
        self,
        graphs: dict[str, Any],
        records: Any,
        store: BaseStore,
        options: ServiceOptions,
    ) -> None:
        self.graphs = graphs
        self.records = records
        self.store = store
        self.options = options
        self.runs = RunManager(records, options)
        self._ready = False
        self._lock = asyncio.Lock()

    async def ready(self) -> None:
        """Set up the records and the cancellation monitor once, on first use (works when mounted, too)."""
        if self._ready:
            return
        async with self._lock:
            if not self._ready:
                await self.records.setup()
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
            state = await self.thread_graph(row).aget_state(_config(row["thread_id"]))
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


def _config(thread_id: str, checkpoint_id: str | None = None, checkpoint_ns: str = "") -> dict[str, Any]:
    conf: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": checkpoint_ns or ""}
    if checkpoint_id:
        conf["checkpoint_id"] = checkpoint_id
    return {"configurable": conf}


def _tenant(request: Request) -> str:
    return request.scope["state"]["tenant"]


def _assistant(name: str) -> dict[str, Any]:
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


def create_app(
    graphs: Mapping[str, StateGraph | Pregel],
    *,
    checkpointer: BaseCheckpointSaver | None = None,
    store: BaseStore | None = None,
    auth: ApiKeyAuth | bool | None = None,
    options: ServiceOptions = ServiceOptions(),
    database: str | None = None,
) -> FastAPI:
    """Return an ASGI app serving `graphs` over the LangGraph server API (mount it in your FastAPI app or run it).

    Each graph becomes an assistant whose id is its key. Graphs are compiled here with `checkpointer` and
    `store`; a sync-only checkpointer (SQLite, Postgres from `open_checkpointer`) is given async methods.

    Args:
        graphs: assistant id -> a `StateGraph` or compiled graph.
        checkpointer: where thread state lives; None keeps it in memory (one process, lost on exit).
        store: the long-term store behind `/store/...` and the graphs' `store`; None gives an `InMemoryStore`.
        auth: an `ApiKeyAuth`; None reads keys from `$GRAPHWRIGHT_API_KEYS` (and fails without any);
            `False` disables auth explicitly (every caller is tenant `anonymous`: for local use only).
        options: request and run limits.
        database: a `postgresql://` URL for the thread and run records, so several workers share them;
            None uses the checkpointer's Postgres connection when it is a `PostgresSaver`, else memory.

    Returns:
        A FastAPI app (ASGI). Its OpenAPI document is at `/openapi.json`.

    Raises:
        ServiceSetupError: no graphs, a bad assistant id, or no API keys and auth not disabled.

    Example:
        >>> from langgraph.graph import StateGraph, START
        >>> from typing import TypedDict
        >>> class S(TypedDict):
        ...     n: int
        >>> g = StateGraph(S)
        >>> _ = g.add_node("inc", lambda s: {"n": s["n"] + 1})
        >>> _ = g.add_edge(START, "inc")
        >>> app = create_app({"inc": g}, auth=ApiKeyAuth({"secret-key-1": "me"}))
        >>> "/threads/{thread_id}/runs/stream" in app.openapi()["paths"]
        True
    """
    if not graphs:
        raise ServiceSetupError("create_app needs at least one graph")
    if auth is None:
        auth = ApiKeyAuth.from_env()
    elif auth is True:
        raise ServiceSetupError("auth=True is ambiguous: pass ApiKeyAuth({...}) or auth=False")
    saver = async_capable(checkpointer) if checkpointer is not None else None
    if saver is None:
        from langgraph.checkpoint.memory import InMemorySaver

        from ..memory import strict_serializer

        saver = InMemorySaver(serde=strict_serializer())
    store = store if store is not None else InMemoryStore()
    compiled: dict[str, Any] = {}
    for name, graph in graphs.items():
        try:
            check_thread_id(name)
        except InvalidThreadIdError as exc:
            raise ServiceSetupError(f"assistant id {name!r} must be 1-128 of [A-Za-z0-9._:-]") from exc
        compiled[name] = compile_graph(graph, checkpointer=saver, store=store, name=name)
    records: Any
    if database is not None:
        records = PostgresRecords(database)
    elif _postgres_conn(checkpointer) is not None:
        inner = getattr(checkpointer, "inner", checkpointer)
        records = PostgresRecords(conn=_postgres_conn(checkpointer), lock=getattr(inner, "lock", None))
    else:
        records = MemoryRecords()
    service = Service(compiled, records, store, options)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.ready()
        yield
        await service.close()

    app = FastAPI(
        title=options.extra_docs.get("title", "graphwright"),
        version=options.extra_docs.get("version", "1"),
        description=options.extra_docs.get(
            "description", "LangGraph server API for graphwright graphs (speaks to `langgraph_sdk` and `RemoteGraph`)."
        ),
        lifespan=lifespan,
        redoc_url=None,
        dependencies=[
            Security(APIKeyHeader(name="x-api-key", auto_error=False)),
            Security(HTTPBearer(auto_error=False)),
        ],
    )
    app.state.service = service

    @app.middleware("http")
    async def _ready(request: Request, call_next: Any) -> Any:
        await service.ready()
        return await call_next(request)

    app.add_middleware(Guard, auth=auth or None, options=options)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{where}: {err.get('msg')}")
        return JSONResponse({"detail": "; ".join(parts), "errors": jsonable(exc.errors())}, status_code=422)

    @app.exception_handler(GraphwrightError)
    async def _typed(request: Request, exc: GraphwrightError) -> JSONResponse:
        status = 422 if isinstance(exc, ValueError) else 409
        return JSONResponse({"detail": str(exc), "error": type(exc).__name__}, status_code=status)

    @app.get("/ok", include_in_schema=False)
    async def ok() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/info", tags=["meta"])
    async def info() -> dict[str, Any]:
        """Server information."""
        return {"version": "graphwright", "flags": {"assistants": True, "crons": False}}

    app.include_router(_assistants_router(service))
    app.include_router(_threads_router(service))
    app.include_router(_runs_router(service))
    app.include_router(store_router(service))
    return app


def _postgres_conn(checkpointer: Any) -> Any:
    """The psycopg connection of a `PostgresSaver` (the records then share its database), else None."""
    inner = getattr(checkpointer, "inner", checkpointer)
    conn = getattr(inner, "conn", None)
    if type(inner).__name__ != "PostgresSaver" or not hasattr(conn, "execute"):
        return None
    return conn


def _assistants_router(svc: Service) -> APIRouter:
    router = APIRouter(prefix="/assistants", tags=["assistants"])

    @router.post("/search")
    async def search_assistants(body: AssistantSearch = Body(default_factory=AssistantSearch)) -> list[dict]:
        """List the assistants (one per served graph)."""
        names = [n for n in sorted(svc.graphs) if body.graph_id in (None, n) and body.name in (None, n)]
        return [_assistant(n) for n in names[body.offset : body.offset + body.limit]]

    @router.post("/count")
    async def count_assistants(body: AssistantSearch = Body(default_factory=AssistantSearch)) -> int:
        """Count the assistants matching the filter."""
        return len([n for n in svc.graphs if body.graph_id in (None, n) and body.name in (None, n)])

    @router.get("/{assistant_id}")
    async def get_assistant(assistant_id: str) -> dict:
        """Get an assistant by id (= graph name)."""
        svc.graph(assistant_id)
        return _assistant(assistant_id)

    @router.get("/{assistant_id}/graph")
    async def get_assistant_graph(assistant_id: str, xray: bool | int = False) -> dict:
        """The assistant's graph as nodes and edges (for drawing)."""
        return jsonable(svc.graph(assistant_id).get_graph(xray=xray).to_json())

    @router.get("/{assistant_id}/schemas")
    async def get_assistant_schemas(assistant_id: str) -> dict:
        """JSON schemas of the assistant's input, output, state, config and context."""
        graph = svc.graph(assistant_id)

        def schema(method: str) -> Any:
            with contextlib.suppress(Exception):
                return getattr(graph, method)()
            return None

        return jsonable(
            {
                "graph_id": assistant_id,
                "input_schema": schema("get_input_jsonschema"),
                "output_schema": schema("get_output_jsonschema"),
                "state_schema": schema("get_output_jsonschema"),
                "config_schema": schema("get_config_jsonschema"),
                "context_schema": schema("get_context_jsonschema"),
            }
        )

    @router.get("/{assistant_id}/subgraphs")
    async def get_assistant_subgraphs(assistant_id: str, recurse: bool = False) -> dict:
        """The assistant's subgraphs' schemas, by namespace."""
        graph = svc.graph(assistant_id)
        return {ns: {"graph_id": ns} for ns, _ in graph.get_subgraphs(recurse=recurse)}

    return router


def _threads_router(svc: Service) -> APIRouter:
    router = APIRouter(prefix="/threads", tags=["threads"])

    @router.post("")
    async def create_thread(request: Request, body: ThreadCreate = Body(default_factory=ThreadCreate)) -> dict:
        """Create a thread owned by the caller."""
        tenant = _tenant(request)
        thread_id = check_thread_id(body.thread_id) if body.thread_id else str(uuid.uuid4())
        if body.graph_id is not None:
            svc.graph(body.graph_id)
        stamp = now()
        row = {
            "thread_id": thread_id,
            "owner": tenant,
            "graph_id": body.graph_id,
            "status": "idle",
            "metadata": body.metadata,
            "created_at": stamp,
            "updated_at": stamp,
        }
        created = await svc.records.create_thread(row)
        if created is None:
            mine = await svc.records.get_thread(thread_id, tenant)
            if mine is not None and body.if_exists == "do_nothing":
                return await svc.thread_out(mine)
            raise HTTPException(409, f"thread {thread_id!r} already exists")
        return await svc.thread_out(created)

    @router.post("/search")
    async def search_threads(request: Request, body: ThreadSearch = Body(default_factory=ThreadSearch)) -> list[dict]:
        """The caller's threads matching metadata and status, newest first."""
        rows = await svc.records.search_threads(
            _tenant(request), metadata=body.metadata, status=body.status, limit=body.limit, offset=body.offset
        )
        if body.ids is not None:
            rows = [r for r in rows if r["thread_id"] in set(body.ids)]
        return [await svc.thread_out(r) for r in rows]

    @router.post("/count")
    async def count_threads(request: Request, body: ThreadSearch = Body(default_factory=ThreadSearch)) -> int:
        """Count the caller's threads matching the filter."""
        rows = await svc.records.search_threads(
            _tenant(request), metadata=body.metadata, status=body.status, limit=1_000_000, offset=0
        )
        return len(rows)

    @router.get("/{thread_id}")
    async def get_thread(request: Request, thread_id: str) -> dict:
        """Get one of the caller's threads."""
        return await svc.thread_out(await svc.thread(thread_id, _tenant(request)))

    @router.patch("/{thread_id}")
    async def patch_thread(request: Request, thread_id: str, body: ThreadPatch) -> dict:
        """Merge metadata into a thread's."""
        row = await svc.records.patch_thread(thread_id, _tenant(request), body.metadata)
        if row is None:
            raise HTTPException(404, f"thread {thread_id!r} not found")
        return await svc.thread_out(row)

    @router.delete("/{thread_id}", status_code=204)
    async def delete_thread(request: Request, thread_id: str) -> Response:
        """Delete a thread, its runs and its checkpoints (409 while a run is busy on it)."""
        row = await svc.thread(thread_id, _tenant(request))
        if row["status"] == "busy":
            raise HTTPException(409, f"thread {thread_id!r} has a run in progress; cancel it first")
        await svc.records.delete_thread(thread_id, _tenant(request))
        saver = svc.thread_graph(row).checkpointer
        if saver is not None:
            await saver.adelete_thread(thread_id)
        return Response(status_code=204)

    @router.get("/{thread_id}/state")
    async def get_state(request: Request, thread_id: str, subgraphs: bool = False) -> dict:
        """The thread's latest state."""
        row = await svc.thread(thread_id, _tenant(request))
        return thread_state(await svc.thread_graph(row).aget_state(_config(thread_id), subgraphs=subgraphs))

    @router.get("/{thread_id}/state/{checkpoint_id}")
    async def get_state_at(request: Request, thread_id: str, checkpoint_id: str, subgraphs: bool = False) -> dict:
        """The thread's state at a checkpoint."""
        row = await svc.thread(thread_id, _tenant(request))
        config = _config(thread_id, checkpoint_id)
        return thread_state(await svc.thread_graph(row).aget_state(config, subgraphs=subgraphs))

    @router.post("/{thread_id}/state/checkpoint")
    async def get_state_at_checkpoint(request: Request, thread_id: str, body: StateAtCheckpoint) -> dict:
        """The thread's state at the checkpoint in the body."""
        row = await svc.thread(thread_id, _tenant(request))
        config = _config(thread_id, body.checkpoint.checkpoint_id, body.checkpoint.checkpoint_ns or "")
        return thread_state(await svc.thread_graph(row).aget_state(config, subgraphs=body.subgraphs))

    @router.post("/{thread_id}/state")
    async def update_state(request: Request, thread_id: str, body: StateUpdate) -> dict:
        """Write values to the thread's state as if `as_node` had returned them; returns the new checkpoint."""
        tenant = _tenant(request)
        row = await svc.thread(thread_id, tenant)
        if not await svc.records.claim_thread(thread_id, tenant):
            raise HTTPException(409, f"thread {thread_id!r} has a run in progress; update its state after it ends")
        status = "idle"
        try:
            graph = svc.thread_graph(row)
            checkpoint_id = body.checkpoint_id or (body.checkpoint.checkpoint_id if body.checkpoint else None)
            try:
                config = await graph.aupdate_state(_config(thread_id, checkpoint_id), body.values, as_node=body.as_node)
            except (ValueError, KeyError) as exc:
                raise HTTPException(422, f"cannot update state: {exc}") from exc
            state = await graph.aget_state(_config(thread_id))
            status = "interrupted" if state.next or state.interrupts else "idle"
        finally:
            await svc.records.release_thread(thread_id, status)
        return {"checkpoint": checkpoint_ref(config)}

    @router.post("/{thread_id}/history")
    async def get_history(
        request: Request, thread_id: str, body: HistoryQuery = Body(default_factory=HistoryQuery)
    ) -> list[dict]:
        """The thread's past states, newest first."""
        row = await svc.thread(thread_id, _tenant(request))
        before = body.before
        before_config = None
        if isinstance(before, str):
            before_config = _config(thread_id, before)
        elif before is not None:
            before_config = _config(thread_id, before.checkpoint_id)
        config = _config(thread_id, body.checkpoint.checkpoint_id if body.checkpoint else None)
        out = []
        async for snap in svc.thread_graph(row).aget_state_history(
            config, filter=body.metadata, before=before_config, limit=body.limit
        ):
            out.append(thread_state(snap))
        return out

    return router


def _runs_router(svc: Service) -> APIRouter:
    router = APIRouter(tags=["runs"])

    async def start(request: Request, thread_id: str | None, body: RunCreate) -> RunHandle:
        tenant = _tenant(request)
        graph = svc.graph(body.assistant_id)
        temporary = thread_id is None
        if temporary:
            thread_id = str(uuid.uuid4())
        else:
            check_thread_id(thread_id)
        if temporary or await svc.records.get_thread(thread_id, tenant) is None:
            if not temporary and body.if_not_exists != "create":
                raise HTTPException(404, f"thread {thread_id!r} not found")
            stamp = now()
            row = {
                "thread_id": thread_id,
                "owner": tenant,
                "graph_id": body.assistant_id,
                "status": "idle",
                "metadata": {},
                "created_at": stamp,
                "updated_at": stamp,
            }
            if await svc.records.create_thread(row) is None and await svc.records.get_thread(thread_id, tenant) is None:
                raise HTTPException(404, f"thread {thread_id!r} not found")
        await svc.records.set_graph(thread_id, body.assistant_id)
        strategy = body.multitask_strategy or svc.options.multitask_strategy
        claimed = False
        if strategy == "reject":
            if not await svc.records.claim_thread(thread_id, tenant):
                raise HTTPException(
                    409,
                    f"thread {thread_id!r} is busy with another run; wait for it, cancel it, or send "
                    "multitask_strategy='enqueue'",
                )
            claimed = True
        stamp = now()
        run = {
            "run_id": str(uuid.uuid4()),
            "thread_id": thread_id,
            "owner": tenant,
            "assistant_id": body.assistant_id,
            "status": "pending",
            "metadata": body.metadata,
            "kwargs": jsonable(body.model_dump(exclude_none=True, exclude={"metadata"})),
            "multitask_strategy": strategy,
            "created_at": stamp,
            "updated_at": stamp,
        }
        try:
            await svc.records.create_run(run)
        except BaseException:
            if claimed:
                await svc.records.release_thread(thread_id, "idle")
            raise
        req = body.model_dump(exclude_none=True)
        req["temporary"] = temporary and body.on_completion != "keep"
        return svc.runs.start(RunHandle(run=run, request=req, graph=graph, claimed=claimed))

    def stream_response(handle: RunHandle, on_disconnect: str | None) -> StreamingResponse:
        async def frames() -> AsyncIterator[bytes]:
            try:
                async for frame in handle.frames():
                    yield frame
            finally:
                if not handle.done.is_set() and on_disconnect != "continue" and handle.task is not None:
                    handle.task.cancel()

        return StreamingResponse(frames(), media_type="text/event-stream", headers=_location(handle.run))

    async def wait_result(handle: RunHandle) -> JSONResponse:
        await handle.done.wait()
        if handle.status != "success":
            body = {"__error__": handle.error or {"error": handle.status, "message": f"run ended: {handle.status}"}}
            return JSONResponse(body, headers=_location(handle.run))
        return JSONResponse(handle.result, headers=_location(handle.run))

    def _public(run: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in run.items() if k != "owner"}

    @router.post("/threads/{thread_id}/runs")
    async def create_run(request: Request, thread_id: str, body: RunCreate) -> JSONResponse:
        """Start a background run on a thread."""
        handle = await start(request, thread_id, body)
        return JSONResponse(_public(handle.run), headers=_location(handle.run))

    @router.post("/threads/{thread_id}/runs/stream", response_class=StreamingResponse)
    async def stream_run(request: Request, thread_id: str, body: RunCreate) -> StreamingResponse:
        """Start a run on a thread and stream its events (Server-Sent Events)."""
        return stream_response(await start(request, thread_id, body), body.on_disconnect)

    @router.post("/threads/{thread_id}/runs/wait")
    async def wait_run(request: Request, thread_id: str, body: RunCreate) -> JSONResponse:
        """Start a run on a thread and return its final values."""
        return await wait_result(await start(request, thread_id, body))

    @router.post("/runs")
    async def create_stateless_run(request: Request, body: RunCreate) -> JSONResponse:
        """Start a background run on a fresh temporary thread."""
        handle = await start(request, None, body)
        return JSONResponse(_public(handle.run), headers=_location(handle.run))

    @router.post("/runs/stream", response_class=StreamingResponse)
    async def stream_stateless_run(request: Request, body: RunCreate) -> StreamingResponse:
        """Run on a fresh temporary thread and stream its events."""
        return stream_response(await start(request, None, body), body.on_disconnect)

    @router.post("/runs/wait")
    async def wait_stateless_run(request: Request, body: RunCreate) -> JSONResponse:
        """Run on a fresh temporary thread and return its final values."""
        return await wait_result(await start(request, None, body))

    @router.get("/threads/{thread_id}/runs")
    async def list_runs(
        request: Request,
        thread_id: str,
        limit: int = Query(10, ge=1, le=1000),
        offset: int = Query(0, ge=0),
        status: str | None = None,
    ) -> list[dict]:
        """The thread's runs, newest first."""
        await svc.thread(thread_id, _tenant(request))
        rows = await svc.records.list_runs(thread_id, _tenant(request), status=status, limit=limit, offset=offset)
        return [_public(r) for r in rows]

    async def the_run(request: Request, thread_id: str, run_id: str) -> dict[str, Any]:
        run = await svc.records.get_run(run_id, thread_id, _tenant(request))
        if run is None:
            raise HTTPException(404, f"run {run_id!r} not found on thread {thread_id!r}")
        return run

    @router.get("/threads/{thread_id}/runs/{run_id}")
    async def get_run(request: Request, thread_id: str, run_id: str) -> dict:
        """One run."""
        return _public(await the_run(request, thread_id, run_id))

    @router.delete("/threads/{thread_id}/runs/{run_id}", status_code=204)
    async def delete_run(request: Request, thread_id: str, run_id: str) -> Response:
        """Delete a finished run's record (409 while it runs)."""
        run = await the_run(request, thread_id, run_id)
        if run["status"] in ("pending", "running"):
            raise HTTPException(409, f"run {run_id!r} is {run['status']}; cancel it first")
        await svc.records.delete_run(run_id)
        return Response(status_code=204)

    @router.post("/threads/{thread_id}/runs/{run_id}/cancel")
    async def cancel_run(
        request: Request,
        thread_id: str,
        run_id: str,
        wait: bool = False,
        action: str = Query("interrupt", pattern="^(interrupt|rollback)$"),
    ) -> Response:
        """Cancel a run (on whichever worker runs it); with `wait=1`, return once it has stopped."""
        if action != "interrupt":
            raise HTTPException(422, "action 'rollback' is not supported; use 'interrupt'")
        run = await the_run(request, thread_id, run_id)
        await svc.runs.cancel(run)
        if not wait:
            return Response(status_code=202)
        await svc.runs.wait_terminal(run, timeout=svc.options.run_timeout)
        return JSONResponse(_public(await the_run(request, thread_id, run_id)))

    @router.get("/threads/{thread_id}/runs/{run_id}/join")
    async def join_run(request: Request, thread_id: str, run_id: str) -> JSONResponse:
        """Wait for a run to end and return the thread's final values (works across workers)."""
        run = await the_run(request, thread_id, run_id)
        handle = svc.runs.active.get(run_id)
        if handle is not None:
            return await wait_result(handle)
        await svc.runs.wait_terminal(run, timeout=svc.options.run_timeout + svc.options.enqueue_timeout)
        row = await svc.thread(thread_id, _tenant(request))
        state = await svc.thread_graph(row).aget_state(_config(thread_id))
        result = jsonable(state.values)
        if state.interrupts and isinstance(result, dict):
            result["__interrupt__"] = jsonable(list(state.interrupts))
        return JSONResponse(result)

    @router.get("/threads/{thread_id}/runs/{run_id}/stream", response_class=StreamingResponse)
    async def join_run_stream(
        request: Request, thread_id: str, run_id: str, cancel_on_disconnect: bool = False
    ) -> StreamingResponse:
        """Stream a run's events from its start (on another worker: its final values once it ends)."""
        run = await the_run(request, thread_id, run_id)
        handle = svc.runs.active.get(run_id)
        if handle is not None:
            return stream_response(handle, "cancel" if cancel_on_disconnect else "continue")

        async def remote() -> AsyncIterator[bytes]:
            yield sse("metadata", {"run_id": run_id, "attempt": 1})
            status = await svc.runs.wait_terminal(run, timeout=svc.options.run_timeout + svc.options.enqueue_timeout)
            row = await svc.thread(thread_id, _tenant(request))
            state = await svc.thread_graph(row).aget_state(_config(thread_id))
            yield sse("values", state.values)
            yield sse("end", {"run_id": run_id, "status": status})

        return StreamingResponse(remote(), media_type="text/event-stream", headers=_location(run))

    return router


def _location(run: dict[str, Any]) -> dict[str, str]:
    return {"Content-Location": f"/threads/{run['thread_id']}/runs/{run['run_id']}"}
