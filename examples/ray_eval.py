"""Evaluate a graph on a task set across a Ray cluster, every thread and side effect kept in one Postgres.

    python examples/ray_eval.py [GRAPH] [TASKS] [--db URL] [--address ADDRESS] [--actors N] [--out DIR]

With no `--address` a local cluster is started for the run and stopped after it; `auto` or `ray://host:port`
joins a running one (graphwright and the graph's module must be importable on its nodes). Each actor loads the
model once and runs `--concurrency` tasks at a time; kill one and its tasks continue on another actor from their
last checkpoint. The command line does the same: `graphwright eval GRAPH TASKS --ray [ADDRESS] --db URL`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from graphwright.evals import GraphRef, RayOptions, build_report, load_tasks, run_tasks_on_ray, summary_line


def main(graph: str = "assistant", tasks: str = "bench/tasks/arithmetic.jsonl", *,
         db: str = "postgresql://postgres@127.0.0.1:5432/test", address: str | None = None, actors: int = 2,
         concurrency: int = 4, out: str | None = None) -> list[dict]:
    """Run `tasks` through `graph` on Ray; print one line per finished task and the summary; return the results."""
    folder = Path(out or tempfile.mkdtemp(prefix="ray-eval-"))
    results = run_tasks_on_ray(
        load_tasks(tasks), GraphRef(graph), db, folder, label=graph,
        options=RayOptions(address=address, actors=actors, concurrency=concurrency),
        on_result=lambda result, done, total: print(f"[{done}/{total}] {result['id']} "
                                                    f"{'pass' if result['ok'] else 'FAIL'}", file=sys.stderr),
    )
    report = build_report(results, graph=graph, tasks_file=tasks, concurrency=actors * concurrency)
    print(summary_line(report))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("graph", nargs="?", default="assistant")
    parser.add_argument("tasks", nargs="?", default="bench/tasks/arithmetic.jsonl")
    parser.add_argument("--db", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--address", default=None)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    main(args.graph, args.tasks, db=args.db, address=args.address, actors=args.actors,
         concurrency=args.concurrency, out=args.out)
