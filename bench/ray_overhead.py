"""The Ray path's cost against an in-process eval at equal cores, and how many checkpoints one Postgres takes.

    python bench/ray_overhead.py [--graph assistant] [--tasks bench/tasks/arithmetic.jsonl] [--limit N] [--concurrency 4]
                        [--db postgresql://...] [--skip-model] [--puts-seconds 5] [--writers 1,4,16]

1. Agent task set, real model: `run_eval` in this process (torch on every core) against `run_tasks_on_ray` with one
   actor holding every core, the same concurrency and the same Postgres for threads. Per task is the steady
   state on both sides: first to last finished task, over the tasks between (start-up and model load are not in
   it; the cluster's start and the whole Ray run are shown beside).
2. The same with a graph that does no work (three steps, checkpointed), so the per-task cost of the Ray path
   itself (dispatch, result transfer, reading the thread back from Postgres) shows in milliseconds.
3. Checkpoint writes per second into one Postgres from `open_postgres_checkpointer` savers, W writer threads each
   putting checkpoints of a small conversation (about 2 kB) on its own thread.

Prints markdown tables; bench/README.md keeps the dated results.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import TypedDict

ROOT = Path(__file__).resolve().parents[1]
# this file's folder goes off the path: the script is named ray.py, and `import ray` must find Ray
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


class _S(TypedDict, total=False):
    messages: list
    answer: str


def noop_graph(tools=()):
    """Three steps that do nothing but write the state (each checkpointed)."""
    from langgraph.graph import END, START, StateGraph

    graph = StateGraph(_S)
    graph.add_node("a", lambda s: {"answer": "4"})
    graph.add_node("b", lambda s: {"answer": "4"})
    graph.add_node("c", lambda s: {"answer": "4"})
    graph.add_edge(START, "a")
    graph.add_edge("a", "b")
    graph.add_edge("b", "c")
    graph.add_edge("c", END)
    return graph


def _postgres_run_eval(tasks, graph_for, db, concurrency, stamps):
    """`run_eval`'s loop with threads in Postgres, as the Ray path keeps them (so only Ray differs)."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from graphwright.evals._run import _run_one
    from graphwright.evals._tasks import thread_id_for
    from graphwright.graphs import compile_graph
    from graphwright.memory import open_postgres_checkpointer

    run = uuid.uuid4().hex[:8]
    with open_postgres_checkpointer(db, pool_size=concurrency + 1) as saver:
        graph = compile_graph(graph_for(()), checkpointer=saver)
        with ThreadPoolExecutor(concurrency) as pool:
            futures = [pool.submit(_run_one, t, graph, 50, thread_id_for(t, run)) for t in tasks]
            results = []
            for future in as_completed(futures):
                results.append(future.result())
                stamps.append(time.perf_counter())
            return results


def _per_task(stamps: list[float]) -> float:
    """Seconds per task in the steady state: first to last finish over the tasks between (no start-up in it)."""
    return (stamps[-1] - stamps[0]) / (len(stamps) - 1)


def compare(tasks, graph_spec, graph_for, db, concurrency, cpus):
    """(in-process s/task, Ray s/task, cluster start s, Ray run s, ok counts) for the same tasks."""
    from graphwright.evals import RayOptions, ray_session, run_tasks_on_ray

    local_stamps: list[float] = []
    local = _postgres_run_eval(tasks, graph_for, db, concurrency, local_stamps)
    options = RayOptions(actors=1, concurrency=concurrency, cpus_per_actor=cpus)
    ray_stamps: list[float] = []
    started = time.perf_counter()
    with ray_session(options, cpus=cpus):
        cluster = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            remote = run_tasks_on_ray(tasks, graph_spec, db, Path(folder), label="bench", options=options,
                                      on_result=lambda *_: ray_stamps.append(time.perf_counter()))
            whole = time.perf_counter() - started
    ok = (sum(r["ok"] for r in local), sum(r["ok"] for r in remote))
    return _per_task(local_stamps), _per_task(ray_stamps), cluster, whole, ok


def checkpoint_writes(db: str, writers: int, seconds: float) -> float:
    """Checkpoints per second `writers` threads put into Postgres through one pooled saver."""
    from langchain_core.messages import AIMessage, HumanMessage
    from langgraph.checkpoint.base import empty_checkpoint

    from graphwright.memory import open_postgres_checkpointer

    messages = [HumanMessage("What is 48 * 26? " * 10), AIMessage("Let me compute. " * 40), AIMessage("1248")]
    count = [0] * writers
    stop = time.perf_counter() + seconds

    with open_postgres_checkpointer(db, pool_size=writers) as saver:
        def write(index: int) -> None:
            config = {"configurable": {"thread_id": f"bench-{uuid.uuid4().hex[:8]}", "checkpoint_ns": ""}}
            step = 0
            while time.perf_counter() < stop:
                checkpoint = empty_checkpoint()
                checkpoint["channel_values"] = {"messages": messages, "answer": str(step)}
                checkpoint["channel_versions"] = {"messages": str(step), "answer": str(step)}
                config = saver.put(config, checkpoint, {"source": "loop", "step": step}, {"messages": str(step),
                                                                                          "answer": str(step)})
                step += 1
                count[index] += 1

        threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sum(count) / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graph", default="assistant")
    parser.add_argument("--tasks", default=str(ROOT / "bench" / "tasks" / "arithmetic.jsonl"))
    parser.add_argument("--limit", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--db", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--skip-model", action="store_true", help="only the no-op graph and the checkpoint writes")
    parser.add_argument("--noop-tasks", type=int, default=200)
    parser.add_argument("--puts-seconds", type=float, default=5.0)
    parser.add_argument("--writers", default="1,4,16")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from graphwright.evals import GraphRef, load_tasks
    from graphwright.evals._ray import graph_source
    from graphwright.evals._tasks import Task
    from graphwright.evals._checkers import parse_checker

    cpus = os.cpu_count() or 1
    print(f"cores: {cpus}; Ray: one actor with {cpus} CPUs; in-process: torch on {cpus} threads; "
          f"concurrency {args.concurrency}; threads in Postgres on both sides\n")
    print("| graph | tasks | in-process s/task | Ray s/task | Ray overhead | Ray start: cluster s, whole run s | ok |")
    print("|---|---:|---:|---:|---:|---:|---|")
    noop = [Task(f"n{i}", "2+2?", parse_checker({"numeric": 4})) for i in range(args.noop_tasks)]
    rows = [("no-op (3 steps)", noop, noop_graph, noop_graph)]  # defined in __main__: Ray ships it by value
    if not args.skip_model:
        tasks = load_tasks(args.tasks, limit=args.limit)
        spec = GraphRef(args.graph)
        rows.append((f"{args.graph} (real model)", tasks, spec, graph_source(spec)))
    for name, tasks, spec, graph_for in rows:
        local, remote, cluster, whole, ok = compare(tasks, spec, graph_for, args.db, args.concurrency, cpus)
        print(f"| {name} | {len(tasks)} | {local:.4f} | {remote:.4f} | {100 * (remote / local - 1):+.1f}% "
              f"({1000 * (remote - local):+.1f} ms) | {cluster:.1f}, {whole:.1f} | {ok[0]}/{ok[1]} |", flush=True)

    print("\n| writer threads | checkpoints/s into one Postgres |")
    print("|---:|---:|")
    for writers in (int(w) for w in args.writers.split(",")):
        print(f"| {writers} | {checkpoint_writes(args.db, writers, args.puts_seconds):.0f} |", flush=True)
    print(json.dumps({"machine_cores": cpus}))


if __name__ == "__main__":
    main()
