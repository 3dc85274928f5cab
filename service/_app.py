"""`create_app`: serve compiled graphs over the LangGraph server API, as an ASGI app you can mount anywhere.

Routes follow what `langgraph_sdk` 0.4 calls: `/assistants/...`, `/threads/...`, `/threads/{id}/runs/...`,
`/runs/...` (stateless) and `/store/...`. Every route needs an API key unless auth is explicitly disabled;
threads belong to the tenant that created them and are invisible (404) to everyone else.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPBearer
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.routing import Match

from ..errors import GraphwrightError, InvalidThreadIdError, ServiceSetupError
from ..graphs import check_thread_id, compile_graph
from ..memory import CheckpointerBackend, checkpointer_backend, strict_serializer
from ..tracing import TraceContextMiddleware
from ._bridge import async_capable
from ._encode import jsonable
from ._guard import Guard
from ._input import checked_router
from ._memory_records import MemoryRecords
from ._options import ApiKeyAuth, ServiceOptions
from ._postgres_records import PostgresRecords
from ._records import Records
from ._schemas import ErrorBody
from ._routes_assistants import assistants_router
from ._routes_runs import runs_router
from ._routes_state import state_router
from ._routes_store import store_router
from ._routes_threads import threads_router
from ._service import Service
from ._sqlite_records import SqliteRecords


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
            None keeps them beside the checkpoints when the checkpointer is a `PostgresSaver` or
            `SqliteSaver` (on its connection), else in memory.

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
    auth = _checked_auth(graphs, auth)
    service = build_service(graphs, checkpointer=checkpointer, store=store, options=options, database=database)
    app = FastAPI(
        title=options.extra_docs.get("title", "graphwright"),
        version=options.extra_docs.get("version", "1"),
        description=options.extra_docs.get(
            "description", "LangGraph server API for graphwright graphs (speaks to `langgraph_sdk` and `RemoteGraph`)."
        ),
        lifespan=_lifespan,
        redoc_url=None,
        dependencies=[
            Security(APIKeyHeader(name="x-api-key", auto_error=False)),
            Security(HTTPBearer(auto_error=False)),
        ],
    )
    app.state.service = service
    app.add_middleware(BaseHTTPMiddleware, dispatch=_ready_first)
    app.add_middleware(Guard, auth=auth or None, options=options)
    app.add_middleware(TraceContextMiddleware)  # outermost: a caller's trace context reaches the run
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(GraphwrightError, _typed_error)
    app.add_exception_handler(405, _method_not_allowed)
    app.include_router(_meta_router(), responses=_COMMON_RESPONSES)
    for router in (assistants_router, threads_router, state_router, runs_router, store_router):
        app.include_router(router(service), responses=_COMMON_RESPONSES)
    return app


def build_service(
    graphs: Mapping[str, StateGraph | Pregel],
    *,
    checkpointer: BaseCheckpointSaver | None,
    store: BaseStore | None,
    options: ServiceOptions,
    database: str | None,
) -> Service:
    """The `Service` behind `create_app`: the graphs compiled on one checkpointer and store, and the records.

    Raises:
        ServiceSetupError: an assistant id is not a valid thread-style id.
    """
    saver = async_capable(checkpointer) if checkpointer is not None else InMemorySaver(serde=strict_serializer())
    store = store if store is not None else InMemoryStore()
    compiled: dict[str, Any] = {}
    for name, graph in graphs.items():
        try:
            check_thread_id(name)
        except InvalidThreadIdError as exc:
            raise ServiceSetupError(f"assistant id {name!r} must be 1-128 of [A-Za-z0-9._:-]") from exc
        compiled[name] = compile_graph(graph, checkpointer=saver, store=store, name=name)
    return Service(compiled, _records_for(checkpointer, database, options), store, options)


def _checked_auth(graphs: Mapping[str, Any], auth: ApiKeyAuth | bool | None) -> ApiKeyAuth | bool:
    """The auth `create_app` runs with (keys from the environment when None); refuses no graphs and `True`."""
    if not graphs:
        raise ServiceSetupError("create_app needs at least one graph")
    if auth is None:
        return ApiKeyAuth.from_env()
    if auth is True:
        raise ServiceSetupError("auth=True is ambiguous: pass ApiKeyAuth({...}) or auth=False")
    return auth


def _records_for(checkpointer: BaseCheckpointSaver | None, database: str | None, options: ServiceOptions) -> Records:
    """Where thread and run records live: `database`, else beside a sync SQLite or Postgres saver, else memory."""
    lease = options.busy_lease_seconds
    if database is not None:
        return PostgresRecords(database, lease_seconds=lease)
    inner: Any = getattr(checkpointer, "inner", checkpointer)  # a `ThreadedSaver` keeps the saver it wraps
    backend = checkpointer_backend(inner) if inner is not None else None
    if backend == CheckpointerBackend("postgres", "sync") and hasattr(inner.conn, "execute"):  # one connection
        return PostgresRecords(conn=inner.conn, lock=getattr(inner, "lock", None), lease_seconds=lease)
    if backend == CheckpointerBackend("sqlite", "sync"):
        return SqliteRecords(inner.conn, lock=inner.lock)
    return MemoryRecords()


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Set the service up when the app starts (when mounted, `_ready_first` does) and close it on shutdown."""
    service: Service = app.state.service
    await service.ready()
    yield
    await service.close()


async def _ready_first(request: Request, call_next: Any) -> Any:
    """Middleware: the service is set up before the first request (mounted apps get no lifespan of their own)."""
    await request.app.state.service.ready()
    return await call_next(request)


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 for a request that fails validation, every problem in `detail` as `where: what`."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg')}")
    return JSONResponse({"detail": "; ".join(parts), "errors": jsonable(exc.errors())}, status_code=422)


async def _typed_error(request: Request, exc: GraphwrightError) -> JSONResponse:
    """A graphwright error as JSON naming its type: 422 for bad input (a `ValueError`), else 409."""
    status = 422 if isinstance(exc, ValueError) else 409
    return JSONResponse({"detail": str(exc), "error": type(exc).__name__}, status_code=status)


async def _method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    """405 whose `Allow` names every method the path has (Starlette's names only the first route that matched)."""
    methods = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})  # GET matches any route only by its path
        if match != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    if "GET" in methods:
        methods.add("HEAD")
    allow = ", ".join(sorted(methods))
    return JSONResponse(
        {"detail": f"method {request.method} not allowed here; allowed: {allow}"},
        status_code=405,
        headers={"Allow": allow},
    )


def _meta_router() -> APIRouter:
    """`/ok` (a liveness probe, undocumented) and `/info`."""
    router = checked_router()
    router.add_api_route("/ok", _ok, methods=["GET"], name="ok", include_in_schema=False)
    router.add_api_route("/info", _info, methods=["GET"], name="info", tags=["meta"])
    return router


async def _ok() -> dict[str, bool]:
    return {"ok": True}


async def _info() -> dict[str, Any]:
    """Server information."""
    return {"version": "graphwright", "worker": os.getpid(), "flags": {"assistants": True, "crons": False}}


_COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "A malformed request (e.g. an invalid Content-Length).",
        401: "Missing or invalid API key (`x-api-key: KEY` or `Authorization: Bearer KEY`).",
        404: "Not found, or owned by another tenant.",
        409: "A conflict with the thread's state: it exists already, or a run is in progress on it.",
        413: "Request body over the size limit (refused before it is read).",
        422: "Invalid input: fails the body's schema, nested too deep, a NUL or lone surrogate in a string, a "
        "number out of range, or a feature this server does not offer.",
        429: "Over the tenant's rate limit; `Retry-After` says when to retry.",
    }.items()
}
