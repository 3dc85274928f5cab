"""The `/threads` routes: create, find, count, read, patch and delete the caller's threads."""

from __future__ import annotations

import uuid

from fastapi import Body, HTTPException, Request
from fastapi.responses import Response

from ..graphs import check_thread_id
from ._input import checked_router
from ._records import new_thread_row
from ._schemas import ThreadCreate, ThreadPatch, ThreadSearch
from ._service import Service, tenant_of


def threads_router(svc: Service) -> APIRouter:
    """Routes for `client.threads` (their state and history are in `state_router`)."""
    routes = ThreadRoutes(svc)
    router = checked_router(prefix="/threads", tags=["threads"])
    router.add_api_route("", routes.create_thread, methods=["POST"])
    router.add_api_route("/search", routes.search_threads, methods=["POST"])
    router.add_api_route("/count", routes.count_threads, methods=["POST"])
    router.add_api_route("/{thread_id}", routes.get_thread, methods=["GET"])
    router.add_api_route("/{thread_id}", routes.patch_thread, methods=["PATCH"])
    router.add_api_route("/{thread_id}", routes.delete_thread, methods=["DELETE"], status_code=204)
    return router


class ThreadRoutes:
    """The thread endpoints over one app's `Service` (each method is one route; `threads_router` maps the paths)."""

    def __init__(self, svc: Service) -> None:
        self.svc = svc

    async def create_thread(self, request: Request, body: ThreadCreate = Body(default_factory=ThreadCreate)) -> dict:
        """Create a thread owned by the caller."""
        tenant = tenant_of(request)
        thread_id = check_thread_id(body.thread_id) if body.thread_id else str(uuid.uuid4())
        if body.graph_id is not None:
            self.svc.graph(body.graph_id)
        created = await self.svc.records.create_thread(new_thread_row(thread_id, tenant, body.graph_id, body.metadata))
        if created is None:
            mine = await self.svc.records.get_thread(thread_id, tenant)
            if mine is not None and body.if_exists == "do_nothing":
                return await self.svc.thread_out(mine)
            raise HTTPException(409, f"thread {thread_id!r} already exists")
        return await self.svc.thread_out(created)

    async def search_threads(
        self, request: Request, body: ThreadSearch = Body(default_factory=ThreadSearch)
    ) -> list[dict]:
        """The caller's threads matching metadata and status, newest first."""
        rows = await self.svc.records.search_threads(
            tenant_of(request), metadata=body.metadata, status=body.status, limit=body.limit, offset=body.offset
        )
        if body.ids is not None:
            rows = [r for r in rows if r["thread_id"] in set(body.ids)]
        return [await self.svc.thread_out(r) for r in rows]

    async def count_threads(self, request: Request, body: ThreadSearch = Body(default_factory=ThreadSearch)) -> int:
        """Count the caller's threads matching the filter."""
        rows = await self.svc.records.search_threads(
            tenant_of(request), metadata=body.metadata, status=body.status, limit=1_000_000, offset=0
        )
        return len(rows)

    async def get_thread(self, request: Request, thread_id: str) -> dict:
        """Get one of the caller's threads."""
        return await self.svc.thread_out(await self.svc.thread(thread_id, tenant_of(request)))

    async def patch_thread(self, request: Request, thread_id: str, body: ThreadPatch) -> dict:
        """Merge metadata into a thread's."""
        row = await self.svc.records.patch_thread(thread_id, tenant_of(request), body.metadata)
        if row is None:
            raise HTTPException(404, f"thread {thread_id!r} not found")
        return await self.svc.thread_out(row)

    async def delete_thread(self, request: Request, thread_id: str) -> Response:
        """Delete a thread, its runs and its checkpoints (409 while a run is busy on it)."""
        row = await self.svc.thread(thread_id, tenant_of(request))
        if row["status"] == "busy":
            raise HTTPException(409, f"thread {thread_id!r} has a run in progress; cancel it first")
        await self.svc.records.delete_thread(thread_id, tenant_of(request))
        saver = self.svc.thread_graph(row).checkpointer
        if saver is not None:
            await saver.adelete_thread(thread_id)
        return Response(status_code=204)
