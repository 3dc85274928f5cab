"""Cost of tracing per graph step: the scripted assistant (planner, tools, responder, critic; a fake model and
a real tool call) run many times with tracing off and on, checkpointed in memory; prints ms per step and the
difference. Tracing on keeps spans in memory (the live view's timeline) and batches them to an OTLP exporter
whose collector is absent, which is what a user pays in the agent's own threads.

    .venv/bin/python bench/tracing.py --runs 200
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from scripted_graphs import slow_assistant  # noqa: E402

from graphwright.graphs import compile_graph, thread_config  # noqa: E402
from graphwright.tracing import disable_tracing, enable_tracing  # noqa: E402

STEPS = 4  # planner, tools, responder, critic


def per_step_ms(runs: int) -> float:
    app = compile_graph(slow_assistant(), checkpointer=InMemorySaver())
    started = time.perf_counter()
    for i in range(runs):
        app.invoke({"messages": [("human", "add 2 and 3")]}, thread_config(f"b{i}"))
    return (time.perf_counter() - started) * 1000 / (runs * STEPS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    per_step_ms(20)  # warm up imports and caches
    off, on = [], []
    for _ in range(args.rounds):  # interleaved, so load on the machine hits both alike
        disable_tracing()
        off.append(per_step_ms(args.runs))
        enable_tracing("http://127.0.0.1:9/v1/traces")  # nothing listens: export fails off the hot path
        on.append(per_step_ms(args.runs))
    disable_tracing()
    a, b = statistics.median(off), statistics.median(on)
    print("| tracing | ms per step (median of rounds) |")
    print("|---|---:|")
    print(f"| off | {a:.3f} |")
    print(f"| on | {b:.3f} |")
    print(f"extra per step: {b - a:.3f} ms ({100 * (b - a) / a:.1f}% of a scripted step)")


if __name__ == "__main__":
    main()
