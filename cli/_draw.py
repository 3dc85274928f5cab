"""`graphwright draw GRAPH [--format mermaid|dot|svg|png] [--thread ID [--db PATH|URL]] [-o FILE]`.

Prints Mermaid text by default. `--format` (or the suffix of `-o`) picks DOT, SVG or PNG; pictures need `-o`.
With `--thread` the thread's latest run is drawn on the graph: nodes visited with their order, counts and time,
the node where it stopped or waits, failed nodes in red. Nothing goes over the network; the file is written
whole or not at all.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from ..errors import DrawingError
from ..graphs import ENGINES, FORMATS
from ._shared import GRAPH_HELP, add_db_option, existing_db

__all__ = ["add_draw_command"]


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
    draw.add_argument("graph", nargs="?", default=None, help=GRAPH_HELP)
    draw.add_argument("--format", default=None, metavar="|".join(FORMATS), help="default: from -o's suffix, else mermaid")
    draw.add_argument("-o", "--output", default=None, metavar="FILE", help="write here instead of printing")
    draw.add_argument("--thread", default=None, help="draw this thread's latest run on the graph")
    add_db_option(draw, "holding the thread")
    draw.add_argument("--xray", action="store_true", help="expand subgraphs")
    draw.add_argument("--conditions", action="store_true", help="Mermaid: label conditional edges with their router")
    draw.add_argument("--engine", default="auto", metavar="|".join(ENGINES), help="picture renderer (default: auto)")
    draw.set_defaults(handler=_cmd_draw)
    return draw


def _cmd_draw(args: argparse.Namespace, out: TextIO) -> int:
    """Carry out a parsed `draw` command, printing text or writing `args.output`; return the exit code.

    Everything that can be checked is checked before anything is read or written.

    Raises:
        DrawingError: a bad format, engine or output path, a picture without `-o`, a run of another graph.
        ThreadStateError: the thread has no checkpoints, or there is no database to read it from.
        GraphNotFoundError, InvalidThreadIdError, CheckpointerError: as their names say.
    """
    from ..graphs import DEFAULT_GRAPH, check_drawing, check_thread_id, compile_graph, load_graph, read_run_path
    from ..graphs import thread_config
    from ..memory import open_checkpointer

    target = Path(args.output) if args.output else None
    format = check_drawing(args.format, target, engine=args.engine)
    if target is None and format in ("svg", "png"):
        raise DrawingError(f"{format} is a picture, not text: name the file to write with -o FILE")
    thread = check_thread_id(args.thread) if args.thread is not None else None
    db = existing_db(args.db) if thread is not None else None
    builder = load_graph(args.graph or DEFAULT_GRAPH)
    options: dict[str, Any] = {"xray": args.xray, "conditions": args.conditions, "engine": args.engine}
    if thread is None or db is None:
        return _emit(compile_graph(builder), target, format, options, out)
    with open_checkpointer(db) as saver:
        graph = compile_graph(builder, checkpointer=saver)
        options["run"] = read_run_path(graph, thread_config(thread))
        return _emit(graph, target, format, options, out)


def _emit(graph: Any, target: Path | None, format: str, options: dict[str, Any], out: TextIO) -> int:
    from ..graphs import render, save_drawing

    if target is None:
        out.write(render(graph, format, **options).decode())
        return 0
    save_drawing(graph, target, format=format, **options)
    print(f"wrote {target}", file=out)
    return 0
