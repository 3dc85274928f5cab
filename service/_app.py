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

from fastapi import FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPBearer
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from ..errors import GraphwrightError, InvalidThreadIdError, ServiceSetupError
from ..graphs import check_thread_id, compile_graph
from ._bridge import async_capable
from ._encode import jsonable
from ._guard import Guard
from ._options import ApiKeyAuth, ServiceOptions
from ._records import MemoryRecords, PostgresRecords
from ._runs_api import runs_router
from ._service import Service
from ._sqlite_records import SqliteRecords
from ._stores import store_router
from ._threads import assistants_router, threads_router


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
        records = PostgresRecords(database, lease_seconds=options.busy_lease_seconds)
    elif _postgres_conn(checkpointer) is not None:
        inner = getattr(checkpointer, "inner", checkpointer)
        records = PostgresRecords(
            conn=_postgres_conn(checkpointer),
            lock=getattr(inner, "lock", None),
            lease_seconds=options.busy_lease_seconds,
        )
    elif type(getattr(checkpointer, "inner", checkpointer)).__name__ == "SqliteSaver":
        inner = getattr(checkpointer, "inner", checkpointer)
        records = SqliteRecords(inner.conn, lock=inner.lock)
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
        return {"version": "graphwright", "worker": os.getpid(), "flags": {"assistants": True, "crons": False}}

    for router in (assistants_router(service), threads_router(service), runs_router(service), store_router(service)):
        app.include_router(router, responses=_COMMON_RESPONSES)
    return app


_COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid API key (`x-api-key: KEY` or `Authorization: Bearer KEY`)."},
    404: {"description": "Not found, or owned by another tenant."},
    413: {"description": "Request body over the size limit (refused before it is read)."},
    429: {"description": "Over the tenant's rate limit; `Retry-After` says when to retry."},
}


def _postgres_conn(checkpointer: Any) -> Any:
    """The psycopg connection of a `PostgresSaver` (the records then share its database), else None."""
    inner = getattr(checkpointer, "inner", checkpointer)
    conn = getattr(inner, "conn", None)
    if type(inner).__name__ != "PostgresSaver" or not hasattr(conn, "execute"):
        return None
    return conn
