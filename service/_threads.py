"""The `/assistants/...` and `/threads/...` routes: assistants per graph; threads, their state and history."""

from __future__ import annotations

import typing
import uuid
from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request
from fastapi.responses import Response

from ..graphs import check_thread_id
from ._encode import checkpoint_ref, jsonable, thread_state
from ._records import now
from ._schemas import (
    AssistantSearch,
    HistoryQuery,
    StateAtCheckpoint,
    StateUpdate,
    ThreadCreate,
    ThreadPatch,
    ThreadSearch,
)
from ._service import Service, assistant_record, state_config, tenant_of


def assistants_router(svc: Service) -> APIRouter:
    router = APIRouter(prefix="/assistants", tags=["assistants"])

    @router.post("/search")
    async def search_assistants(body: AssistantSearch = Body(default_factory=AssistantSearch)) -> list[dict]:
        """List the assistants (one per served graph)."""
        names = [n for n in sorted(svc.graphs) if body.graph_id in (None, n) and body.name in (None, n)]
        return [assistant_record(n) for n in names[body.offset : body.offset + body.limit]]

    @router.post("/count")
    async def count_assistants(body: AssistantSearch = Body(default_factory=AssistantSearch)) -> int:
        """Count the assistants matching the filter."""
        return len([n for n in svc.graphs if body.graph_id in (None, n) and body.name in (None, n)])

    @router.get("/{assistant_id}")
    async def get_assistant(assistant_id: str) -> dict:
        """Get an assistant by id (= graph name)."""
        svc.graph(assistant_id)
        return assistant_record(assistant_id)

    @router.get("/{assistant_id}/graph")
    async def get_assistant_graph(assistant_id: str, xray: bool | int = False) -> dict:
        """The assistant's graph as nodes and edges (for drawing)."""
        return jsonable(svc.graph(assistant_id).get_graph(xray=xray).to_json())

    @router.get("/{assistant_id}/schemas")
    async def get_assistant_schemas(assistant_id: str) -> dict:
        """JSON schemas of the assistant's input, output, state, config and context."""
        graph = svc.graph(assistant_id)

        builder = getattr(graph, "builder", None)

        def schema(method: str, fallback: str) -> Any:
            try:
                return getattr(graph, method)()
            except Exception:  # e.g. pydantic refuses `typing.TypedDict` on Python < 3.12
                return _hinted_schema(getattr(builder, fallback, None))

        return jsonable(
            {
                "graph_id": assistant_id,
                "input_schema": schema("get_input_jsonschema", "input_schema"),
                "output_schema": schema("get_output_jsonschema", "output_schema"),
                "state_schema": _hinted_schema(getattr(builder, "state_schema", None)),
                "config_schema": None,
                "context_schema": schema("get_context_jsonschema", "context_schema"),
            }
        )

    @router.get("/{assistant_id}/subgraphs")
    async def get_assistant_subgraphs(assistant_id: str, recurse: bool = False) -> dict:
        """The assistant's subgraphs' schemas, by namespace."""
        graph = svc.graph(assistant_id)
        return {ns: {"graph_id": ns} for ns, _ in graph.get_subgraphs(recurse=recurse)}

    return router


def threads_router(svc: Service) -> APIRouter:
    router = APIRouter(prefix="/threads", tags=["threads"])

    @router.post("")
    async def create_thread(request: Request, body: ThreadCreate = Body(default_factory=ThreadCreate)) -> dict:
        """Create a thread owned by the caller."""
        tenant = tenant_of(request)
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
            tenant_of(request), metadata=body.metadata, status=body.status, limit=body.limit, offset=body.offset
        )
        if body.ids is not None:
            rows = [r for r in rows if r["thread_id"] in set(body.ids)]
        return [await svc.thread_out(r) for r in rows]

    @router.post("/count")
    async def count_threads(request: Request, body: ThreadSearch = Body(default_factory=ThreadSearch)) -> int:
        """Count the caller's threads matching the filter."""
        rows = await svc.records.search_threads(
            tenant_of(request), metadata=body.metadata, status=body.status, limit=1_000_000, offset=0
        )
        return len(rows)

    @router.get("/{thread_id}")
    async def get_thread(request: Request, thread_id: str) -> dict:
        """Get one of the caller's threads."""
        return await svc.thread_out(await svc.thread(thread_id, tenant_of(request)))

    @router.patch("/{thread_id}")
    async def patch_thread(request: Request, thread_id: str, body: ThreadPatch) -> dict:
        """Merge metadata into a thread's."""
        row = await svc.records.patch_thread(thread_id, tenant_of(request), body.metadata)
        if row is None:
            raise HTTPException(404, f"thread {thread_id!r} not found")
        return await svc.thread_out(row)

    @router.delete("/{thread_id}", status_code=204)
    async def delete_thread(request: Request, thread_id: str) -> Response:
        """Delete a thread, its runs and its checkpoints (409 while a run is busy on it)."""
        row = await svc.thread(thread_id, tenant_of(request))
        if row["status"] == "busy":
            raise HTTPException(409, f"thread {thread_id!r} has a run in progress; cancel it first")
        await svc.records.delete_thread(thread_id, tenant_of(request))
        saver = svc.thread_graph(row).checkpointer
        if saver is not None:
            await saver.adelete_thread(thread_id)
        return Response(status_code=204)

    @router.get("/{thread_id}/state")
    async def get_state(request: Request, thread_id: str, subgraphs: bool = False) -> dict:
        """The thread's latest state."""
        row = await svc.thread(thread_id, tenant_of(request))
        return thread_state(await svc.thread_graph(row).aget_state(state_config(thread_id), subgraphs=subgraphs))

    @router.get("/{thread_id}/state/{checkpoint_id}")
    async def get_state_at(request: Request, thread_id: str, checkpoint_id: str, subgraphs: bool = False) -> dict:
        """The thread's state at a checkpoint."""
        row = await svc.thread(thread_id, tenant_of(request))
        config = state_config(thread_id, checkpoint_id)
        return thread_state(await svc.thread_graph(row).aget_state(config, subgraphs=subgraphs))

    @router.post("/{thread_id}/state/checkpoint")
    async def get_state_at_checkpoint(request: Request, thread_id: str, body: StateAtCheckpoint) -> dict:
        """The thread's state at the checkpoint in the body."""
        row = await svc.thread(thread_id, tenant_of(request))
        config = state_config(thread_id, body.checkpoint.checkpoint_id, body.checkpoint.checkpoint_ns or "")
        return thread_state(await svc.thread_graph(row).aget_state(config, subgraphs=body.subgraphs))

    @router.post("/{thread_id}/state")
    async def update_state(request: Request, thread_id: str, body: StateUpdate) -> dict:
        """Write values to the thread's state as if `as_node` had returned them; returns the new checkpoint."""
        tenant = tenant_of(request)
        row = await svc.thread(thread_id, tenant)
        if not await svc.records.claim_thread(thread_id, tenant):
            raise HTTPException(409, f"thread {thread_id!r} has a run in progress; update its state after it ends")
        status = "idle"
        try:
            graph = svc.thread_graph(row)
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
            await svc.records.release_thread(thread_id, status)
        return {"checkpoint": checkpoint_ref(config)}

    @router.post("/{thread_id}/history")
    async def get_history(
        request: Request, thread_id: str, body: HistoryQuery = Body(default_factory=HistoryQuery)
    ) -> list[dict]:
        """The thread's past states, newest first."""
        row = await svc.thread(thread_id, tenant_of(request))
        before = body.before
        before_config = None
        if isinstance(before, str):
            before_config = state_config(thread_id, before)
        elif before is not None:
            before_config = state_config(thread_id, before.checkpoint_id)
        config = state_config(thread_id, body.checkpoint.checkpoint_id if body.checkpoint else None)
        out = []
        async for snap in svc.thread_graph(row).aget_state_history(
            config, filter=body.metadata, before=before_config, limit=body.limit
        ):
            out.append(thread_state(snap))
        return out

    return router


_JSON_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean", list: "array", dict: "object"}


def _hinted_schema(cls: Any) -> dict[str, Any] | None:
    """A plain JSON schema from a state class's type hints (top-level field types only)."""
    if cls is None:
        return None
    try:
        hints = typing.get_type_hints(cls)
    except Exception:
        return None
    props = {}
    for name, hint in hints.items():
        base = typing.get_origin(hint) or hint
        if base is typing.Annotated:
            base = typing.get_origin(typing.get_args(hint)[0]) or typing.get_args(hint)[0]
        props[name] = {"type": _JSON_TYPES[base]} if base in _JSON_TYPES else {}
    required = sorted(getattr(cls, "__required_keys__", ()))
    return {"title": getattr(cls, "__name__", "State"), "type": "object", "properties": props, "required": required}
