"""The live view, a workbench: a web page that draws a graph, runs it, and opens its threads.

The page (service/view/, served from the package: no CDN) talks to this package's LangGraph server API: it
starts a thread and a streamed run, lights each node up as its update arrives, and shows where the run failed
or waits. It lists the threads (newest first, with their status); an opened thread shows its run path on the
graph and every checkpoint, a checkpoint's state, a form to edit a value and fork from it (the API's state
update, the operation `graphwright fork` does), a pending tool call's arguments with approve / reject / edit,
and, when tracing is on, the run's spans as a timeline. Eval reports and environment episodes under a reports
folder open from the page. `view_app` serves the page at `/view/` in front of that API.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from langgraph.graph import StateGraph
from langgraph.pregel import Pregel

from ..errors import DrawingError
from ..graphs import render
from ..tracing import recent_spans

__all__ = ["ASSETS", "view_app"]

ASSETS = {"view.js": "text/javascript", "view.css": "text/css"}
"""The page's files beside index.html, with their media types."""


def view_app(
    graphs: Mapping[str, StateGraph | Pregel], *, api: Any = None, engine: str = "auto", reports: Path | None = None
) -> Any:
    """Return an ASGI app serving the live view at `/view/` and the LangGraph API (`api`) at every other path.

    The page needs no API key to load; it sends the key given in its URL fragment (`/view/#key=KEY`) to the
    API, which checks it as usual.

    Args:
        graphs: graph name -> graph, as given to `create_app`.
        api: the API app; None builds `create_app(graphs, auth=False)` (for local use only).
        engine: how pictures are drawn (see `graphwright.graphs.render`).
        reports: a folder of eval results (`graphwright eval --out`): each folder under it with a `report.html`
            or a `trajectories.jsonl` opens from the page; None lists none.

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

    async def spans(request: Any) -> Response:
        # A thread's spans go only to whom the API shows the thread: the same key, so the same tenant.
        thread_id = request.path_params["thread_id"]
        status, body = await _ask(api, f"/threads/{quote(thread_id, safe='')}", request.headers)
        if status != 200:
            return Response(body, status_code=status, media_type="application/json")
        return JSONResponse(recent_spans(thread_id))

    async def report_list(request: Any) -> Response:
        return JSONResponse(_report_folders(reports))

    async def report_file(request: Any) -> Response:
        found = _report_file(reports, request.path_params["folder"], request.path_params["name"])
        if found is None:
            return JSONResponse({"detail": "no such report file"}, status_code=404)
        if found.suffix == ".jsonl":
            return JSONResponse([json.loads(line) for line in found.read_text().splitlines() if line.strip()])
        return Response(found.read_bytes(), media_type={".html": "text/html", ".png": "image/png"}[found.suffix])

    async def to_page(request: Any) -> Response:
        return RedirectResponse(str(request.url.replace(path=request.url.path + "/")))

    routes = [
        Route("/view", to_page),
        Route("/view/", page),
        Route("/view/assets/{name}", asset),
        Route("/view/graphs", names),
        Route("/view/graphs/{name}.svg", picture),
        Route("/view/traces/{thread_id}", spans),
        Route("/view/reports", report_list),
        Route("/view/reports/{folder:path}/{name}", report_file),
        Mount("/", app=api),
    ]
    return Starlette(routes=routes)


async def _ask(api: Any, path: str, headers: Mapping[str, str]) -> tuple[int, bytes]:
    """GET `path` from the ASGI app `api` in process with the caller's credentials; return (status, body)."""
    sent = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items() if k in ("x-api-key", "authorization")]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"", "headers": sent,
             "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 80)}
    status, body = 500, bytearray()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    await api(scope, receive, send)
    return status, bytes(body)


REPORT_FILES = ("report.html", "trajectories.jsonl")
"""The files of an eval folder the page opens: the report page and the episodes' trajectories."""


def _report_folders(root: Path | None) -> list[dict[str, Any]]:
    """Folders under `root` holding a report or trajectories, newest first, with which of them they hold."""
    if root is None or not root.is_dir():
        return []
    found: dict[Path, set[str]] = {}
    for name in REPORT_FILES:
        for path in root.rglob(name):
            found.setdefault(path.parent, set()).add(name)
    ordered = sorted(found, key=lambda folder: folder.stat().st_mtime, reverse=True)
    return [{"folder": str(f.relative_to(root)) or ".", "files": sorted(found[f])} for f in ordered]


def _report_file(root: Path | None, folder: str, name: str) -> Path | None:
    """The file `folder/name` under `root` if it is one the page may open (a report, trajectories, a plot)."""
    if root is None or not (name in REPORT_FILES or name.endswith(".png")):
        return None
    base = root.resolve()
    path = (base / folder / name).resolve()
    return path if path.is_relative_to(base) and path.is_file() else None


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("view", name).read_text(encoding="utf-8")
