"""`graphwright view [GRAPH ...] [--port N] [--db PATH|URL] [--reports DIR] [--trace]`: the live view (a workbench).

It serves the live view (`graphwright.service.view_app`) and the LangGraph API on 127.0.0.1 only, without
API keys (for local use).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from ..errors import DrawingError

__all__ = ["add_view_command"]


def add_view_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `view` subcommand to `subparsers` (from `ArgumentParser.add_subparsers`) and return its parser.

    Example:
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
    view.add_argument(
        "--reports", type=Path, default=Path(".graphwright/evals"),
        help="folder of eval results whose reports and episodes open from the page (default: .graphwright/evals)",
    )
    view.set_defaults(handler=_cmd_view)
    return view


def _cmd_view(args: argparse.Namespace, out: TextIO) -> int:
    """Serve the live view for `args.graphs` until interrupted.

    Raises:
        DrawingError: a bad port, or two graphs with one name.
        GraphNotFoundError, CheckpointerError: a graph or database that cannot be loaded.
    """
    import uvicorn

    from ..graphs import DEFAULT_GRAPH, load_graph
    from ..memory import MEMORY, check_sqlite_path, is_postgres_url, open_checkpointer
    from ..service import create_app, view_app

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
        app = view_app(graphs, api=create_app(graphs, checkpointer=saver, auth=False), reports=args.reports)
        print(f"live view of {', '.join(names)} at http://127.0.0.1:{args.port}/view/ (Ctrl-C stops)", file=out, flush=True)
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
    return 0
