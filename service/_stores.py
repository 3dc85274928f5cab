"""The `/store/...` routes: the long-term store (any LangGraph `BaseStore`), one namespace tree per tenant.

A caller's namespace `["notes", "x"]` is stored as `[tenant, "notes", "x"]`, so tenants never see each other's
items; graphs reach the same items through their `store` under the tenant's prefix (the tenant id is in the
run config as `configurable["graphwright_tenant"]`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, HTTPException, Query, Request, Response

from ._encode import jsonable
from ._schemas import StoreDelete, StoreNamespaces, StorePut, StoreSearch


def _item(item: Any) -> dict[str, Any]:
    out = jsonable(item.dict())
    out["namespace"] = list(out["namespace"])[1:]
    return out


def store_router(svc: Any) -> APIRouter:
    """Routes for `client.store`: put, get, delete and search items, list namespaces."""
    router = APIRouter(prefix="/store", tags=["store"])

    def scoped(request: Request, namespace: list[str]) -> tuple[str, ...]:
        for label in namespace:
            if not label or "." in label:
                raise HTTPException(422, f"invalid namespace label {label!r}: labels are non-empty, without '.'")
        return (request.scope["state"]["tenant"], *namespace)

    @router.put("/items", status_code=204)
    async def put_item(request: Request, body: StorePut) -> Response:
        """Store `value` under `namespace`/`key`."""
        index = body.index if body.index is not None else None
        kwargs: dict[str, Any] = {} if index is None else {"index": index}
        if body.ttl is not None:
            kwargs["ttl"] = body.ttl
        await svc.store.aput(scoped(request, body.namespace), body.key, body.value, **kwargs)
        return Response(status_code=204)

    @router.get("/items")
    async def get_item(
        request: Request, key: str = Query(..., min_length=1), namespace: str = Query(""), refresh_ttl: bool = False
    ) -> dict:
        """One item by namespace (labels joined by '.') and key."""
        labels = namespace.split(".") if namespace else []
        item = await svc.store.aget(scoped(request, labels), key)
        if item is None:
            raise HTTPException(404, f"no item {key!r} in namespace {labels}")
        return _item(item)

    @router.delete("/items", status_code=204)
    async def delete_item(request: Request, body: StoreDelete) -> Response:
        """Delete one item."""
        await svc.store.adelete(scoped(request, body.namespace), body.key)
        return Response(status_code=204)

    @router.post("/items/search")
    async def search_items(request: Request, body: StoreSearch = Body(default_factory=StoreSearch)) -> dict:
        """Items under a namespace prefix, filtered by value fields (and `query` when the store has an index)."""
        items = await svc.store.asearch(
            scoped(request, body.namespace_prefix),
            query=body.query,
            filter=body.filter,
            limit=body.limit,
            offset=body.offset,
        )
        return {"items": [_item(i) for i in items]}

    @router.post("/namespaces")
    async def list_namespaces(request: Request, body: StoreNamespaces = Body(default_factory=StoreNamespaces)) -> dict:
        """Namespaces under a prefix (and ending with a suffix), up to `max_depth` labels."""
        found = await svc.store.alist_namespaces(
            prefix=scoped(request, body.prefix or []),
            suffix=tuple(body.suffix) if body.suffix else None,
            max_depth=body.max_depth + 1 if body.max_depth else None,
            limit=body.limit,
            offset=body.offset,
        )
        return {"namespaces": [list(ns)[1:] for ns in found]}

    return router
