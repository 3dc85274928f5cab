"""The `/threads/{thread_id}/state` and `/history` routes: a thread's checkpoints, read, written and listed."""

from __future__ import annotations

from typing import Any

from fastapi import Body, HTTPException, Request

from ._encode import checkpoint_ref, thread_state
from ._input import checked_router
from ._schemas import HistoryQuery, StateAtCheckpoint, StateUpdate
from ._service import Service, state_config, tenant_of


def state_router(svc: Service) -> APIRouter:
    """Routes for `client.threads.get_state`, `update_state` and `get_history`."""
    routes = StateRoutes(svc)
    router = checked_router(prefix="/threads", tags=["threads"])
    router.add_api_route("/{thread_id}/state", routes.get_state, methods=["GET"])
    router.add_api_route("/{thread_id}/state/{checkpoint_id}", routes.get_state_at, methods=["GET"])
    router.add_api_route("/{thread_id}/state/checkpoint", routes.get_state_at_checkpoint, methods=["POST"])
    router.add_api_route("/{thread_id}/state", routes.update_state, methods=["POST"])
    router.add_api_route("/{thread_id}/history", routes.get_history, methods=["POST"])
    return router


class StateRoutes:
    """The thread-state endpoints over one app's `Service` (each method is one route; `state_router` maps them)."""

    def __init__(self, svc: Service) -> None:
        self.svc = svc

    async def get_state(self, request: Request, thread_id: str, subgraphs: bool = False) -> dict:
        """The thread's latest state."""
        return await self._state(request, thread_id, state_config(thread_id), subgraphs)

    async def get_state_at(
        self, request: Request, thread_id: str, checkpoint_id: str, subgraphs: bool = False
    ) -> dict:
        """The thread's state at a checkpoint."""
        return await self._state(request, thread_id, state_config(thread_id, checkpoint_id), subgraphs)

    async def get_state_at_checkpoint(self, request: Request, thread_id: str, body: StateAtCheckpoint) -> dict:
        """The thread's state at the checkpoint in the body."""
        config = state_config(thread_id, body.checkpoint.checkpoint_id, body.checkpoint.checkpoint_ns or "")
        return await self._state(request, thread_id, config, body.subgraphs)

    async def update_state(self, request: Request, thread_id: str, body: StateUpdate) -> dict:
        """Write values to the thread's state as if `as_node` had returned them; returns the new checkpoint."""
        tenant = tenant_of(request)
        row = await self.svc.thread(thread_id, tenant)
        if not await self.svc.records.claim_thread(thread_id, tenant):
            raise HTTPException(409, f"thread {thread_id!r} has a run in progress; update its state after it ends")
        status = "idle"
        try:
            graph = self.svc.thread_graph(row)
            checkpoint_id = body.checkpoint_id or (body.checkpoint.checkpoint_id if body.checkpoint else None)
            try:
                config = await graph.aupdate_state(
                    state_config(thread_id, checkpoint_id), body.values, as_node=body.as_node
                )
            except (ValueError, KeyError) as exc:
                raise HTTPException(422, f"cannot update state: {exc}") from exc
            state = await graph.aget_state(state_config(thread_id))
            status = "interrupted" if state.next or state.interrupts else "idle"
        finally:
            await self.svc.records.release_thread(thread_id, status)
        return {"checkpoint": checkpoint_ref(config)}

    async def get_history(
        self, request: Request, thread_id: str, body: HistoryQuery = Body(default_factory=HistoryQuery)
    ) -> list[dict]:
        """The thread's past states, newest first."""
        row = await self.svc.thread(thread_id, tenant_of(request))
        before = body.before
        before_config = None
        if isinstance(before, str):
            before_config = state_config(thread_id, before)
        elif before is not None:
            before_config = state_config(thread_id, before.checkpoint_id)
        config = state_config(thread_id, body.checkpoint.checkpoint_id if body.checkpoint else None)
        history = self.svc.thread_graph(row).aget_state_history(
            config, filter=body.metadata, before=before_config, limit=body.limit
        )
        return [thread_state(snap) async for snap in history]

    async def _state(self, request: Request, thread_id: str, config: dict[str, Any], subgraphs: bool) -> dict:
        """The caller's thread's state at `config` (404 when the thread is not theirs)."""
        row = await self.svc.thread(thread_id, tenant_of(request))
        return thread_state(await self.svc.thread_graph(row).aget_state(config, subgraphs=subgraphs))
