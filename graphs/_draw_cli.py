"""`graphwright draw GRAPH [--format mermaid|dot|svg|png] [--thread ID [--db PATH|URL]] [-o FILE]`.

Prints Mermaid text by default. `--format` (or the suffix of `-o`) picks DOT, SVG or PNG; pictures need `-o`.
With `--thread` the thread's latest run is drawn on the graph: nodes visited with their order, counts and time,
the node where it stopped or waits, failed nodes in red. Nothing goes over the network; the file is written
whole or not at all.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, TextIO

from ..errors import DrawingError, ThreadStateError
from ._compile import compile_graph
from ._draw import ENGINES, FORMATS, _check_format, _check_target, render, save_drawing
from ._registry import DEFAULT_GRAPH, load_graph
from ._runpath import read_run_path
from ._threads import check_thread_id, thread_config


def add_draw_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add the `draw` subcommand to `subparsers` (from `ArgumentParser.add_subparsers`) and return its parser.

    Example:
        >>> parser = argparse.ArgumentParser(prog="graphwright")
        >>> _ = add_draw_command(parser.add_subparsers(dest="command"))
        >>> args = parser.parse_args(["draw", "assistant", "--format", "png", "-o", "a.png"])
        >>> args.graph, args.format, args.output
        ('assistant', 'png', 'a.png')
    """
    draw = subparsers.add_parser(
        "draw",
        help="draw a graph (Mermaid, DOT, SVG, PNG), optionally with a thread's run on it",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    draw.add_argument("graph", nargs="?", default=None, help="built-in name or module:attr (default: assistant)")
    draw.add_argument("--format", default=None, metavar="|".join(FORMATS), help="default: from -o's suffix, else mermaid")
    draw.add_argument("-o", "--output", default=None, metavar="FILE", help="write here instead of printing")
    draw.add_argument("--thread", default=None, help="draw this thread's latest run on the graph")
    draw.add_argument(
        "--db",
        default=os.environ.get("GRAPHWRIGHT_DB"),
        help="SQLite file or postgresql:// URL holding the thread (default: $GRAPHWRIGHT_DB or the run default)",
    )
    draw.add_argument("--xray", action="store_true", help="expand subgraphs")
    draw.add_argument("--conditions", action="store_true", help="Mermaid: label conditional edges with their router")
    draw.add_argument("--engine", default="auto", metavar="|".join(ENGINES), help="picture renderer (default: auto)")
    draw.set_defaults(handler=run_draw)
    return draw


def run_draw(args: argparse.Namespace, out: TextIO) -> int:
    """Carry out a parsed `draw` command, printing text or writing `args.output`; return the exit code.

    Everything that can be checked is checked before anything is read or written.

    Raises:
        DrawingError: a bad format, engine or output path, a picture without `-o`, a run of another graph.
        ThreadStateError: the thread has no checkpoints, or there is no database to read it from.
        GraphNotFoundError, InvalidThreadIdError, CheckpointerError: as their names say.
    """
    from ..cli import DEFAULT_DB
    from ..memory import check_sqlite_path, is_postgres_url, open_checkpointer

    target = Path(args.output) if args.output else None
    format = _check_format(args.format, target)
    if args.engine not in ENGINES:
        raise DrawingError(f"unknown engine {args.engine!r}: use one of {', '.join(ENGINES)}")
    if target is None and format in ("svg", "png"):
        raise DrawingError(f"{format} is a picture, not text: name the file to write with -o FILE")
    if target is not None:
        _check_target(target)
    thread = check_thread_id(args.thread) if args.thread is not None else None
    db = args.db or str(DEFAULT_DB)
    if thread is not None and not is_postgres_url(db):
        if not Path(db).is_file():
            raise ThreadStateError(f"no checkpoint database at {db}: nothing has run there (see --db)")
        check_sqlite_path(Path(db))
    builder = load_graph(args.graph or DEFAULT_GRAPH)
    options: dict[str, Any] = {"xray": args.xray, "conditions": args.conditions, "engine": args.engine}
    if thread is None:
        return _emit(compile_graph(builder), target, format, options, out)
    with open_checkpointer(db) as saver:
        graph = compile_graph(builder, checkpointer=saver)
        options["run"] = read_run_path(graph, thread_config(thread))
        return _emit(graph, target, format, options, out)


def _emit(graph: Any, target: Path | None, format: str, options: dict[str, Any], out: TextIO) -> int:
    if target is None:
        out.write(render(graph, format, **options).decode())
        return 0
    save_drawing(graph, target, format=format, **options)
    print(f"wrote {target}", file=out)
    return 0
