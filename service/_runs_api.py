"""The run routes: start runs on a thread or stateless (background, streamed, waited), list, join, cancel."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ..graphs import check_thread_id
from ._encode import jsonable, sse
from ._records import now
from ._runs import RunHandle
from ._schemas import RunCreate
from ._service import Service, state_config, tenant_of


def runs_router(svc: Service) -> APIRouter:
    router = APIRouter(tags=["runs"])
    sse_doc = {
        200: {
            "description": "Server-Sent Events: `metadata` (run id) first, then one event per stream mode "
            "(`values`, `updates`, `messages`, `custom`, ...; `error` on failure), `end` last.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        409: {"description": "The thread is busy and the multitask strategy is `reject`."},
    }

    async def start(request: Request, thread_id: str | None, body: RunCreate) -> RunHandle:
        tenant = tenant_of(request)
        graph = svc.graph(body.assistant_id)
        temporary = thread_id is None
        if temporary:
            thread_id = str(uuid.uuid4())
        else:
            check_thread_id(thread_id)
        existing = None if temporary else await svc.records.get_thread(thread_id, tenant)
        if existing is None:
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
        elif existing["graph_id"] != body.assistant_id:
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

    @router.post("/threads/{thread_id}/runs/stream", response_class=StreamingResponse, responses=sse_doc)
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

    @router.post("/runs/stream", response_class=StreamingResponse, responses=sse_doc)
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
        await svc.thread(thread_id, tenant_of(request))
        rows = await svc.records.list_runs(thread_id, tenant_of(request), status=status, limit=limit, offset=offset)
        return [_public(r) for r in rows]

    async def the_run(request: Request, thread_id: str, run_id: str) -> dict[str, Any]:
        run = await svc.records.get_run(run_id, thread_id, tenant_of(request))
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
        row = await svc.thread(thread_id, tenant_of(request))
        state = await svc.thread_graph(row).aget_state(state_config(thread_id))
        result = jsonable(state.values)
        if state.interrupts and isinstance(result, dict):
            result["__interrupt__"] = jsonable(list(state.interrupts))
        return JSONResponse(result)

    @router.get("/threads/{thread_id}/runs/{run_id}/stream", response_class=StreamingResponse, responses=sse_doc)
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
            row = await svc.thread(thread_id, tenant_of(request))
            state = await svc.thread_graph(row).aget_state(state_config(thread_id))
            yield sse("values", state.values)
            yield sse("end", {"run_id": run_id, "status": status})

        return StreamingResponse(remote(), media_type="text/event-stream", headers=_location(run))

    return router


def _location(run: dict[str, Any]) -> dict[str, str]:
    return {"Content-Location": f"/threads/{run['thread_id']}/runs/{run['run_id']}"}
