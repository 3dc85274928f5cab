"""The `/store/...` routes: the long-term store (any LangGraph `BaseStore`), one namespace tree per tenant.

A caller's namespace `["notes", "x"]` is stored as `[tenant, "notes", "x"]`, so tenants never see each other's
items; graphs reach the same items through their `store` under the tenant's prefix (the tenant id is in the
run config as `configurable["graphwright_tenant"]`).
"""

from __future__ import annotations

from typing import Any

from fastapi import Body, HTTPException, Query, Request, Response

from ..errors import RequestInputError
from ._encode import jsonable
from ._input import checked_router
from ._schemas import StoreDelete, StoreNamespaces, StorePut, StoreSearch
from ._service import Service, tenant_of


def store_router(svc: Service) -> APIRouter:
    """Routes for `client.store`: put, get, delete and search items, list namespaces."""
    routes = StoreRoutes(svc)
    router = checked_router(prefix="/store", tags=["store"])
    router.add_api_route("/items", routes.put_item, methods=["PUT"], status_code=204)
    router.add_api_route("/items", routes.get_item, methods=["GET"])
    router.add_api_route("/items", routes.delete_item, methods=["DELETE"], status_code=204)
    router.add_api_route("/items/search", routes.search_items, methods=["POST"])
    router.add_api_route("/namespaces", routes.list_namespaces, methods=["POST"])
    return router


class StoreRoutes:
    """The store endpoints over one app's `Service` (each method is one route; `store_router` maps the paths)."""

    def __init__(self, svc: Service) -> None:
        self.svc = svc

    async def put_item(self, request: Request, body: StorePut) -> Response:
        """Store `value` under `namespace`/`key` (422 for a `ttl` when the store does not expire items)."""
        kwargs: dict[str, Any] = {} if body.index is None else {"index": body.index}
        if body.ttl is not None:
            if not self.svc.store.supports_ttl:
                raise RequestInputError(
                    f"ttl is not supported: this server's store ({type(self.svc.store).__name__}) keeps items "
                    "until they are deleted; omit ttl"
                )
            kwargs["ttl"] = body.ttl
        await self.svc.store.aput(_scoped(request, body.namespace), body.key, body.value, **kwargs)
        return Response(status_code=204)

    async def get_item(
        self,
        request: Request,
        key: str = Query(..., min_length=1),
        namespace: str = Query(""),
        refresh_ttl: bool = False,
    ) -> dict:
        """One item by namespace (labels joined by '.') and key."""
        labels = namespace.split(".") if namespace else []
        item = await self.svc.store.aget(_scoped(request, labels), key)
        if item is None:
            raise HTTPException(404, f"no item {key!r} in namespace {labels}")
        return _item(item)

    async def delete_item(self, request: Request, body: StoreDelete) -> Response:
        """Delete one item."""
        await self.svc.store.adelete(_scoped(request, body.namespace), body.key)
        return Response(status_code=204)

    async def search_items(self, request: Request, body: StoreSearch = Body(default_factory=StoreSearch)) -> dict:
        """Items under a namespace prefix, filtered by value fields (and `query` when the store has an index)."""
        items = await self.svc.store.asearch(
            _scoped(request, body.namespace_prefix),
            query=body.query,
            filter=body.filter,
            limit=body.limit,
            offset=body.offset,
        )
        return {"items": [_item(i) for i in items]}

    async def list_namespaces(
        self, request: Request, body: StoreNamespaces = Body(default_factory=StoreNamespaces)
    ) -> dict:
        """Namespaces under a prefix (and ending with a suffix), up to `max_depth` labels."""
        found = await self.svc.store.alist_namespaces(
            prefix=_scoped(request, body.prefix or []),
            suffix=_labels(body.suffix) if body.suffix else None,
            max_depth=body.max_depth + 1 if body.max_depth else None,
            limit=body.limit,
            offset=body.offset,
        )
        return {"namespaces": [list(ns)[1:] for ns in found]}


def _scoped(request: Request, namespace: list[str]) -> tuple[str, ...]:
    """The caller's `namespace` inside their tenant's tree; 422 for an empty label or one with a '.'."""
    return (tenant_of(request), *_labels(namespace))


def _labels(labels: list[str]) -> tuple[str, ...]:
    """`labels` as a namespace (prefix or suffix); 422 for an empty label or one with a '.'."""
    for label in labels:
        if not label or "." in label:
            raise HTTPException(422, f"invalid namespace label {label!r}: labels are non-empty, without '.'")
    return tuple(labels)


def _item(item: Any) -> dict[str, Any]:
    """A store item as the API shows it (its namespace without the tenant)."""
    out = jsonable(item.dict())
    out["namespace"] = list(out["namespace"])[1:]
    return out
