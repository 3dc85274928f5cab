"""The live view: a web page that draws a graph and highlights its nodes as a run streams.

The page (graphs/view/, served from the package: no CDN) talks to the LangGraph server API of
`graphwright.service`: it starts a thread and a streamed run, lights each node up as its update arrives, keeps
the state after every step one click away, and shows where the run failed or waits. `view_app` serves the page
at `/view/` in front of that API.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from langgraph.graph import StateGraph
from langgraph.pregel import Pregel

from ..errors import DrawingError
from ._draw import render

ASSETS = {"view.js": "text/javascript", "view.css": "text/css"}
"""The page's files beside index.html, with their media types."""


def view_app(graphs: Mapping[str, StateGraph | Pregel], *, api: Any = None, engine: str = "auto") -> Any:
    """Return an ASGI app serving the live view at `/view/` and the LangGraph API (`api`) at every other path.

    The page needs no API key to load; it sends the key given in its URL fragment (`/view/#key=KEY`) to the
    API, which checks it as usual.

    Args:
        graphs: graph name -> graph, as given to `graphwright.service.create_app`.
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
        from ..service import create_app

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


def add_view_command(subparsers: Any) -> Any:
    """Add `graphwright view [GRAPH ...] [--port N] [--db PATH|URL]` to `subparsers`; return its parser.

    It serves the live view and the LangGraph API on 127.0.0.1 only, without API keys (for local use).

    Example:
        >>> import argparse
        >>> parser = argparse.ArgumentParser(prog="graphwright")
        >>> _ = add_view_command(parser.add_subparsers(dest="command"))
        >>> args = parser.parse_args(["view", "assistant", "--port", "9000"])
        >>> args.graphs, args.port, args.db
        (['assistant'], 9000, ':memory:')
    """
    view = subparsers.add_parser("view", help="open the live view: watch a graph's nodes light up as it runs")
    view.add_argument("graphs", nargs="*", metavar="GRAPH", help="built-in names or module:attr (default: assistant)")
    view.add_argument("--port", type=int, default=8123, help="port on 127.0.0.1 (default: 8123)")
    view.add_argument(
        "--db", default=":memory:", help="SQLite file or postgresql:// URL to keep the runs in (default: memory)"
    )
    view.set_defaults(handler=run_view)
    return view


def run_view(args: Any, out: Any) -> int:
    """Serve the live view for `args.graphs` until interrupted (the `graphwright view` command).

    Raises:
        DrawingError: a bad port, or two graphs with one name.
        GraphNotFoundError, CheckpointerError: a graph or database that cannot be loaded.
    """
    import uvicorn

    from ..memory import MEMORY, check_sqlite_path, is_postgres_url, open_checkpointer
    from ..service import create_app
    from ._registry import DEFAULT_GRAPH, load_graph

    if not 0 < args.port < 65536:
        raise DrawingError(f"--port must be 1-65535, got {args.port}")
    refs = args.graphs or [DEFAULT_GRAPH]
    names = [ref.rpartition(":")[2].rpartition(".")[2] for ref in refs]
    if len(set(names)) != len(names):
        raise DrawingError(f"two graphs would share a name: {', '.join(names)}")
    graphs = {name: load_graph(ref) for name, ref in zip(names, refs)}
    if args.db != MEMORY and not is_postgres_url(args.db):
        check_sqlite_path(Path(args.db))
    with open_checkpointer(args.db) as saver:
        app = view_app(graphs, api=create_app(graphs, checkpointer=saver, auth=False))
        print(f"live view of {', '.join(names)} at http://127.0.0.1:{args.port}/view/ (Ctrl-C stops)", file=out, flush=True)
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
    return 0
