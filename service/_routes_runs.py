"""The run routes: start runs on a thread or stateless (background, streamed, waited), list, join, cancel."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ..graphs import check_thread_id
from ._encode import jsonable, sse
from ._input import INT64_MAX, checked_router
from ._records import new_thread_row, now
from ._runs import RunHandle, run_result
from ._schemas import RunCreate
from ._service import Service, state_config, tenant_of

_SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-Sent Events: `metadata` (run id) first, then one event per stream mode "
        "(`values`, `updates`, `messages`, `custom`, ...; `error` on failure), `end` last.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    409: {"description": "The thread is busy and the multitask strategy is `reject`."},
}


def runs_router(svc: Service) -> APIRouter:
    """Routes for `client.runs`: runs on a thread and stateless runs, started, streamed, waited, joined, cancelled."""
    routes = RunRoutes(svc)
    router = checked_router(tags=["runs"])
    stream = {"response_class": StreamingResponse, "responses": _SSE_DOC}
    router.add_api_route("/threads/{thread_id}/runs", routes.create_run, methods=["POST"])
    router.add_api_route("/threads/{thread_id}/runs/stream", routes.stream_run, methods=["POST"], **stream)
    router.add_api_route("/threads/{thread_id}/runs/wait", routes.wait_run, methods=["POST"])
    router.add_api_route("/runs", routes.create_stateless_run, methods=["POST"])
    router.add_api_route("/runs/stream", routes.stream_stateless_run, methods=["POST"], **stream)
    router.add_api_route("/runs/wait", routes.wait_stateless_run, methods=["POST"])
    router.add_api_route("/threads/{thread_id}/runs", routes.list_runs, methods=["GET"])
    router.add_api_route("/threads/{thread_id}/runs/{run_id}", routes.get_run, methods=["GET"])
    router.add_api_route("/threads/{thread_id}/runs/{run_id}", routes.delete_run, methods=["DELETE"], status_code=204)
    router.add_api_route("/threads/{thread_id}/runs/{run_id}/cancel", routes.cancel_run, methods=["POST"])
    router.add_api_route("/threads/{thread_id}/runs/{run_id}/join", routes.join_run, methods=["GET"])
    router.add_api_route("/threads/{thread_id}/runs/{run_id}/stream", routes.join_run_stream, methods=["GET"], **stream)
    return router


class RunRoutes:
    """The run endpoints over one app's `Service` (each method is one route; `runs_router` maps the paths)."""

    def __init__(self, svc: Service) -> None:
        self.svc = svc

    async def create_run(self, request: Request, thread_id: str, body: RunCreate) -> JSONResponse:
        """Start a background run on a thread."""
        handle = await self._start(request, thread_id, body)
        return JSONResponse(_public(handle.run), headers=_location(handle.run))

    async def stream_run(self, request: Request, thread_id: str, body: RunCreate) -> StreamingResponse:
        """Start a run on a thread and stream its events (Server-Sent Events)."""
        return _stream_response(await self._start(request, thread_id, body), body.on_disconnect)

    async def wait_run(self, request: Request, thread_id: str, body: RunCreate) -> JSONResponse:
        """Start a run on a thread and return its final values."""
        return await _wait_result(await self._start(request, thread_id, body))

    async def create_stateless_run(self, request: Request, body: RunCreate) -> JSONResponse:
        """Start a background run on a fresh temporary thread."""
        handle = await self._start(request, None, body)
        return JSONResponse(_public(handle.run), headers=_location(handle.run))

    async def stream_stateless_run(self, request: Request, body: RunCreate) -> StreamingResponse:
        """Run on a fresh temporary thread and stream its events."""
        return _stream_response(await self._start(request, None, body), body.on_disconnect)

    async def wait_stateless_run(self, request: Request, body: RunCreate) -> JSONResponse:
        """Run on a fresh temporary thread and return its final values."""
        return await _wait_result(await self._start(request, None, body))

    async def list_runs(
        self,
        request: Request,
        thread_id: str,
        limit: int = Query(10, ge=1, le=1000),
        offset: int = Query(0, ge=0, le=INT64_MAX),
        status: str | None = None,
    ) -> list[dict]:
        """The thread's runs, newest first."""
        await self.svc.thread(thread_id, tenant_of(request))
        rows = await self.svc.records.list_runs(
            thread_id, tenant_of(request), status=status, limit=limit, offset=offset
        )
        return [_public(r) for r in rows]

    async def get_run(self, request: Request, thread_id: str, run_id: str) -> dict:
        """One run."""
        return _public(await self._the_run(request, thread_id, run_id))

    async def delete_run(self, request: Request, thread_id: str, run_id: str) -> Response:
        """Delete a finished run's record (409 while it runs)."""
        run = await self._the_run(request, thread_id, run_id)
        if run["status"] in ("pending", "running"):
            raise HTTPException(409, f"run {run_id!r} is {run['status']}; cancel it first")
        await self.svc.records.delete_run(run_id)
        return Response(status_code=204)

    async def cancel_run(
        self,
        request: Request,
        thread_id: str,
        run_id: str,
        wait: bool = False,
        action: str = Query("interrupt", pattern="^(interrupt|rollback)$"),
    ) -> Response:
        """Cancel a run (on whichever worker runs it); with `wait=1`, return once it has stopped."""
        if action != "interrupt":
            raise HTTPException(422, "action 'rollback' is not supported; use 'interrupt'")
        run = await self._the_run(request, thread_id, run_id)
        await self.svc.runs.cancel(run)
        if not wait:
            return Response(status_code=202)
        await self.svc.runs.wait_terminal(run, timeout=self.svc.options.run_timeout)
        return JSONResponse(_public(await self._the_run(request, thread_id, run_id)))

    async def join_run(self, request: Request, thread_id: str, run_id: str) -> JSONResponse:
        """Wait for a run to end and return the thread's final values (works across workers)."""
        run = await self._the_run(request, thread_id, run_id)
        handle = self.svc.runs.active.get(run_id)
        if handle is not None:
            return await _wait_result(handle)
        await self.svc.runs.wait_terminal(run, timeout=self._join_timeout())
        return JSONResponse(run_result(await self._thread_state(request, thread_id)))

    async def join_run_stream(
        self, request: Request, thread_id: str, run_id: str, cancel_on_disconnect: bool = False
    ) -> StreamingResponse:
        """Stream a run's events from its start (on another worker: its final values once it ends)."""
        run = await self._the_run(request, thread_id, run_id)
        handle = self.svc.runs.active.get(run_id)
        if handle is not None:
            return _stream_response(handle, "cancel" if cancel_on_disconnect else "continue")
        frames = self._remote_frames(request, run)
        return StreamingResponse(frames, media_type="text/event-stream", headers=_location(run))

    async def _remote_frames(self, request: Request, run: dict[str, Any]) -> AsyncIterator[bytes]:
        """The events of a run another worker executes: its id, then the thread's values once it has ended."""
        yield sse("metadata", {"run_id": run["run_id"], "attempt": 1})
        status = await self.svc.runs.wait_terminal(run, timeout=self._join_timeout())
        state = await self._thread_state(request, run["thread_id"])
        yield sse("values", state.values)
        yield sse("end", {"run_id": run["run_id"], "status": status})

    def _join_timeout(self) -> float:
        """How long a join waits for a run that may still be queued behind another."""
        return self.svc.options.run_timeout + self.svc.options.enqueue_timeout

    async def _thread_state(self, request: Request, thread_id: str) -> Any:
        """The caller's thread's latest state snapshot (404 when the thread is gone or not theirs)."""
        row = await self.svc.thread(thread_id, tenant_of(request))
        return await self.svc.thread_graph(row).aget_state(state_config(thread_id))

    async def _the_run(self, request: Request, thread_id: str, run_id: str) -> dict[str, Any]:
        """The caller's run on the thread, or 404."""
        run = await self.svc.records.get_run(run_id, thread_id, tenant_of(request))
        if run is None:
            raise HTTPException(404, f"run {run_id!r} not found on thread {thread_id!r}")
        return run

    async def _start(self, request: Request, thread_id: str | None, body: RunCreate) -> RunHandle:
        """Record a run of `body` on the thread (a new temporary one when None) and start it in this worker."""
        tenant = tenant_of(request)
        graph = self.svc.graph(body.assistant_id)
        temporary = thread_id is None
        if thread_id is None:
            thread_id = str(uuid.uuid4())
        else:
            check_thread_id(thread_id)
        await self._prepare_thread(thread_id, tenant, body, temporary=temporary)
        strategy = body.multitask_strategy or self.svc.options.multitask_strategy
        claimed = False
        if strategy == "reject":
            await self._claim_or_reject(thread_id, tenant)
            claimed = True
        run = _new_run_row(thread_id, tenant, body, strategy, temporary=temporary and body.on_completion != "keep")
        try:
            await self.svc.records.create_run(run)
        except BaseException:
            if claimed:
                await self.svc.records.release_thread(thread_id, "idle")
            raise
        req = {**body.model_dump(exclude_none=True), "temporary": run["kwargs"]["temporary"]}
        return self.svc.runs.start(RunHandle(run=run, request=req, graph=graph, claimed=claimed))

    async def _prepare_thread(self, thread_id: str, tenant: str, body: RunCreate, *, temporary: bool) -> None:
        """Make sure the caller's thread exists (creating it if asked) and names the assistant that runs on it."""
        records = self.svc.records
        existing = None if temporary else await records.get_thread(thread_id, tenant)
        if existing is None:
            if not temporary and body.if_not_exists != "create":
                raise HTTPException(404, f"thread {thread_id!r} not found")
            row = new_thread_row(thread_id, tenant, body.assistant_id, {})
            if await records.create_thread(row) is None and await records.get_thread(thread_id, tenant) is None:
                raise HTTPException(404, f"thread {thread_id!r} not found")
        elif existing["graph_id"] != body.assistant_id:
            await records.set_graph(thread_id, body.assistant_id)

    async def _claim_or_reject(self, thread_id: str, tenant: str) -> None:
        """Claim the thread for the new run now, or answer 409 when another run holds it."""
        if not await self.svc.records.claim_thread(thread_id, tenant):
            raise HTTPException(
                409,
                f"thread {thread_id!r} is busy with another run; wait for it, cancel it, or send "
                "multitask_strategy='enqueue'",
            )


def _new_run_row(thread_id: str, tenant: str, body: RunCreate, strategy: str, *, temporary: bool) -> dict[str, Any]:
    """A pending run record for `body` on the thread; its `kwargs` are what running it again needs."""
    stamp = now()
    return {
        "run_id": str(uuid.uuid4()),
        "thread_id": thread_id,
        "owner": tenant,
        "assistant_id": body.assistant_id,
        "status": "pending",
        "metadata": body.metadata,
        "kwargs": {**jsonable(body.model_dump(exclude_none=True, exclude={"metadata"})), "temporary": temporary},
        "multitask_strategy": strategy,
        "created_at": stamp,
        "updated_at": stamp,
    }


def _stream_response(handle: RunHandle, on_disconnect: str | None) -> StreamingResponse:
    """The run's events as Server-Sent Events; a client that leaves cancels the run unless told to continue."""

    async def frames() -> AsyncIterator[bytes]:
        try:
            async for frame in handle.frames():
                yield frame
        finally:
            if not handle.done.is_set() and on_disconnect != "continue" and handle.task is not None:
                handle.task.cancel()

    return StreamingResponse(frames(), media_type="text/event-stream", headers=_location(handle.run))


async def _wait_result(handle: RunHandle) -> JSONResponse:
    """Wait for the run to end; its final values, or `{"__error__": ...}` when it did not succeed."""
    await handle.done.wait()
    if handle.status != "success":
        body = {"__error__": handle.error or {"error": handle.status, "message": f"run ended: {handle.status}"}}
        return JSONResponse(body, headers=_location(handle.run))
    return JSONResponse(handle.result, headers=_location(handle.run))


def _public(run: dict[str, Any]) -> dict[str, Any]:
    """A run record as the API shows it (without its owner)."""
    return {k: v for k, v in run.items() if k != "owner"}


def _location(run: dict[str, Any]) -> dict[str, str]:
    return {"Content-Location": f"/threads/{run['thread_id']}/runs/{run['run_id']}"}
