"""A graph reduced to what a picture needs (`Diagram`), with a run's path laid over it.

Nodes, edges and expanded subgraphs come from LangGraph's own `get_graph(xray=...)`; conditional edges are
labelled with the routing function that chooses them (and the `path_map` key when it differs from the
target), found in the graph's builders. A `RunPath` colours the nodes a run visited, where it waits or failed,
and counts the edges it took. The renderers in `_draw` and `_draw_mpl` draw from this.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Any, Literal

from langgraph.graph import StateGraph
from langgraph.pregel import Pregel

from ..errors import DrawingError
from ._compile import compile_graph
from ._runpath import RunPath

START, END = "__start__", "__end__"

# Colours: plain nodes, then the run overlay (visited, waiting, failed) and the edges a run took.
PLAIN = {"fill": "#eef0fb", "line": "#4b4f7a"}

VISITED = {"fill": "#d7f0dc", "line": "#2e7d32"}

WAITING = {"fill": "#fff1c7", "line": "#d98200"}

FAILED = {"fill": "#fad4d4", "line": "#c62828"}

TAKEN = "#2e7d32"

COLOURS = {"plain": PLAIN, "visited": VISITED, "waiting": WAITING, "failed": FAILED}


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
    seconds = run.seconds

    def state(name: str) -> str:
        return _state(run, name)

    def lines(name: str) -> list[str]:
        return _lines(run, name)

    def inner(node: DiagramNode) -> DiagramNode:
        """A node inside an expanded subgraph, coloured by the path inside that subgraph (when it ran)."""
        *outer, name = node.id.split(":")
        path: RunPath | None = run
        for part in outer:
            path = path.inner.get(part) if path is not None else None
        if path is None:
            return node
        return replace(node, label="\n".join([node.label, *_lines(path, name)]), state=_state(path, name))  # type: ignore[arg-type]

    nodes = tuple(
        (replace(node, label="\n".join([node.label, *lines(node.id)]), state=state(node.id)) if not node.cluster else inner(node))  # type: ignore[arg-type]
        if node.kind == "node"
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
    for name, path in run.inner.items():  # edges inside an expanded subgraph, by the path inside it
        taken.update(_taken(base, path, prefix=f"{name}:"))
    edges = tuple(replace(edge, taken=taken[(edge.source, edge.target)]) for edge in base.edges)
    total = sum(seconds.values())
    runs = f"{len(run.visits)} node run" + ("" if len(run.visits) == 1 else "s")
    title = f"thread {run.thread_id} · {run.status} · {runs} · {_duration(total)}"
    return Diagram(tuple(nodes), edges, title, clusters)

def _state(run: RunPath, name: str) -> str:
    if name in run.errors:
        return "failed"
    if name in run.waiting:
        return "waiting"
    return "visited" if run.counts[name] else "plain"


def _lines(run: RunPath, name: str) -> list[str]:
    """A node's run numbers: visit positions, count and time; its error, or what it waits for."""
    shown = []
    counts = run.counts
    if counts[name]:
        steps = run.steps_of(name)
        numbers = ", ".join(f"#{i}" for i in steps[:5]) + (", …" if len(steps) > 5 else "")
        visits = [visit for visit in run.visits if visit.node == name]
        waited = any(visit.waited for visit in visits)
        timed = [visit.seconds for visit in visits if visit.seconds is not None]
        time = [_duration(sum(timed)) + (" incl. wait" if waited else "")] if timed else []
        shown.append(" · ".join([numbers, f"{counts[name]}×", *time]))
    if name in run.errors:
        shown.append("error: " + _clip(run.errors[name], 60))
    elif name in run.interrupts:
        shown.append("waiting: " + _clip("; ".join(map(_brief, run.interrupts[name])), 60))
    elif name in run.waiting:
        shown.append("next to run")
    return shown


def _taken(base: Diagram, run: RunPath, *, prefix: str = "") -> Counter[tuple[str, str]]:
    """Edges between consecutive steps' nodes (subgraph members stand for their subgraph); with `prefix`
    (`"NODE:"`), the edges inside that expanded subgraph, by the path inside it."""
    by_top: dict[tuple[str, str], list[DiagramEdge]] = {}
    for edge in base.edges:
        if prefix:
            if not (edge.source.startswith(prefix) and edge.target.startswith(prefix)):
                continue
            source, target = edge.source[len(prefix) :], edge.target[len(prefix) :]
            by_top.setdefault((source.split(":")[0], target.split(":")[0]), []).append(edge)
            continue
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
