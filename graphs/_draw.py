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
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from langchain_core.runnables.graph import Graph as Drawable
from langgraph.graph import StateGraph
from langgraph.pregel import Pregel

from .._errors import DrawingError
from ._compile import compile_graph
from ._runpath import RunPath

Format = Literal["mermaid", "dot", "svg", "png"]
FORMATS: tuple[str, ...] = ("mermaid", "dot", "svg", "png")
"""The formats `render` and `save_drawing` write; `svg` and `png` are pictures, the others text."""
ENGINES = ("auto", "graphviz", "matplotlib")
START, END = "__start__", "__end__"

# Colours: plain nodes, then the run overlay (visited, waiting, failed) and the edges a run took.
PLAIN = {"fill": "#eef0fb", "line": "#4b4f7a"}
VISITED = {"fill": "#d7f0dc", "line": "#2e7d32"}
WAITING = {"fill": "#fff1c7", "line": "#d98200"}
FAILED = {"fill": "#fad4d4", "line": "#c62828"}
TAKEN = "#2e7d32"
FONT = "Helvetica,Arial,sans-serif"


@dataclass(frozen=True)
class DiagramNode:
    """A box in the diagram."""

    id: str
    """Unique id; inside expanded subgraphs it is `sub:node`."""
    label: str
    """Text in the box (the node's own name, plus a run's numbers)."""
    kind: Literal["start", "end", "node"] = "node"
    """Start and end markers are drawn as ovals."""
    cluster: tuple[str, ...] = ()
    """The subgraphs (outermost first) the node sits in when expanded with `xray`."""
    state: Literal["plain", "visited", "waiting", "failed"] = "plain"
    """How a run overlay colours it."""


@dataclass(frozen=True)
class DiagramEdge:
    """An arrow in the diagram."""

    source: str
    """The id of the node it leaves."""
    target: str
    """The id of the node it enters."""
    conditional: bool
    """True for a routed (conditional) edge, drawn dashed."""
    label: str | None = None
    """The condition: the routing function's name, with the `path_map` key when it differs from the target."""
    taken: int = 0
    """Times a run overlay went along it."""


@dataclass(frozen=True)
class DiagramCluster:
    """A subgraph expanded with `xray`: a frame around its nodes."""

    path: tuple[str, ...]
    """The subgraph's name inside its parents, outermost first."""
    label: str
    """Text at the top of the frame (its name, plus a run's numbers)."""
    state: Literal["plain", "visited", "waiting", "failed"] = "plain"
    """How a run overlay colours it."""


@dataclass(frozen=True)
class Diagram:
    """A graph reduced to what a picture needs; all renderers draw from this."""

    nodes: tuple[DiagramNode, ...]
    """Boxes, in the graph's order."""
    edges: tuple[DiagramEdge, ...]
    """Arrows."""
    title: str | None = None
    """A heading (a run overlay's thread and status)."""
    clusters: tuple[DiagramCluster, ...] = ()
    """Expanded subgraphs, outer ones before the ones inside them."""


def diagram(graph: StateGraph | Pregel, *, xray: bool | int = False, run: RunPath | None = None) -> Diagram:
    """Return the `Diagram` of `graph`: its nodes, edges and conditions, with `run`'s path when given.

    Args:
        graph: a compiled graph, or a `StateGraph` (compiled here, without a checkpointer).
        xray: True (or a depth) expands subgraphs into clusters; False draws each as one node.
        run: a `RunPath` from `read_run_path` to colour visited, waiting and failed nodes and the edges taken.

    Raises:
        DrawingError: `graph` is not a graph, or `run` visited nodes `graph` does not have.
        GraphSetupError: a `StateGraph` that cannot be compiled.

    Example:
        >>> from langgraph.graph import START, StateGraph
        >>> from typing import TypedDict
        >>> class S(TypedDict):
        ...     n: int
        >>> g = StateGraph(S)
        >>> _ = g.add_node("a", lambda s: {})
        >>> _ = g.add_edge(START, "a")
        >>> [node.id for node in diagram(g).nodes]
        ['__start__', 'a', '__end__']
    """
    compiled = _compiled(graph)
    base = _base(compiled, xray)
    return _overlay(base, run) if run is not None else base


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
        >>> from langgraph.graph import START, StateGraph
        >>> from typing import TypedDict
        >>> class S(TypedDict):
        ...     n: int
        >>> g = StateGraph(S)
        >>> _ = g.add_node("a", lambda s: {})
        >>> _ = g.add_edge(START, "a")
        >>> "__start__ --> a;" in to_mermaid(g)
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
        >>> from langgraph.graph import START, StateGraph
        >>> from typing import TypedDict
        >>> class S(TypedDict):
        ...     n: int
        >>> g = StateGraph(S)
        >>> _ = g.add_node("a", lambda s: {})
        >>> _ = g.add_edge(START, "a")
        >>> print(to_dot(g).splitlines()[0])
        digraph "LangGraph" {
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


def _compiled(graph: Any) -> Pregel:
    if isinstance(graph, Pregel):
        return graph
    if isinstance(graph, StateGraph):
        return compile_graph(graph)
    raise DrawingError(f"cannot draw a {type(graph).__name__}: pass a StateGraph or a compiled graph")


def _base(compiled: Pregel, xray: bool | int) -> Diagram:
    drawable = compiled.get_graph(xray=xray)
    routes = _routes(compiled)
    nodes = []
    for node_id in drawable.nodes:
        *cluster, name = node_id.split(":")
        kind = "start" if name == START else "end" if name == END else "node"
        nodes.append(DiagramNode(node_id, {"start": "start", "end": "end"}.get(kind, name), kind, tuple(cluster)))
    edges = []
    for edge in drawable.edges:
        label = _condition(routes, edge.source, edge.target, edge.data) if edge.conditional else edge.data
        edges.append(DiagramEdge(edge.source, edge.target, edge.conditional, None if label is None else str(label)))
    paths = sorted({node.cluster[:depth] for node in nodes for depth in range(1, len(node.cluster) + 1)}, key=len)
    return Diagram(tuple(nodes), tuple(edges), None, tuple(DiagramCluster(path, path[-1]) for path in paths))


Routes = dict[tuple[str, str], list[tuple[str, str, str]]]


def _routes(compiled: Pregel) -> Routes:
    """(namespace, source) -> [(routing function, path_map key, target)] for every builder in the graph."""
    graphs: list[tuple[str, Any]] = [("", compiled)]
    try:
        graphs += [(ns.replace("|", ":"), sub) for ns, sub in compiled.get_subgraphs(recurse=True)]
    except Exception:  # noqa: BLE001 - a graph we cannot look into is drawn without labels
        pass
    routes: Routes = {}
    for namespace, graph in graphs:
        builder = getattr(graph, "builder", None)
        for source, branches in (getattr(builder, "branches", None) or {}).items():
            for name, spec in branches.items():
                ends = spec.ends or {node: node for node in getattr(builder, "nodes", {})} | {END: END}
                routes.setdefault((namespace, source), []).extend((name, key, end) for key, end in ends.items())
        for source, node in (getattr(builder, "nodes", None) or {}).items():
            for end in getattr(node, "ends", None) or ():
                routes.setdefault((namespace, source), []).append(("goto", end, end))
    return routes


def _condition(routes: Routes, source: str, target: str, data: Any) -> str | None:
    parts = source.split(":")
    for depth in range(len(parts) - 1, -1, -1):  # innermost namespace first
        namespace = ":".join(parts[:depth])
        inner = target[len(namespace) + 1 :] if namespace and target.startswith(namespace + ":") else target
        if namespace and inner == target:
            continue
        top = inner.split(":")[0]
        found = [
            name if key == end else f"{name}: {key}"
            for name, key, end in routes.get((namespace, parts[depth]), [])
            if end == top
        ]
        if found:
            return ", ".join(dict.fromkeys(found))
    return None if data is None else str(data)


def _overlay(base: Diagram, run: RunPath) -> Diagram:
    top_level = {node.id for node in base.nodes if not node.cluster} | {c.path[0] for c in base.clusters}
    unknown = sorted((set(run.order) | set(run.waiting)) - top_level)
    if unknown:
        raise DrawingError(f"the run visited {', '.join(unknown)}, which this graph does not have: another graph's thread?")
    counts, seconds = run.counts, run.seconds
    waited = {visit.node for visit in run.visits if visit.waited}
    timed = {visit.node for visit in run.visits if visit.seconds is not None}

    def state(name: str) -> str:
        if name in run.errors:
            return "failed"
        if name in run.waiting:
            return "waiting"
        return "visited" if counts[name] else "plain"

    def lines(name: str) -> list[str]:
        shown = []
        if counts[name]:
            steps = run.steps_of(name)
            numbers = ", ".join(f"#{i}" for i in steps[:5]) + (", …" if len(steps) > 5 else "")
            time = [_duration(seconds[name]) + (" incl. wait" if name in waited else "")] if name in timed else []
            shown.append(" · ".join([numbers, f"{counts[name]}×", *time]))
        if name in run.errors:
            shown.append("error: " + _clip(run.errors[name], 60))
        elif name in run.interrupts:
            shown.append("waiting: " + _clip("; ".join(map(_brief, run.interrupts[name])), 60))
        elif name in run.waiting:
            shown.append("next to run")
        return shown

    nodes = tuple(
        replace(node, label="\n".join([node.label, *lines(node.id)]), state=state(node.id))  # type: ignore[arg-type]
        if not node.cluster and node.kind == "node"
        else node
        for node in base.nodes
    )
    clusters = tuple(
        replace(c, label="\n".join([c.label, *lines(c.path[0])]), state=state(c.path[0]))  # type: ignore[arg-type]
        if len(c.path) == 1
        else c
        for c in base.clusters
    )
    taken = _taken(base, run)
    edges = tuple(replace(edge, taken=taken[(edge.source, edge.target)]) for edge in base.edges)
    total = sum(seconds.values())
    runs = f"{len(run.visits)} node run" + ("" if len(run.visits) == 1 else "s")
    title = f"thread {run.thread_id} · {run.status} · {runs} · {_duration(total)}"
    return Diagram(tuple(nodes), edges, title, clusters)


def _taken(base: Diagram, run: RunPath) -> Counter[tuple[str, str]]:
    """Edges between consecutive steps' nodes (subgraph members stand for their subgraph)."""
    by_top: dict[tuple[str, str], list[DiagramEdge]] = {}
    for edge in base.edges:
        ends = (edge.source.split(":")[0], edge.target.split(":")[0])
        if ":" in edge.source and ":" in edge.target and ends[0] == ends[1]:
            continue  # inside one subgraph
        by_top.setdefault(ends, []).append(edge)
    steps: list[list[str]] = []
    last_step = None
    for visit in run.visits:
        if visit.step != last_step:
            steps.append([])
            last_step = visit.step
        steps[-1].append(visit.node)
    if run.waiting:
        steps.append(list(run.waiting))
    elif run.finished:
        steps.append([END])
    taken: Counter[tuple[str, str]] = Counter()
    previous = [START]
    for group in steps:
        for target in group:
            for source in previous:
                for edge in by_top.get((source, target), []):
                    taken[(edge.source, edge.target)] += 1
        previous = group
    return taken


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
            colours = _COLOURS[child.state]
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


_COLOURS = {"plain": PLAIN, "visited": VISITED, "waiting": WAITING, "failed": FAILED}


def _node_attrs(node: DiagramNode) -> str:
    attrs = [f"label={_q(node.label)}"]
    if node.kind != "node":
        attrs += ["shape=oval", 'style="filled"', 'fillcolor="#ffffff"' if node.kind == "start" else 'fillcolor="#d9d4fb"']
    elif node.state != "plain":
        colours = _COLOURS[node.state]
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
            colours = _COLOURS[state]
            width = "3px" if state != "visited" else "1.5px"
            extra.append(f"\tclassDef {state} fill:{colours['fill']},stroke:{colours['line']},stroke-width:{width}")
            extra.append(f"\tclass {','.join(ids)} {state}")
    if indexes:
        extra.append(f"\tlinkStyle {','.join(indexes)} stroke:{TAKEN},stroke-width:3px")
    return text.rstrip("\n") + "\n" + "\n".join(extra) + "\n"


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def _brief(value: Any) -> str:
    if isinstance(value, dict) and value.get("type") == "tool_approval":
        return f"approve {value.get('tool')}?"
    return value if isinstance(value, str) else repr(value)


def _clip(text: str, limit: int) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
