"""The live view: a web page that draws a graph and highlights its nodes as a run streams.

The page (service/view/, served from the package: no CDN) talks to this package's LangGraph server API: it
starts a thread and a streamed run, lights each node up as its update arrives, keeps the state after every
step one click away, and shows where the run failed or waits. `view_app` serves the page at `/view/` in front
of that API.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any

from langgraph.graph import StateGraph
from langgraph.pregel import Pregel

from ..errors import DrawingError
from ..graphs import render

__all__ = ["ASSETS", "view_app"]

ASSETS = {"view.js": "text/javascript", "view.css": "text/css"}
"""The page's files beside index.html, with their media types."""


def view_app(graphs: Mapping[str, StateGraph | Pregel], *, api: Any = None, engine: str = "auto") -> Any:
    """Return an ASGI app serving the live view at `/view/` and the LangGraph API (`api`) at every other path.

    The page needs no API key to load; it sends the key given in its URL fragment (`/view/#key=KEY`) to the
    API, which checks it as usual.

    Args:
        graphs: graph name -> graph, as given to `create_app`.
        api: the API app; None builds `create_app(graphs, auth=False)` (for local use only).
        engine: how pictures are drawn (see `graphwright.graphs.render`).

    Raises:
        DrawingError: no graphs, or a graph cannot be drawn.

    Example:
        >>> from starlette.testclient import TestClient
        >>> from langgraph.graph import START, StateGraph
        >>> from typing import TypedDict
        >>> class S(TypedDict):
        ...     n: int
        >>> g = StateGraph(S)
        >>> _ = g.add_node("inc", lambda s: {"n": s["n"] + 1})
        >>> _ = g.add_edge(START, "inc")
        >>> client = TestClient(view_app({"inc": g}))
        >>> client.get("/view/graphs").json(), client.get("/view/").status_code
        (['inc'], 200)
    """
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
    from starlette.routing import Mount, Route

    if not graphs:
        raise DrawingError("the live view needs at least one graph")
    pictures = {name: render(graph, "svg", engine=engine) for name, graph in graphs.items()}
    if api is None:
        from ._app import create_app

        api = create_app(dict(graphs), auth=False)

    async def page(request: Any) -> Response:
        return HTMLResponse(_asset("index.html"))

    async def asset(request: Any) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            return Response("not found", status_code=404)
        return Response(_asset(name), media_type=ASSETS[name])

    async def names(request: Any) -> Response:
        return JSONResponse(sorted(pictures))

    async def picture(request: Any) -> Response:
        name = request.path_params["name"]
        if name not in pictures:
            return JSONResponse({"detail": f"no graph {name!r}"}, status_code=404)
        return Response(pictures[name], media_type="image/svg+xml")

    async def to_page(request: Any) -> Response:
        return RedirectResponse(str(request.url.replace(path=request.url.path + "/")))

    routes = [
        Route("/view", to_page),
        Route("/view/", page),
        Route("/view/assets/{name}", asset),
        Route("/view/graphs", names),
        Route("/view/graphs/{name}.svg", picture),
        Mount("/", app=api),
    ]
    return Starlette(routes=routes)


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("view", name).read_text(encoding="utf-8")
