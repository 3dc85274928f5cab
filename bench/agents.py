"""Agent benchmark: each prebuilt graph on GSM8K and on the task files in `bench/tasks/`.

Task sets: `gsm8k` (../shared/data/gsm8k/test_dev.jsonl), `arithmetic` (needs the calculator), `docs`
(questions over real package descriptions ingested into a Chroma vector memory) and `kg` (two-hop questions
over a knowledge graph). Every graph gets the calculator as its tool and, for `docs` and `kg`, the memory as
`memory=`. A task succeeds when the final answer contains an expected string (numbers compare by value). Each
task runs on a fresh thread with the graph's default budgets. Prints one row per graph and task set: tasks,
success rate, median and p95 latency, model calls and tokens per task.

    .venv/bin/python bench/agents.py --limit 2 [--graphs react,rag] [--sets arithmetic,kg] [--max-new-tokens 64]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from graphwright.evals import gsm8k_answer, numbers_in  # noqa: E402
from graphwright.graphs import BUILTIN_GRAPHS, compile_graph, new_thread_id  # noqa: E402
from graphwright.nodes import UsageCounter, grounded_answer  # noqa: E402

HERE = Path(__file__).resolve().parent
TASKS = HERE / "tasks"
CORPUS = HERE.parent / "tests" / "data" / "corpus"
GSM8K = HERE.parents[1] / "shared" / "data" / "gsm8k" / "test_dev.jsonl"
SETS = ("gsm8k", "arithmetic", "docs", "kg")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def load_tasks(name: str, limit: int | None) -> list[dict[str, Any]]:
    """Return up to `limit` tasks of set `name`, each with `question` and `expected` (a list of strings)."""
    path = GSM8K if name == "gsm8k" else TASKS / f"{name}.jsonl"
    tasks = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if "expected" not in row:
            row["expected"] = [gsm8k_answer(row["answer"])]
        tasks.append(row)
    return tasks[:limit] if limit else tasks


def succeeded(answer: str, expected: list[str]) -> bool:
    """True when `answer` is prose (not empty, not a tool call written as text) and contains one of `expected`;
    numeric expectations compare by value.

    Example:
        >>> succeeded("It is 1,248.0 apples", ["1248"]), succeeded("about 12", ["1248"])
        (True, False)
        >>> succeeded('{"name": "calculator", "arguments": {"expression": "1248"}}', ["1248"])
        False
    """
    if grounded_answer(answer, []) is not None:
        return False
    for want in expected:
        if _NUMBER.fullmatch(want):
            if any(abs(n - float(want)) < 1e-6 for n in numbers_in(answer)):
                return True
        elif want.lower() in answer.lower():
            return True
    return False


def build_memory(name: str, tasks: list[dict[str, Any]], folder: Path) -> Any:
    """Return the memory a task set needs: vector memory over the corpus, a knowledge graph, or None."""
    if name == "docs":
        from graphwright.memory import open_vector_memory, packaged_embeddings

        folder.mkdir(parents=True, exist_ok=True)
        memory = open_vector_memory(folder / "chroma", ("bench",), embeddings=packaged_embeddings())
        for path in sorted(CORPUS.glob("*.*")):
            memory.ingest_file(path, source=path.name)
        return memory
    if name == "kg":
        from graphwright.memory import KnowledgeGraph

        graph = KnowledgeGraph()
        for task in load_tasks("kg", None):
            for subject, relation, obj in task["facts"]:
                graph.add(subject, relation, obj, source="bench/tasks/kg.jsonl")
        return graph
    return None


def run_task(graph: Any, question: str) -> tuple[str, float, int, int]:
    """Run one question on a fresh thread; return (answer, seconds, model calls, tokens)."""
    counter = UsageCounter()
    start = time.perf_counter()
    try:
        config = {"callbacks": [counter], "recursion_limit": 60, "configurable": {"thread_id": new_thread_id()}}
        state = graph.invoke({"messages": [("human", question)]}, config)
        answer = str(state.get("answer") or "")
    except Exception as exc:  # a failed run is a failed task, recorded, not a crashed benchmark
        answer = f"(error: {type(exc).__name__}: {exc})"
    return answer, time.perf_counter() - start, counter.calls, counter.tokens


def p95(values: list[float]) -> float:
    """The 95th percentile by nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(0.95 * len(ordered) + 0.5) - 1))]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; return 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=3, help="tasks per set (default 3)")
    parser.add_argument("--graphs", default=",".join(sorted(BUILTIN_GRAPHS)), help="comma-separated graph names")
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated task sets")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="tokens each model call may write")
    parser.add_argument("--verbose", action="store_true", help="print each task's answer")
    args = parser.parse_args(argv)
    graphs = [g for g in args.graphs.split(",") if g]
    sets = [s for s in args.sets.split(",") if s]
    unknown = [g for g in graphs if g not in BUILTIN_GRAPHS] + [s for s in sets if s not in SETS]
    if unknown or args.limit < 1:
        parser.error(f"unknown graphs or sets {unknown}, or --limit below 1")

    from graphwright.models import ChatLocal
    from graphwright.tools import calculator

    model = ChatLocal(max_new_tokens=args.max_new_tokens)
    model.load()
    print("| graph | task set | tasks | success | median s | p95 s | model calls/task | tokens/task |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        for set_name in sets:
            tasks = load_tasks(set_name, args.limit)
            memory = build_memory(set_name, tasks, Path(folder) / set_name)
            for graph_name in graphs:
                graph = compile_graph(BUILTIN_GRAPHS[graph_name](model=model, tools=[calculator], memory=memory))
                results = []
                for task in tasks:
                    answer, seconds, calls, tokens = run_task(graph, task["question"])
                    ok = succeeded(answer, task["expected"])
                    results.append((ok, seconds, calls, tokens))
                    if args.verbose:
                        mark = "ok " if ok else "BAD"
                        shown = f"{calls} calls {tokens} tokens {task['question'][:50]!r} -> {answer[:100]!r}"
                        print(f"  {graph_name}/{set_name}: {mark} {seconds:5.1f}s {shown}", file=sys.stderr, flush=True)
                latencies = [r[1] for r in results]
                rate = 100 * sum(r[0] for r in results) / len(results)
                numbers = [f"{rate:.0f}%", f"{statistics.median(latencies):.1f}", f"{p95(latencies):.1f}"]
                numbers += [f"{statistics.mean(r[2] for r in results):.1f}", f"{statistics.mean(r[3] for r in results):.0f}"]
                print("| " + " | ".join([graph_name, set_name, str(len(results)), *numbers]) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
