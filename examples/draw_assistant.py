"""Draw the `assistant` graph, then one finished run on it; offline, no model needed.

    python examples/draw_assistant.py [--out DIR] [--engine auto|graphviz|matplotlib]

Writes `assistant.png` (the graph: dashed edges are routed by the named function) and `assistant_run.png`
(a run of "add 20 and 22" on the scripted model from tests/scripted_graphs.py: green nodes ran, numbered in
order with their counts and time; green edges were taken). Pictures come from Graphviz when `dot` is
installed, else from matplotlib.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the scripted fake model and its graph

from scripted_graphs import slow_assistant  # noqa: E402

from graphwright.graphs import compile_graph, load_graph, read_run_path, save_drawing, thread_config  # noqa: E402
from graphwright.memory import open_checkpointer  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    """Write the two pictures into `--out` (default: this folder) and print their paths."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write the PNGs into")
    parser.add_argument("--engine", default="auto", help="auto, graphviz or matplotlib")
    args = parser.parse_args(argv)

    # The graph: the built-in assistant (its default model is not loaded just to draw it).
    graph = compile_graph(load_graph("assistant"))
    print(save_drawing(graph, args.out / "assistant.png", engine=args.engine))

    # A finished run on the same graph, with the scripted model and a tool that takes a moment.
    os.environ.setdefault("GW_SLOW", "0.25")
    with tempfile.TemporaryDirectory() as tmp, open_checkpointer(str(Path(tmp) / "checkpoints.sqlite")) as saver:
        app = compile_graph(slow_assistant(), checkpointer=saver)
        config = thread_config("example-run")
        result = app.invoke({"messages": [("human", "add 20 and 22")]}, config)
        assert result["answer"] == "The answer is 42.", result["answer"]
        run = read_run_path(app, config)
        print(save_drawing(app, args.out / "assistant_run.png", run=run, engine=args.engine))


if __name__ == "__main__":
    main()
