"""Draw every prebuilt graph and the custom fan-out example's graph to PNG; offline, no model loaded.

    python examples/draw_graphs.py [--out DIR] [--engine auto|graphviz|matplotlib]

Writes `<name>.png` for each built-in graph (`assistant`, `react`, `plan_execute`, `rag`, `supervisor`,
`env_agent`, `random`) and
`custom_fanout.png`: the diagrams that go with the example scripts in this folder. Dashed edges are routed by
the function named on them. Graphviz draws them when `dot` is installed, else matplotlib.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from graphwright.graphs import BUILTIN_GRAPHS, compile_graph, load_graph, save_drawing  # noqa: E402
from graphwright.memory import KnowledgeGraph  # noqa: E402
from graphwright.models import ChatLocal  # noqa: E402


def main(argv: list[str] | None = None) -> list[Path]:
    """Write the pictures into `--out` (default: this folder); return and print their paths."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write the PNGs into")
    parser.add_argument("--engine", default="auto", help="auto, graphviz or matplotlib")
    args = parser.parse_args(argv)
    written = []
    for name in sorted(BUILTIN_GRAPHS):
        written.append(save_drawing(compile_graph(load_graph(name)), args.out / f"{name}.png", engine=args.engine))
    from custom_fanout import build_fanout

    fanout = build_fanout(ChatLocal(), KnowledgeGraph())  # the model is not loaded just to draw
    written.append(save_drawing(compile_graph(fanout), args.out / "custom_fanout.png", engine=args.engine))
    for path in written:
        print(path)
    return written


if __name__ == "__main__":
    main()
