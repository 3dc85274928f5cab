"""Drawing graphs offline (Mermaid, DOT, SVG, PNG by Graphviz or matplotlib) and a run's path on its graph.

Snapshots of every built-in graph live in tests/graphs/snapshots/; a missing one is written only with
GRAPHWRIGHT_UPDATE_SNAPSHOTS=1 (which also rewrites the ones that changed), otherwise the test fails.
"""

from __future__ import annotations

import difflib
import io
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TypedDict

import pytest
from fakes import ScriptedChatModel
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from scripted_graphs import slow_assistant

from graphwright import GraphNotFoundError, ThreadStateError
from graphwright.errors import DrawingError
from graphwright.graphs import (
    BUILTIN_GRAPHS,
    compile_graph,
    diagram,
    load_graph,
    read_run_path,
    render,
    save_drawing,
    thread_config,
    to_dot,
    to_mermaid,
)
from graphwright.graphs._diagram import FAILED, TAKEN, VISITED, WAITING
from graphwright.graphs._draw_mpl import _bends, _box, _places
from graphwright.memory import open_checkpointer

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("GRAPHWRIGHT_UPDATE_SNAPSHOTS") == "1"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed (make install adds it)")


class S(TypedDict):
    n: int


def _inc(state: S) -> dict:
    return {"n": state["n"] + 1}


def _boom(state: S) -> dict:
    raise ValueError("kaboom")


def _ask(state: S) -> dict:
    return {"n": interrupt("how many?")}


def route(state: S) -> str:
    return "big" if state["n"] > 5 else "small"


def branching() -> StateGraph:
    """a routes by `route` to boom (raises) when n > 5, else to ask (interrupts for a number)."""
    graph = StateGraph(S)
    graph.add_node("a", _inc)
    graph.add_node("boom", _boom)
    graph.add_node("ask", _ask)
    graph.add_edge(START, "a")
    graph.add_conditional_edges("a", route, {"big": "boom", "small": "ask"})
    graph.add_edge("ask", END)
    graph.add_edge("boom", END)
    return graph


def nested() -> StateGraph:
    """prep → inner (the branching graph as a subgraph) → after, or the end when n is large."""
    graph = StateGraph(S)
    graph.add_node("prep", _inc)
    graph.add_node("inner", branching().compile())
    graph.add_node("after", _inc)
    graph.add_edge(START, "prep")
    graph.add_edge("prep", "inner")
    graph.add_conditional_edges("inner", lambda s: "after" if s["n"] < 100 else END, ["after", END])
    graph.add_edge("after", END)
    return graph


def dot_nodes(text: str) -> dict[str, str]:
    """Node id -> its attribute text, from DOT."""
    return dict(re.findall(r'^\s*"([^"]+)" \[(label=.*)\];$', text, re.MULTILINE))


def dot_edges(text: str) -> dict[tuple[str, str], str]:
    """(source, target) -> attribute text ('' for none), from DOT."""
    found = re.findall(r'^\s*"([^"]+)" -> "([^"]+)"(?: \[(.*)\])?;$', text, re.MULTILINE)
    return {(s, t): attrs for s, t, attrs in found}


# --- the graph alone ------------------------------------------------------------------------------------------


def test_mermaid_by_default_is_langgraphs_own_text_and_never_calls_its_png_renderer(monkeypatch) -> None:
    from langchain_core.runnables.graph import Graph

    def no_network(*args, **kwargs):
        raise AssertionError("draw_mermaid_png would call a web service")

    monkeypatch.setattr(Graph, "draw_mermaid_png", no_network)
    graph = compile_graph(slow_assistant())
    assert to_mermaid(graph) == graph.get_graph().draw_mermaid()
    assert render(graph, "mermaid") == graph.get_graph().draw_mermaid().encode()
    for format in ("dot", "svg", "png"):
        assert render(graph, format, engine="matplotlib" if format != "dot" else "auto")


def test_conditional_edges_are_dashed_and_labelled_with_their_condition() -> None:
    edges = dot_edges(to_dot(branching()))
    assert edges[("a", "boom")] == 'style=dashed, label=" route: big "'
    assert edges[("a", "ask")] == 'style=dashed, label=" route: small "'
    assert edges[("__start__", "a")] == "" and edges[("ask", "__end__")] == ""  # fixed edges: solid, no label
    assistant = dot_edges(to_dot(slow_assistant()))
    assert assistant[("planner", "tools")] == 'style=dashed, label=" after_planner "'
    assert assistant[("critic", "planner")] == 'style=dashed, label=" after_critic "'
    assert "style=dashed" not in assistant[("tools", "responder")]
    mermaid = to_mermaid(branching(), conditions=True)
    assert "a -. &nbsp;route: big&nbsp; .-> boom;" in mermaid and "ask --> __end__;" in mermaid
    assert "planner -. &nbsp;after_planner&nbsp; .-> tools;" in to_mermaid(slow_assistant(), conditions=True)


def test_xray_expands_subgraphs_into_clusters_and_collapsed_they_are_one_node() -> None:
    collapsed = to_dot(nested())
    assert '"inner" [label="inner"]' in collapsed and "cluster" not in collapsed
    expanded = to_dot(nested(), xray=True)
    assert 'subgraph "cluster_inner" {' in expanded
    nodes = dot_nodes(expanded)
    assert {"inner:a", "inner:boom", "inner:ask", "prep", "after"} <= set(nodes) and "inner" not in nodes
    edges = dot_edges(expanded)
    assert edges[("inner:a", "inner:boom")] == 'style=dashed, label=" route: big "'  # the subgraph's own router
    assert edges[("prep", "inner:a")] == ""
    assert "style=dashed" in edges[("inner:__end__", "after")]
    assert [c.path for c in diagram(nested(), xray=True).clusters] == [("inner",)]
    assert "subgraph inner" in to_mermaid(nested(), xray=True)


def test_a_plain_uncompiled_or_compiled_langgraph_graph_draws_and_anything_else_is_refused() -> None:
    assert to_dot(branching()) == to_dot(branching().compile())
    with pytest.raises(DrawingError, match="cannot draw a dict"):
        to_dot({"nodes": []})  # type: ignore[arg-type]


@needs_dot
@pytest.mark.parametrize("xray", [False, True])
def test_graphviz_renders_svg_with_every_node_and_a_png(xray: bool) -> None:
    svg = render(nested(), "svg", xray=xray, engine="graphviz")
    root = ET.fromstring(svg)
    texts = {(t.text or "").strip() for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {"prep", "after", "start", "end"} <= texts
    assert ({"a", "boom", "ask", "route: big"} <= texts) if xray else ("inner" in texts and "boom" not in texts)
    assert b"Generated by graphviz" in svg
    png = render(nested(), "png", xray=xray, engine="graphviz")
    assert png.startswith(PNG_MAGIC)


def test_without_graphviz_auto_falls_back_to_matplotlib(monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert shutil.which("dot") is None
    svg = render(slow_assistant(), "svg")
    assert b"Matplotlib" in svg and b"graphviz" not in svg
    texts = {"".join(t.itertext()).strip() for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")}
    assert {"planner", "tools", "responder", "critic", "after_planner", "after_critic"} <= texts
    png = render(slow_assistant(), "png")
    from matplotlib.image import imread

    pixels = imread(io.BytesIO(png))
    assert png.startswith(PNG_MAGIC) and pixels.shape[0] > 400 and pixels.shape[1] > 300
    with pytest.raises(DrawingError, match="not on PATH"):
        render(slow_assistant(), "png", engine="graphviz")
    expanded = ET.fromstring(render(nested(), "svg", xray=True))
    texts = {"".join(t.itertext()).strip() for t in expanded.iter("{http://www.w3.org/2000/svg}text")}
    assert {"inner", "a", "boom", "ask", "route: big", "prep", "after"} <= texts  # the subgraph's frame and nodes
    groups = {g.get("id") for g in expanded.iter("{http://www.w3.org/2000/svg}g")}
    assert {"node:prep", "node:inner:boom"} <= groups  # what the live view finds nodes by


def test_fallback_layout_keeps_boxes_apart_and_bends_edges_around_boxes() -> None:
    shown = diagram(slow_assistant())
    sizes = {node.id: _box(node) for node in shown.nodes}
    places = _places(shown, sizes)
    assert places["__start__"][1] > places["planner"][1] > places["tools"][1] > places["critic"][1] > places["__end__"][1]
    ids = list(places)
    for i, first in enumerate(ids):
        for second in ids[i + 1 :]:
            apart_x = abs(places[first][0] - places[second][0]) >= (sizes[first][0] + sizes[second][0]) / 2
            apart_y = abs(places[first][1] - places[second][1]) >= (sizes[first][1] + sizes[second][1]) / 2
            assert apart_x or apart_y, (first, second)
    bends = _bends(shown, places, sizes)
    assert bends[("tools", "responder")] == 0  # straight down
    assert bends[("planner", "critic")] != 0 and bends[("planner", "__end__")] != 0  # would cross tools/responder
    assert bends[("critic", "planner")] != 0  # goes back up
    # the two long forward edges bend to opposite sides
    assert (bends[("planner", "critic")] > 0) != (bends[("planner", "__end__")] > 0)


# --- a run on its graph ---------------------------------------------------------------------------------------


def test_a_finished_run_shows_its_path_in_order_with_counts_and_time(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GW_SLOW", "0.3")
    with open_checkpointer(str(tmp_path / "c.sqlite")) as saver:
        graph = compile_graph(slow_assistant(), checkpointer=saver)
        began = time.monotonic()
        graph.invoke({"messages": [("human", "add 20 and 22")]}, thread_config("t1"))
        wall = time.monotonic() - began
        run = read_run_path(graph, thread_config("t1"))
        dot = to_dot(graph, run=run)
    assert run.order == ["planner", "tools", "responder", "critic"] and run.finished and run.status == "finished"
    assert run.seconds["tools"] >= 0.3 and sum(run.seconds.values()) <= wall
    assert all(run.seconds[n] < 0.3 for n in ("planner", "responder", "critic"))
    nodes, edges = dot_nodes(dot), dot_edges(dot)
    assert re.search(r"tools\\n#2 · 1× · \d+ ms", nodes["tools"]) and VISITED["fill"] in nodes["tools"]
    for taken in [("__start__", "planner"), ("planner", "tools"), ("tools", "responder"), ("responder", "critic"), ("critic", "__end__")]:
        assert TAKEN in edges[taken], taken
    for not_taken in [("planner", "critic"), ("critic", "planner"), ("planner", "__end__")]:
        assert TAKEN not in edges[not_taken], not_taken
    assert 'label="thread t1 · finished · 4 node runs' in dot


def test_a_loop_counts_each_visit_and_the_edge_taken_twice() -> None:
    def revises_once(messages, tools):
        if any(m.type == "human" and m.name == "critic" for m in messages):
            return AIMessage("Paris is the capital.")
        return AIMessage("")

    from graphwright.graphs import build_assistant

    graph = compile_graph(build_assistant(model=ScriptedChatModel(rule=revises_once), tools=[]), checkpointer=InMemorySaver())
    graph.invoke({"messages": [("human", "Capital of France?")]}, thread_config("loop"))
    run = read_run_path(graph, thread_config("loop"))
    assert run.order == ["planner", "critic", "planner", "critic"]
    assert run.counts == {"planner": 2, "critic": 2} and run.steps_of("critic") == [2, 4]
    dot = to_dot(graph, run=run)
    assert "critic\\n#2, #4 · 2×" in dot_nodes(dot)["critic"]
    assert 'label=" after_planner ×2 "' in dot_edges(dot)[("planner", "critic")]
    assert TAKEN in dot_edges(dot)[("critic", "planner")] and "×" not in dot_edges(dot)[("critic", "planner")]


def test_a_failed_node_is_highlighted_with_its_error() -> None:
    graph = compile_graph(branching(), checkpointer=InMemorySaver())
    with pytest.raises(ValueError, match="kaboom"):
        graph.invoke({"n": 10}, thread_config("fails"))
    run = read_run_path(graph, thread_config("fails"))
    assert run.errors == {"boom": "ValueError('kaboom')"} and run.status == "failed at boom" and not run.finished
    assert run.order == ["a", "boom"] and run.visits[-1].error and run.visits[-1].seconds is None
    nodes = dot_nodes(to_dot(graph, run=run))
    assert FAILED["line"] in nodes["boom"] and "error: ValueError('kaboom')" in nodes["boom"]
    assert "ask" in nodes and FAILED["line"] not in nodes["ask"] and VISITED["fill"] not in nodes["ask"]
    mermaid = to_mermaid(graph, run=run)
    assert "\tclass boom failed" in mermaid and "\tclass a visited" in mermaid


def test_a_run_waiting_for_input_shows_where_and_after_resuming_the_wait_counts() -> None:
    graph = compile_graph(branching(), checkpointer=InMemorySaver())
    config = thread_config("waits")
    graph.invoke({"n": 1}, config)
    run = read_run_path(graph, config)
    assert run.waiting == ("ask",) and run.interrupts == {"ask": ("how many?",)}
    assert run.status == "waiting for input at ask" and run.order == ["a"]
    dot = to_dot(graph, run=run)
    assert WAITING["line"] in dot_nodes(dot)["ask"] and "waiting: how many?" in dot_nodes(dot)["ask"]
    assert TAKEN in dot_edges(dot)[("a", "ask")] and TAKEN not in dot_edges(dot)[("ask", "__end__")]
    time.sleep(0.2)
    graph.invoke(Command(resume=7), config)
    done = read_run_path(graph, config)
    assert done.finished and done.order == ["a", "ask"] and done.visits[-1].waited
    assert done.seconds["ask"] >= 0.2
    assert "incl. wait" in dot_nodes(to_dot(graph, run=done))["ask"]


def test_a_static_interrupt_shows_the_node_it_stopped_before() -> None:
    graph = compile_graph(branching(), checkpointer=InMemorySaver(), interrupt_before=["ask"])
    graph.invoke({"n": 1}, thread_config("paused"))
    run = read_run_path(graph, thread_config("paused"))
    assert run.waiting == ("ask",) and run.interrupts == {} and run.status == "stopped before ask"
    assert "next to run" in dot_nodes(to_dot(graph, run=run))["ask"]


def test_the_latest_run_is_drawn_unless_the_whole_thread_is_asked_for() -> None:
    graph = compile_graph(slow_assistant(), checkpointer=InMemorySaver())
    config = thread_config("two-runs")
    graph.invoke({"messages": [("human", "add 1 and 2")]}, config)
    first = read_run_path(graph, config).order
    graph.invoke({"messages": [("human", "what now?")]}, config)  # no numbers: answered without the tool
    latest = read_run_path(graph, config).order
    assert first == ["planner", "tools", "responder", "critic"]
    assert latest[:2] == ["planner", "critic"] and "tools" not in latest
    assert read_run_path(graph, config, whole_thread=True).order == first + latest


def test_a_subgraph_run_colours_its_cluster_when_expanded() -> None:
    graph = compile_graph(nested(), checkpointer=InMemorySaver())
    graph.invoke({"n": 1}, thread_config("nested"))
    run = read_run_path(graph, thread_config("nested"))
    assert run.order == ["prep"] and run.waiting == ("inner",)
    expanded = to_dot(graph, xray=True, run=run)
    cluster = expanded.split('subgraph "cluster_inner" {')[1].splitlines()[1]
    assert 'label="inner\\nwaiting: how many?"' in cluster and WAITING["fill"] in cluster
    assert TAKEN in dot_edges(expanded)[("prep", "inner:a")]
    assert WAITING["line"] in dot_nodes(to_dot(graph, run=run))["inner"]


def test_the_path_inside_a_subgraph_is_read_from_its_checkpoints_and_drawn_when_expanded() -> None:
    graph = compile_graph(nested(), checkpointer=InMemorySaver())
    config = thread_config("inside")
    graph.invoke({"n": 1}, config)
    waiting = read_run_path(graph, config)
    assert waiting.inner["inner"].order == ["a"] and waiting.inner["inner"].interrupts == {"ask": ("how many?",)}
    expanded = dot_nodes(to_dot(graph, xray=True, run=waiting))
    assert WAITING["fill"] in expanded["inner:ask"] and "waiting: how many?" in expanded["inner:ask"]
    assert VISITED["fill"] in expanded["inner:a"] and "#1 · 1×" in expanded["inner:a"]
    graph.invoke(Command(resume=3), config)
    done = read_run_path(graph, config)
    assert done.order == ["prep", "inner", "after"]
    assert done.inner["inner"].order == ["a", "ask"] and done.inner["inner"].finished  # one path across the resume
    text = to_dot(graph, xray=True, run=done)
    expanded, edges = dot_nodes(text), dot_edges(text)
    assert all(VISITED["fill"] in expanded[name] for name in ("inner:a", "inner:ask"))
    assert TAKEN in edges[("inner:a", "inner:ask")] and TAKEN not in edges[("inner:a", "inner:boom")]
    assert expanded["inner:boom"] == 'label="boom"'  # the branch not taken: plain
    assert "inner:a" not in dot_nodes(to_dot(graph, run=done))  # collapsed: one node for the subgraph


def test_reading_a_run_fails_clearly() -> None:
    with pytest.raises(DrawingError, match="no checkpointer"):
        read_run_path(compile_graph(branching()), thread_config("x"))
    graph = compile_graph(slow_assistant(), checkpointer=InMemorySaver())
    with pytest.raises(ThreadStateError, match="has no checkpoints"):
        read_run_path(graph, thread_config("never"))
    saver = InMemorySaver()
    compile_graph(branching(), checkpointer=saver).invoke({"n": 1}, thread_config("other"))
    with pytest.raises(ThreadStateError, match="run by another graph: it ran a, which"):
        read_run_path(compile_graph(slow_assistant(), checkpointer=saver), thread_config("other"))


# --- files ----------------------------------------------------------------------------------------------------


def test_save_drawing_takes_the_format_from_the_suffix_and_refuses_bad_targets(tmp_path: Path) -> None:
    assert save_drawing(branching(), tmp_path / "g.dot").read_text().startswith('digraph "LangGraph" {')
    assert save_drawing(branching(), tmp_path / "g.mmd").read_text().startswith("---")
    assert (tmp_path / "g.dot").stat().st_mode & 0o044  # the usual permissions, not a temp file's 0600
    cases = [
        (tmp_path / "g.png", {"format": "svg"}, "ends in .png but the format asked for is svg"),
        (tmp_path / "g.txt", {"format": "gif"}, "unknown format 'gif'"),
        (tmp_path, {}, "is a folder"),
        (tmp_path / "missing" / "g.png", {}, "folder .* does not exist"),
        (tmp_path / "g.svg", {"engine": "ascii"}, "unknown engine 'ascii'"),
    ]
    for target, options, message in cases:
        with pytest.raises(DrawingError, match=message):
            save_drawing(branching(), target, **options)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.dot", "g.mmd"]


def test_a_failed_render_or_write_leaves_the_old_file_whole_and_no_temporary_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "g.png"
    target.write_bytes(b"old picture")
    with monkeypatch.context() as patch:
        patch.setenv("PATH", "/nonexistent")
        with pytest.raises(DrawingError, match="not on PATH"):
            save_drawing(branching(), target, engine="graphviz")
    assert target.read_bytes() == b"old picture" and [p.name for p in tmp_path.iterdir()] == ["g.png"]

    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("graphwright.graphs._draw.os.replace", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_drawing(branching(), target, engine="matplotlib")
    assert target.read_bytes() == b"old picture" and [p.name for p in tmp_path.iterdir()] == ["g.png"]


# --- the command line -----------------------------------------------------------------------------------------


def graphwright(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(TESTS), HF_HUB_OFFLINE="1")
    env.pop("GRAPHWRIGHT_DB", None)
    return subprocess.run([sys.executable, "-m", "graphwright", *args], env=env, capture_output=True, text=True, timeout=300, cwd=cwd)


def test_cli_draws_every_format_and_a_threads_run(tmp_path: Path) -> None:
    graph, db = "scripted_graphs:slow_assistant", str(tmp_path / "c.sqlite")
    assert graphwright("run", graph, "add 2 and 3", "--thread", "t1", "--db", db).returncode == 0
    dot = graphwright("draw", graph, "--format", "dot", "--thread", "t1", "--db", db)
    assert dot.returncode == 0, dot.stderr
    assert VISITED["fill"] in dot_nodes(dot.stdout)["responder"] and "thread t1 · finished" in dot.stdout
    mermaid = graphwright("draw", graph, "--conditions")
    assert "planner -. &nbsp;after_planner&nbsp; .-> tools;" in mermaid.stdout
    png = graphwright("draw", graph, "--thread", "t1", "--db", db, "-o", str(tmp_path / "run.png"))
    assert png.returncode == 0, png.stderr
    assert (tmp_path / "run.png").read_bytes().startswith(PNG_MAGIC)
    svg = graphwright("draw", "assistant", "--format", "svg", "--xray", "-o", str(tmp_path / "a.svg"), "--engine", "matplotlib")
    assert svg.returncode == 0 and ET.parse(tmp_path / "a.svg").getroot().tag.endswith("svg")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "png"], "png is a picture, not text: name the file to write with -o FILE"),
        (["--format", "svg"], "svg is a picture"),
        (["--format", "gif"], "unknown format 'gif'"),
        (["--format", "svg", "-o", "{tmp}/x.png"], "ends in .png but the format asked for is svg"),
        (["-o", "{tmp}/no/such/x.png"], "folder {tmp}/no/such does not exist"),
        (["--engine", "ascii", "-o", "{tmp}/x.png"], "unknown engine 'ascii'"),
        (["--thread", "t9", "--db", "{tmp}/none.sqlite"], "no checkpoint database at {tmp}/none.sqlite"),
        (["--thread", "bad id!"], "invalid thread id"),
    ],
)
def test_cli_bad_input_fails_clearly_and_writes_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    done = graphwright("draw", "assistant", *[a.format(tmp=tmp_path) for a in args])
    assert done.returncode == 2 and message.format(tmp=tmp_path) in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == [] and done.stdout == ""


def test_cli_refuses_a_thread_of_another_graph_and_an_unknown_graph(tmp_path: Path) -> None:
    db = str(tmp_path / "c.sqlite")
    assert graphwright("run", "scripted_graphs:slow_assistant", "add 2 and 3", "--thread", "t1", "--db", db).returncode == 0
    done = graphwright("draw", "react", "--thread", "t1", "--db", db, "-o", str(tmp_path / "x.png"))
    assert done.returncode == 2 and "was run by another graph" in done.stderr and not (tmp_path / "x.png").exists()
    missing = graphwright("draw", "nosuch", "--format", "dot")
    assert missing.returncode == 2 and "unknown graph 'nosuch'" in missing.stderr
    with pytest.raises(GraphNotFoundError):
        load_graph("nosuch")


# --- the example and the snapshots ----------------------------------------------------------------------------


def test_the_example_script_draws_the_assistant_and_a_run_offline(tmp_path: Path) -> None:
    env = dict(os.environ, HF_HUB_OFFLINE="1", GW_SLOW="0")
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "draw_assistant.py"), "--out", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    for name in ("assistant.png", "assistant_run.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG_MAGIC)
    assert (ROOT / "examples" / "assistant.png").read_bytes().startswith(PNG_MAGIC)  # the committed pictures
    assert (ROOT / "examples" / "assistant_run.png").read_bytes().startswith(PNG_MAGIC)


def _text_model() -> ScriptedChatModel:
    return ScriptedChatModel(rule=lambda messages, tools: AIMessage("ok"))


@pytest.mark.parametrize("name", sorted(BUILTIN_GRAPHS))
@pytest.mark.parametrize(("suffix", "draw"), [("mmd", to_mermaid), ("dot", to_dot)])
def test_builtin_graph_drawings_match_their_snapshots(name: str, suffix: str, draw) -> None:
    text = draw(load_graph(name, model=_text_model()))
    assert check_snapshot(SNAPSHOTS / f"{name}.{suffix}", text)


def check_snapshot(path: Path, text: str) -> bool:
    """True when `path` holds `text`; with GRAPHWRIGHT_UPDATE_SNAPSHOTS=1 a missing or stale file is (re)written."""
    if UPDATE and (not path.exists() or path.read_text() != text):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    if not path.exists():
        pytest.fail(f"no snapshot {path.name}: run with GRAPHWRIGHT_UPDATE_SNAPSHOTS=1 to write it, then review it")
    expected = path.read_text()
    if expected != text:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), str(path), "now"))
        pytest.fail(f"{path.name} changed (GRAPHWRIGHT_UPDATE_SNAPSHOTS=1 accepts it):\n{diff}")
    return True
