"""Service throughput and latency: a trivial graph served over loopback, at 1, 8 and 32 concurrent clients.

    .venv/bin/python bench/service.py [--requests N] [--levels 1,8,32] [--db :memory:|PATH|postgresql://...]

Starts one server process on 127.0.0.1 (API-key auth on, rate limit raised out of the way), then for each level
runs N stateless `POST /runs/wait` requests (each: a temporary thread, one node, its checkpoints, deletion)
from that many concurrent keep-alive clients, and prints requests/s and p50/p99 latency. Bounded: at most
`--requests` per level (default 300) and a 120 s cap per level.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from typing import TypedDict

import httpx

KEY = "bench-key-000001"


class Counter(TypedDict):
    n: int


def counter():
    """n -> n + 1."""
    from langgraph.graph import END, START, StateGraph

    graph = StateGraph(Counter)
    graph.add_node("inc", lambda s: {"n": s["n"] + 1})
    graph.add_edge(START, "inc")
    graph.add_edge("inc", END)
    return graph


def serve(port: int, db: str) -> None:
    """Run the benchmark server (in the child process)."""
    import uvicorn

    from graphwright.memory import open_checkpointer
    from graphwright.service import ApiKeyAuth, ServiceOptions, create_app

    options = ServiceOptions(rate_per_second=1e6, rate_burst=1_000_000)
    with open_checkpointer(db) as saver:
        app = create_app({"counter": counter()}, checkpointer=saver, auth=ApiKeyAuth({KEY: "bench"}), options=options)
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


async def level(url: str, clients: int, total: int, cap: float) -> tuple[float, float, float, int]:
    """Run `total` requests from `clients` concurrent clients; return (req/s, p50 ms, p99 ms, errors)."""
    latencies: list[float] = []
    errors = 0
    remaining = total
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers={"x-api-key": KEY}, limits=limits, timeout=30) as http:
        deadline = time.perf_counter() + cap

        async def client() -> None:
            nonlocal remaining, errors
            while remaining > 0 and time.perf_counter() < deadline:
                remaining -= 1
                started = time.perf_counter()
                response = await http.post("/runs/wait", json={"assistant_id": "counter", "input": {"n": 1}})
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200 or response.json() != {"n": 2}:
                    errors += 1

        for _ in range(min(10, total)):  # warm up the connection and the graph
            await http.post("/runs/wait", json={"assistant_id": "counter", "input": {"n": 1}})
        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies) / elapsed, statistics.median(latencies) * 1e3, p99 * 1e3, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per level (default 300)")
    parser.add_argument("--levels", default="1,8,32", help="concurrent clients per level (default 1,8,32)")
    parser.add_argument("--db", default=":memory:", help="checkpointer target (default :memory:)")
    parser.add_argument("--cap", type=float, default=120.0, help="seconds at most per level")
    parser.add_argument("--server", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.server is not None:
        serve(args.server, args.db)
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, __file__, "--server", str(port), "--db", args.db], env=os.environ.copy())
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/ok", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise SystemExit("server did not start")
        setup = f"checkpointer {args.db}, loopback, {os.cpu_count()} CPUs"
        print(f"trivial graph (1 node), stateless POST /runs/wait, {setup}")
        print(f"{'clients':>8} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        for clients in (int(c) for c in args.levels.split(",")):
            rps, p50, p99, errors = asyncio.run(level(url, clients, args.requests, args.cap))
            print(f"{clients:>8} {args.requests:>9} {rps:>8.1f} {p50:>8.1f} {p99:>8.1f} {errors:>7}", flush=True)
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
