"""The pure-Python renderer used when Graphviz is missing: a layered networkx layout drawn with matplotlib.

Layers come from longest paths after cutting the edges that loop back (found by a depth-first search from the
start node); nodes within a layer are ordered by the mean position of their parents, members of one subgraph
kept together. Loops back are drawn as curves beside the straight forward edges. Units are inches.
"""

from __future__ import annotations

import io
from typing import Any

import networkx as nx

from ._diagram import COLOURS, TAKEN, Diagram, DiagramEdge, DiagramNode

FONT_SIZE = 10
CHAR_WIDTH = 0.085  # inches per character at FONT_SIZE (DejaVu Sans, mean width)
LINE_HEIGHT = 0.19
GAP_X, GAP_Y = 0.45, 0.6


def draw_with_matplotlib(shown: Diagram, format: str) -> bytes:
    """Return `shown` drawn as `format` (`svg` or `png`) bytes; needs matplotlib, not Graphviz."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    sizes = {node.id: _box(node) for node in shown.nodes}
    places = _places(shown, sizes)
    xs = [places[n][0] for n in places]
    ys = [places[n][1] for n in places]
    half_w = max(w for w, _ in sizes.values()) / 2
    margin = 1.6  # room for the loops drawn beside the boxes, and their labels
    left, right = min(xs) - half_w - margin, max(xs) + half_w + margin
    if shown.title:
        spare = len(shown.title) * CHAR_WIDTH * 1.2 / 2 + 0.3 - (right - left) / 2
        left, right = left - max(spare, 0), right + max(spare, 0)
    bottom, top = min(ys) - 0.7, max(ys) + 0.7 + (0.5 if shown.title else 0)
    with matplotlib.rc_context({"svg.hashsalt": "graphwright", "svg.fonttype": "none"}):
        fig = Figure(figsize=(right - left, top - bottom))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(left, right)
        ax.set_ylim(bottom, top)
        ax.set_aspect("equal")
        ax.set_axis_off()
        _clusters(ax, shown, places, sizes, FancyBboxPatch)
        boxes = {}
        for node in shown.nodes:
            boxes[node.id] = _node(ax, node, places[node.id], sizes[node.id], FancyBboxPatch)
        bends = _bends(shown, places, sizes)
        for edge in shown.edges:
            _edge(ax, edge, places, sizes, boxes, bends.get((edge.source, edge.target), 0.0), FancyArrowPatch)
        if shown.title:
            ax.text((left + right) / 2, top - 0.15, shown.title, ha="center", va="top", fontsize=FONT_SIZE + 2)
        out = io.BytesIO()
        metadata: dict[str, Any] = {"Date": None} if format == "svg" else {"Software": None}
        fig.savefig(out, format=format, dpi=144, metadata=metadata, facecolor="white")
    return out.getvalue()


def _box(node: DiagramNode) -> tuple[float, float]:
    lines = node.label.split("\n")
    width = max(len(line) for line in lines) * CHAR_WIDTH * (0.92 if len(lines) > 1 else 1) + 0.4
    return max(width, 0.9), len(lines) * LINE_HEIGHT + 0.22


def _places(shown: Diagram, sizes: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """Centre of each node, in inches: layers top to bottom, ordered left to right within a layer."""
    graph = nx.DiGraph()
    graph.add_nodes_from(node.id for node in shown.nodes)
    graph.add_edges_from((edge.source, edge.target) for edge in shown.edges if edge.source != edge.target)
    back = _back_edges(graph, [node.id for node in shown.nodes])
    dag = graph.copy()
    dag.remove_edges_from(back)
    layer: dict[str, int] = {}
    for node_id in nx.topological_sort(dag):
        layer[node_id] = max((layer[parent] + 1 for parent in dag.predecessors(node_id)), default=0)
    last = max(layer.values(), default=0)
    for node in shown.nodes:
        if node.kind == "end" and not node.cluster:
            layer[node.id] = last  # the graph's end at the bottom
    rows: dict[int, list[str]] = {}
    for node in shown.nodes:
        rows.setdefault(layer[node.id], []).append(node.id)
    clusters = {node.id: node.cluster[:1] for node in shown.nodes}
    position: dict[str, float] = {}
    for depth in sorted(rows):
        row = rows[depth]
        mean = {}
        for index, node_id in enumerate(row):
            parents = [position[p] for p in dag.predecessors(node_id) if p in position]
            mean[node_id] = sum(parents) / len(parents) if parents else float(index)
        group_mean = {}
        for node_id in row:
            group = [mean[n] for n in row if clusters[n] == clusters[node_id]] if clusters[node_id] else [mean[node_id]]
            group_mean[node_id] = sum(group) / len(group)
        row.sort(key=lambda n: (group_mean[n], clusters[n], mean[n]))
        for index, node_id in enumerate(row):
            position[node_id] = index - (len(row) - 1) / 2
    column = max(w for w, _ in sizes.values()) + GAP_X
    places = {}
    y = 0.0
    for depth in sorted(rows):
        height = max(sizes[n][1] for n in rows[depth])
        for node_id in rows[depth]:
            places[node_id] = (position[node_id] * column, y - height / 2)
        y -= height + GAP_Y
    return places


def _back_edges(graph: nx.DiGraph, order: list[str]) -> set[tuple[str, str]]:
    """Edges into a node still on the depth-first stack: the loops."""
    back: set[tuple[str, str]] = set()
    status: dict[str, int] = {}  # 1 on the stack, 2 done
    for root in order:
        if root in status:
            continue
        status[root] = 1
        stack = [(root, iter(sorted(graph.successors(root), key=order.index)))]
        while stack:
            node_id, children = stack[-1]
            child = next(children, None)
            if child is None:
                status[node_id] = 2
                stack.pop()
            elif status.get(child) == 1:
                back.add((node_id, child))
            elif child not in status:
                status[child] = 1
                stack.append((child, iter(sorted(graph.successors(child), key=order.index))))
    return back


def _node(ax: Any, node: DiagramNode, centre: tuple[float, float], size: tuple[float, float], patch: Any) -> Any:
    colours = COLOURS[node.state]
    width, height = size
    rounding = height / 2 if node.kind != "node" else 0.12
    fill = {"start": "#ffffff", "end": "#d9d4fb"}.get(node.kind, colours["fill"])
    box = patch(
        (centre[0] - width / 2, centre[1] - height / 2),
        width,
        height,
        boxstyle=f"round,pad=0,rounding_size={rounding}",
        facecolor=fill,
        edgecolor=colours["line"],
        linewidth={"waiting": 2.6, "failed": 2.6, "visited": 1.6}.get(node.state, 1.0),
        zorder=3,
    )
    box.set_gid(f"node:{node.id}")  # an SVG group id the live view finds the node by
    ax.add_patch(box)
    first, *rest = node.label.split("\n")
    ax.text(*centre, "\n".join([first, *rest]), ha="center", va="center", fontsize=FONT_SIZE, zorder=4,
            linespacing=1.35, color="#1d1d2b")
    return box


def _bends(shown: Diagram, places: dict, sizes: dict) -> dict[tuple[str, str], float]:
    """The `arc3` curvature of each edge: 0 for a straight line.

    Edges whose straight line would cross another box bend around the boxes, the shorter ones nearer,
    alternating sides so that loops do not pile up on one side; an edge back along another, or within a
    layer, curves a little so the two stay apart.
    """
    bends: dict[tuple[str, str], float] = {}
    blocked = []
    for edge in shown.edges:
        if edge.source == edge.target:
            continue
        (x1, y1), (x2, y2) = places[edge.source], places[edge.target]
        crosses = any(
            _hits(places[node.id], sizes[node.id], (x1, y1), (x2, y2))
            for node in shown.nodes
            if node.id not in (edge.source, edge.target)
        )
        reverse = any(e.source == edge.target and e.target == edge.source for e in shown.edges)
        if crosses and abs(y2 - y1) > 1e-6:
            blocked.append((abs(y2 - y1), edge))
        elif (reverse and y2 > y1) or abs(y2 - y1) < 1e-6:
            bends[(edge.source, edge.target)] = 0.35
        else:
            bends[(edge.source, edge.target)] = 0.0
    used = {1: 0, -1: 0}
    widest = max(w for w, _ in sizes.values()) / 2
    for _, edge in sorted(blocked, key=lambda item: (item[0], item[1].source, item[1].target)):
        (x1, y1), (x2, y2) = places[edge.source], places[edge.target]
        side = (1 if x2 > x1 else -1) if abs(x2 - x1) > 1e-6 else (1 if used[1] <= used[-1] else -1)
        used[side] += 1
        reach = widest + 0.3 + 0.32 * (used[side] - 1)
        # arc3 puts the curve's midpoint at mid + rad/2 * (dy, -dx): this rad moves it `reach` sideways.
        bends[(edge.source, edge.target)] = 2 * side * reach / (y2 - y1)
    return bends


def _hits(centre: tuple[float, float], size: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> bool:
    half_w, half_h = size[0] / 2 + 0.05, size[1] / 2 + 0.05
    for i in range(1, 40):
        t = i / 40
        x, y = a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t
        if abs(x - centre[0]) < half_w and abs(y - centre[1]) < half_h:
            return True
    return False


def _edge(ax: Any, edge: DiagramEdge, places: dict, sizes: dict, boxes: dict, rad: float, patch: Any) -> None:
    (x1, y1), (x2, y2) = places[edge.source], places[edge.target]
    colour = TAKEN if edge.taken else "#4b4f7a"
    style = dict(
        arrowstyle="-|>",
        mutation_scale=12,
        linewidth=2.2 if edge.taken else 1.0,
        color=colour,
        linestyle=(0, (4, 3)) if edge.conditional else "solid",
        zorder=2,
    )
    label = edge.label or ""
    if edge.taken > 1:
        label = f"{label} ×{edge.taken}".strip()
    if edge.source == edge.target:
        width, height = sizes[edge.source]
        start, end = (x1 + width / 2, y1 + height / 4), (x1 + width / 2, y1 - height / 4)
        ax.add_patch(patch(start, end, connectionstyle="arc3,rad=-1.6", **style))
        label_at, align = (x1 + width / 2 + 0.3, y1), "left"
    else:
        dx, dy = x2 - x1, y2 - y1
        ax.add_patch(patch((x1, y1), (x2, y2), patchA=boxes[edge.source], patchB=boxes[edge.target],
                           connectionstyle=f"arc3,rad={rad:.4f}", shrinkA=1, shrinkB=1, **style))
        mid = ((x1 + x2) / 2 + 0.5 * rad * dy, (y1 + y2) / 2 - 0.5 * rad * dx)
        right = mid[0] >= (x1 + x2) / 2 - 1e-6
        label_at, align = (mid[0] + (0.07 if right else -0.07), mid[1]), "left" if right else "right"
    if label:
        ax.text(*label_at, label, ha=align, va="center", fontsize=FONT_SIZE - 2, color=colour, zorder=5,
                bbox=dict(boxstyle="round,pad=0.12", facecolor="white", edgecolor="none", alpha=0.85))


def _clusters(ax: Any, shown: Diagram, places: dict, sizes: dict, patch: Any) -> None:
    for cluster in shown.clusters:
        members = [n for n in shown.nodes if n.cluster[: len(cluster.path)] == cluster.path]
        if not members:
            continue
        deepest = max(len(n.cluster) for n in members)
        pad = 0.18 + 0.16 * (deepest - len(cluster.path))
        label_lines = cluster.label.count("\n") + 1
        left = min(places[n.id][0] - sizes[n.id][0] / 2 for n in members) - pad
        right = max(places[n.id][0] + sizes[n.id][0] / 2 for n in members) + pad
        bottom = min(places[n.id][1] - sizes[n.id][1] / 2 for n in members) - pad
        top = max(places[n.id][1] + sizes[n.id][1] / 2 for n in members) + pad + 0.2 * label_lines
        colours = COLOURS[cluster.state]
        plain = cluster.state == "plain"
        ax.add_patch(patch((left, bottom), right - left, top - bottom, boxstyle="round,pad=0,rounding_size=0.15",
                           facecolor="none" if plain else colours["fill"], alpha=1 if plain else 0.6,
                           edgecolor=colours["line"], linestyle=(0, (5, 3)), linewidth=1.2 if plain else 2.2, zorder=1))
        ax.text(left + 0.1, top - 0.08, cluster.label, ha="left", va="top", fontsize=FONT_SIZE - 1,
                color=colours["line"], zorder=1, linespacing=1.3)
