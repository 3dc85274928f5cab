"""Drawing graphs offline: Mermaid text, Graphviz DOT, SVG and PNG, optionally with a run's path on top.

Any compiled LangGraph graph (or a `StateGraph`, compiled here without a checkpointer) can be drawn. Nothing
goes over the network: SVG and PNG come from Graphviz's `dot` when it is installed, otherwise from a networkx
layout drawn with matplotlib. Fixed edges are solid, conditional edges dashed and labelled with the routing
function (and the `path_map` key when it differs from the target). `xray` expands subgraphs into clusters.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Literal

from langchain_core.runnables.graph import Graph as Drawable
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel

from ..errors import DrawingError
from ._diagram import COLOURS, PLAIN, TAKEN, Diagram, DiagramNode, _compiled, diagram
from ._runpath import RunPath

Format = Literal["mermaid", "dot", "svg", "png"]

FORMATS: tuple[str, ...] = ("mermaid", "dot", "svg", "png")
"""The formats `render` and `save_drawing` write; `svg` and `png` are pictures, the others text."""
ENGINES = ("auto", "graphviz", "matplotlib")
"""The picture renderers `render` and `save_drawing` take; `auto` is Graphviz when installed, else matplotlib."""
FONT = "Helvetica,Arial,sans-serif"

def to_mermaid(
    graph: StateGraph | Pregel, *, xray: bool | int = False, conditions: bool = False, run: RunPath | None = None
) -> str:
    """Return `graph` as Mermaid text: LangGraph's own `draw_mermaid` output, optionally with more on it.

    With the defaults the text is exactly LangGraph's (conditional edges dashed, labelled only with `path_map`
    keys that differ from their targets). Nothing is rendered and nothing goes over the network.

    Args:
        graph: a compiled graph, or a `StateGraph`.
        xray: True (or a depth) expands subgraphs into Mermaid `subgraph` blocks.
        conditions: True labels every conditional edge with its routing function (as the pictures do).
        run: a `RunPath` to show: visit numbers, counts and time on nodes; classes `visited`, `waiting`,
            `failed`; the edges taken thick and green.

    Raises:
        DrawingError: as for `diagram`.

    Example:
        >>> from typing import TypedDict
        >>> from langgraph.graph import StateGraph
        >>> class S(TypedDict):
        ...     n: int
        >>> steps = StateGraph(S).add_sequence([("a", lambda s: {}), ("b", lambda s: {})]).add_edge("__start__", "a")
        >>> "a --> b;" in to_mermaid(steps)
        True
    """
    compiled = _compiled(graph)
    drawable = compiled.get_graph(xray=xray)
    if not conditions and run is None:
        return drawable.draw_mermaid()
    shown = diagram(compiled, xray=xray, run=run)
    by_id = {node.id: node for node in shown.nodes}
    labels = {(e.source, e.target): e.label for e in shown.edges}
    copy = Drawable(nodes=dict(drawable.nodes), edges=list(drawable.edges))
    if conditions:
        copy.edges = [
            edge._replace(data=labels.get((edge.source, edge.target)) or edge.data) if edge.conditional else edge
            for edge in copy.edges
        ]
    if run is not None:
        for node_id, node in list(copy.nodes.items()):
            extra = _run_lines(by_id[node_id]) if node_id in by_id else []
            if extra:
                copy.nodes[node_id] = node._replace(metadata={**(node.metadata or {}), "run": " · ".join(extra)})
    text = copy.draw_mermaid()
    if run is not None:
        text = _mermaid_run_styles(text, shown)
    return text

def to_dot(graph: StateGraph | Pregel, *, xray: bool | int = False, run: RunPath | None = None) -> str:
    """Return `graph` as Graphviz DOT text (render it with `dot -Tsvg`, or with `render`).

    Args:
        graph: a compiled graph, or a `StateGraph`.
        xray: True (or a depth) expands subgraphs into clusters.
        run: a `RunPath` to draw on the graph.

    Raises:
        DrawingError: as for `diagram`.

    Example:
        >>> from typing import TypedDict
        >>> from langgraph.graph import StateGraph
        >>> class S(TypedDict):
        ...     n: int
        >>> steps = StateGraph(S).add_sequence([("a", lambda s: {}), ("b", lambda s: {})]).add_edge("__start__", "a")
        >>> [line.strip() for line in to_dot(steps).splitlines() if "->" in line]
        ['"__start__" -> "a";', '"a" -> "b";', '"b" -> "__end__";']
    """
    compiled = _compiled(graph)
    return _dot_text(diagram(compiled, xray=xray, run=run), name=compiled.name or "graph")

def render(
    graph: StateGraph | Pregel,
    format: str = "svg",
    *,
    xray: bool | int = False,
    conditions: bool = False,
    run: RunPath | None = None,
    engine: str = "auto",
) -> bytes:
    """Return `graph` drawn in `format` as bytes (UTF-8 text for `mermaid` and `dot`), with no network.

    Args:
        graph: a compiled graph, or a `StateGraph`.
        format: one of `FORMATS`.
        xray: True (or a depth) expands subgraphs.
        conditions: for `mermaid`, label every conditional edge with its routing function.
        run: a `RunPath` to draw on the graph.
        engine: for `svg`/`png`: `graphviz` (needs `dot` on PATH), `matplotlib`, or `auto` (Graphviz when
            installed).

    Raises:
        DrawingError: an unknown format or engine, Graphviz asked for but missing or failing, or as for
            `diagram`.
    """
    if format not in FORMATS:
        raise DrawingError(f"unknown format {format!r}: use one of {', '.join(FORMATS)}")
    if engine not in ENGINES:
        raise DrawingError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    if format == "mermaid":
        return to_mermaid(graph, xray=xray, conditions=conditions, run=run).encode()
    compiled = _compiled(graph)
    shown = diagram(compiled, xray=xray, run=run)
    text = _dot_text(shown, name=compiled.name or "graph")
    if format == "dot":
        return text.encode()
    dot = shutil.which("dot")
    if engine == "graphviz" and dot is None:
        raise DrawingError("Graphviz's `dot` is not on PATH: install Graphviz (Debian: graphviz) or use matplotlib")
    if dot is not None and engine != "matplotlib":
        return _run_dot(dot, text, format)
    from ._draw_mpl import draw_with_matplotlib

    return draw_with_matplotlib(shown, format)

def save_drawing(
    graph: StateGraph | Pregel,
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    xray: bool | int = False,
    conditions: bool = False,
    run: RunPath | None = None,
    engine: str = "auto",
) -> Path:
    """Draw `graph` into the file `path`, all or nothing (written to a temporary file, then renamed).

    Args:
        graph: a compiled graph, or a `StateGraph`.
        path: the file to write; its folder must exist.
        format: one of `FORMATS`; None takes it from the file's suffix (`.mmd`/`.mermaid`, `.dot`/`.gv`,
            `.svg`, `.png`).
        xray, conditions, run, engine: as for `render`.

    Returns:
        The path written.

    Raises:
        DrawingError: the format is unknown or disagrees with the suffix, the folder is missing, the path is a
            folder, or as for `render`.
    """
    target = Path(path)
    format = _check_format(format, target)
    _check_target(target)
    data = render(graph, format, xray=xray, conditions=conditions, run=run, engine=engine)
    _write_atomically(target, data)
    return target

SUFFIXES = {".mmd": "mermaid", ".mermaid": "mermaid", ".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png"}

def check_drawing(
    format: str | None = None, path: str | os.PathLike[str] | None = None, *, engine: str = "auto"
) -> str:
    """Return the format a drawing gets (`format`, else the one `path`'s suffix names, else `mermaid`), after
    checking that it can be made: a known format and engine, and `path` (when given) a file that can be written.

    Nothing is drawn or written, so a command can refuse bad input before it loads a graph.

    Raises:
        DrawingError: an unknown format or engine, a format that disagrees with `path`'s suffix, or a `path`
            that is a folder or lies in a folder that is missing or not writable.

    Example:
        >>> check_drawing(None, "graph.png"), check_drawing("dot")
        ('png', 'dot')
    """
    target = Path(path) if path is not None else None
    chosen = _check_format(format, target)
    if engine not in ENGINES:
        raise DrawingError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    if target is not None:
        _check_target(target)
    return chosen


def _check_format(format: str | None, path: Path | None) -> str:
    """Return the format to write: `format`, or the one `path`'s suffix names, or `mermaid`.

    Raises:
        DrawingError: `format` is unknown, or it disagrees with a known suffix of `path`.

    Example:
        >>> _check_format(None, Path("graph.png")), _check_format("dot", None)
        ('png', 'dot')
    """
    implied = SUFFIXES.get(path.suffix.lower()) if path is not None else None
    if format is None:
        return implied or "mermaid"
    if format not in FORMATS:
        raise DrawingError(f"unknown format {format!r}: use one of {', '.join(FORMATS)}")
    if implied is not None and implied != format:
        raise DrawingError(f"{path} ends in {path.suffix} but the format asked for is {format}")
    return format

def _check_target(target: Path) -> None:
    """Raise `DrawingError` unless `target` can be written: not a folder, in a folder that exists."""
    if target.is_dir():
        raise DrawingError(f"{target} is a folder, not a file")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise DrawingError(f"cannot write {target}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DrawingError(f"cannot write {target}: folder {folder} is not writable")

def _write_atomically(target: Path, data: bytes) -> None:
    """Write `data` to `target` through a temporary file in the same folder, renamed into place."""
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    try:
        with temp.open("xb") as out:  # the usual permissions (umask), unlike mkstemp's 0600
            out.write(data)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise

def _dot_text(shown: Diagram, *, name: str = "graph") -> str:
    """Return the DOT text of a `Diagram` (what `to_dot` returns for a graph)."""
    lines = [f"digraph {_q(name)} {{"]
    graph_attrs = f'rankdir=TB, fontname="{FONT}", nodesep=0.45, ranksep=0.5, pad=0.25'
    if shown.title:
        graph_attrs += f', label={_q(shown.title)}, labelloc=t, fontsize=15'
    lines.append(f"  graph [{graph_attrs}];")
    lines.append(
        f'  node [shape=box, style="rounded,filled", fontname="{FONT}", fontsize=12, '
        f'fillcolor="{PLAIN["fill"]}", color="{PLAIN["line"]}", margin="0.18,0.07"];'
    )
    lines.append(f'  edge [fontname="{FONT}", fontsize=10, color="{PLAIN["line"]}", arrowsize=0.8];')
    members: dict[tuple[str, ...], list[DiagramNode]] = {}
    for node in shown.nodes:
        members.setdefault(node.cluster, []).append(node)

    def emit(path: tuple[str, ...], indent: str) -> None:
        for node in members.get(path, []):
            lines.append(f"{indent}{_q(node.id)} [{_node_attrs(node)}];")
        for child in (c for c in shown.clusters if len(c.path) == len(path) + 1 and c.path[: len(path)] == path):
            colours = COLOURS[child.state]
            lines.append(f"{indent}subgraph {_q('cluster_' + ':'.join(child.path))} {{")
            look = 'style="rounded,dashed"' if child.state == "plain" else (
                f'style="rounded,dashed,filled"; fillcolor="{colours["fill"]}"; penwidth=2'
            )
            lines.append(
                f'{indent}  label={_q(child.label)}; {look}; color="{colours["line"]}"; fontcolor="{colours["line"]}";'
            )
            emit(child.path, indent + "  ")
            lines.append(f"{indent}}}")

    emit((), "  ")
    for edge in shown.edges:
        attrs = []
        if edge.conditional:
            attrs.append("style=dashed")
        label = edge.label or ""
        if edge.taken:
            label = f"{label} ×{edge.taken}".strip() if edge.taken > 1 else label
            attrs.append(f'color="{TAKEN}", fontcolor="{TAKEN}", penwidth=2.4')
        if label:
            attrs.append(f"label={_q(' ' + label + ' ')}")
        lines.append(f"  {_q(edge.source)} -> {_q(edge.target)}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    lines.append("}")
    return "\n".join(lines) + "\n"

def _node_attrs(node: DiagramNode) -> str:
    attrs = [f"label={_q(node.label)}"]
    if node.kind != "node":
        attrs += ["shape=oval", 'style="filled"', 'fillcolor="#ffffff"' if node.kind == "start" else 'fillcolor="#d9d4fb"']
    elif node.state != "plain":
        colours = COLOURS[node.state]
        attrs += [f'fillcolor="{colours["fill"]}"', f'color="{colours["line"]}"']
        attrs.append("penwidth=3" if node.state in ("waiting", "failed") else "penwidth=1.6")
    return ", ".join(attrs)

def _q(text: str) -> str:
    """A DOT quoted string; newlines become centred line breaks."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

def _run_dot(dot: str, text: str, format: str) -> bytes:
    command = [dot, f"-T{format}"] + (["-Gdpi=144"] if format == "png" else [])
    try:
        done = subprocess.run(command, input=text.encode(), capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DrawingError(f"Graphviz could not be run: {exc}") from exc
    if done.returncode != 0 or not done.stdout:
        raise DrawingError(f"Graphviz failed ({done.returncode}): {done.stderr.decode(errors='replace').strip()}")
    return done.stdout

def _run_lines(node: DiagramNode) -> list[str]:
    return node.label.split("\n")[1:] if node.state != "plain" else []

_EDGE_LINE = re.compile(r"^\t(\S+) (?:-->|-\.->|-\. .*? \.->|-- .*? -->) (\S+);$")

def _mermaid_run_styles(text: str, shown: Diagram) -> str:
    from langchain_core.runnables.graph_mermaid import _to_safe_id

    taken = {(_to_safe_id(e.source), _to_safe_id(e.target)) for e in shown.edges if e.taken}
    indexes = []
    for index, match in enumerate(m for m in map(_EDGE_LINE.match, text.splitlines()) if m):
        if (match.group(1), match.group(2)) in taken:
            indexes.append(str(index))
    extra = []
    for state in ("visited", "waiting", "failed"):
        ids = [_to_safe_id(n.id) for n in shown.nodes if n.state == state]
        if ids:
            colours = COLOURS[state]
            width = "3px" if state != "visited" else "1.5px"
            extra.append(f"\tclassDef {state} fill:{colours['fill']},stroke:{colours['line']},stroke-width:{width}")
            extra.append(f"\tclass {','.join(ids)} {state}")
    if indexes:
        extra.append(f"\tlinkStyle {','.join(indexes)} stroke:{TAKEN},stroke-width:3px")
    return text.rstrip("\n") + "\n" + "\n".join(extra) + "\n"
