"""Cost of tracing per graph step: the scripted assistant (planner, tools, responder, critic; a fake model and
a real tool call) run many times with tracing off and on, checkpointed in memory; prints ms per step, wall
clock and CPU time of the whole process (its exporter thread included), and the difference to tracing off.

Tracing on is measured two ways: spans kept in memory only (the live view's timeline), and also exported over
OTLP/HTTP to a local receiver that accepts and discards them (a subprocess started here), so every span is
encoded and sent as it would be to Phoenix or a Collector. Modes alternate in short rounds, so load from other
processes on the machine hits them alike; the median of the rounds is printed.

    .venv/bin/python bench/tracing.py --runs 25 --rounds 30
    .venv/bin/python bench/tracing.py --profile            # cProfile of the traced runs, by own time
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from scripted_graphs import slow_assistant  # noqa: E402

from graphwright.graphs import compile_graph, thread_config  # noqa: E402
from graphwright.tracing import disable_tracing, enable_tracing, flush_traces  # noqa: E402

STEPS = 4  # planner, tools, responder, critic
RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
"""


def per_step_ms(app, runs: int, tag: str) -> tuple[float, float]:
    """(wall ms, process CPU ms) per step over `runs` runs; a traced round ends with its spans exported."""
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(runs):
        app.invoke({"messages": [("human", "add 2 and 3")]}, thread_config(f"{tag}{i}"))
    flush_traces()  # the exporter's work for these spans counts against them
    return (time.perf_counter() - wall) * 1000 / (runs * STEPS), (time.process_time() - cpu) * 1000 / (runs * STEPS)


def switch(mode: str, url: str) -> None:
    disable_tracing()
    if mode == "memory":
        enable_tracing("")
    elif mode == "otlp":
        enable_tracing(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=25, help="runs per round (4 steps each)")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--profile", action="store_true", help="profile traced runs (OTLP on) instead")
    args = parser.parse_args()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
    url = f"http://127.0.0.1:{port}/v1/traces"
    try:
        time.sleep(0.5)
        app = compile_graph(slow_assistant(), checkpointer=InMemorySaver())
        per_step_ms(app, 20, "warm")  # imports and caches
        if args.profile:
            switch("otlp", url)
            profiler = cProfile.Profile()
            profiler.runcall(per_step_ms, app, args.runs * 4, "p")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
            return
        modes = ("off", "memory", "otlp")
        got: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
        for r in range(args.rounds):
            for mode in modes:
                switch(mode, url)
                got[mode].append(per_step_ms(app, args.runs, f"{r}{mode}"))
        disable_tracing()
    finally:
        receiver.kill()
        receiver.wait()
    print("| tracing | wall ms per step | extra | CPU ms per step | extra |")
    print("|---|---:|---:|---:|---:|")
    for mode, label in zip(modes, ("off", "on: spans kept in memory", "on: also exported over OTLP/HTTP")):
        cells = []
        for k in (0, 1):  # wall, CPU
            value = statistics.median(r[k] for r in got[mode])
            base = statistics.median(r[k] for r in got["off"])
            # extra: the median of each round's difference to the round's own tracing-off figure (load moves
            # both alike within a round, so this is steadier than a difference of medians)
            extra = statistics.median(r[k] - o[k] for r, o in zip(got[mode], got["off"], strict=True))
            cells += [f"{value:.3f}", "" if mode == "off" else f"{extra:+.3f} ({100 * extra / base:+.0f}%)"]
        print(f"| {label} | {' | '.join(cells)} |")
    print(f"medians of {args.rounds} rounds of {args.runs} runs ({STEPS} steps, 8 spans a run: the run, 4 nodes, "
          "2 model calls, 1 tool call)")


if __name__ == "__main__":
    main()
