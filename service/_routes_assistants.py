"""The `/assistants` routes: one assistant per served graph, its graph, schemas and subgraphs."""

from __future__ import annotations

import typing
from typing import Any

from fastapi import Body

from ._encode import jsonable
from ._input import checked_router
from ._schemas import AssistantSearch
from ._service import Service, assistant_record


def assistants_router(svc: Service) -> APIRouter:
    """Routes for `client.assistants`: search, count and describe the served graphs."""
    routes = AssistantRoutes(svc)
    router = checked_router(prefix="/assistants", tags=["assistants"])
    router.add_api_route("/search", routes.search_assistants, methods=["POST"])
    router.add_api_route("/count", routes.count_assistants, methods=["POST"])
    router.add_api_route("/{assistant_id}", routes.get_assistant, methods=["GET"])
    router.add_api_route("/{assistant_id}/graph", routes.get_assistant_graph, methods=["GET"])
    router.add_api_route("/{assistant_id}/schemas", routes.get_assistant_schemas, methods=["GET"])
    router.add_api_route("/{assistant_id}/subgraphs", routes.get_assistant_subgraphs, methods=["GET"])
    return router


class AssistantRoutes:
    """The assistant endpoints over one app's `Service` (each method is one route; `assistants_router` maps them)."""

    def __init__(self, svc: Service) -> None:
        self.svc = svc

    async def search_assistants(self, body: AssistantSearch = Body(default_factory=AssistantSearch)) -> list[dict]:
        """List the assistants (one per served graph)."""
        names = [n for n in sorted(self.svc.graphs) if body.graph_id in (None, n) and body.name in (None, n)]
        return [assistant_record(n) for n in names[body.offset : body.offset + body.limit]]

    async def count_assistants(self, body: AssistantSearch = Body(default_factory=AssistantSearch)) -> int:
        """Count the assistants matching the filter."""
        return len([n for n in self.svc.graphs if body.graph_id in (None, n) and body.name in (None, n)])

    async def get_assistant(self, assistant_id: str) -> dict:
        """Get an assistant by id (= graph name)."""
        self.svc.graph(assistant_id)
        return assistant_record(assistant_id)

    async def get_assistant_graph(self, assistant_id: str, xray: bool | int = False) -> dict:
        """The assistant's graph as nodes and edges (for drawing)."""
        return jsonable(self.svc.graph(assistant_id).get_graph(xray=xray).to_json())

    async def get_assistant_schemas(self, assistant_id: str) -> dict:
        """JSON schemas of the assistant's input, output, state, config and context."""
        graph = self.svc.graph(assistant_id)
        return jsonable(
            {
                "graph_id": assistant_id,
                "input_schema": _schema(graph, "get_input_jsonschema", "input_schema"),
                "output_schema": _schema(graph, "get_output_jsonschema", "output_schema"),
                "state_schema": _hinted_schema(getattr(getattr(graph, "builder", None), "state_schema", None)),
                "config_schema": None,
                "context_schema": _schema(graph, "get_context_jsonschema", "context_schema"),
            }
        )

    async def get_assistant_subgraphs(self, assistant_id: str, recurse: bool = False) -> dict:
        """The assistant's subgraphs' schemas, by namespace."""
        graph = self.svc.graph(assistant_id)
        return {ns: {"graph_id": ns} for ns, _ in graph.get_subgraphs(recurse=recurse)}


def _schema(graph: Any, method: str, fallback: str) -> Any:
    """The graph's JSON schema from `graph.<method>()`, else one read from its builder's `<fallback>` class."""
    try:
        return getattr(graph, method)()
    except Exception:  # e.g. pydantic refuses `typing.TypedDict` on Python < 3.12
        return _hinted_schema(getattr(getattr(graph, "builder", None), fallback, None))


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
