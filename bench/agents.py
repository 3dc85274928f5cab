"""Agent benchmark: each prebuilt graph on GSM8K and on the task files in `bench/tasks/`.

Task sets: `gsm8k` (../shared/data/gsm8k/test_dev.jsonl), `arithmetic` (needs the calculator), `docs`
(questions over real package descriptions ingested into a Chroma vector memory) and `kg` (two-hop questions
over a knowledge graph). Every graph gets the calculator as its tool and, for `docs` and `kg`, the memory as
`memory=`. A task succeeds when the final answer contains an expected string (numbers compare by value). Each
task runs on a fresh thread with the graph's default budgets. Prints one row per graph and task set: tasks,
success rate, median and p95 latency, model calls and tokens per task.

On `gsm8k` the table starts with three bare-model baselines measured in the same run: `bare step-by-step` (the
model alone reasons in text; its last number is its answer) and `bare program` (the model alone writes a
Python program, run once in the sandbox; what it prints is its answer) and `bare program, the agent's prompt`
(the same with the assistant's code prompt and its four training examples), each one greedy call. A GSM8K task
succeeds when the last number of the answer is the expected one. `--samples` and `--examples` add assistant
rows with other settings of its code action (samples voted per turn; examples none, the four fixed training
examples, or the nearest of the training split by MiniLM embedding; `--step-samples`: step-by-step answers in
words whose stated numbers vote beside the programs, asked `--steps-when` the programs split (the assistant's
default) or always in the programs' batch). Tasks run `--workers` at a time, so
model calls batch; latency is each task's own wall time.

    .venv/bin/python bench/agents.py --limit 2 [--graphs react,rag] [--sets arithmetic,kg] [--max-new-tokens 64]
    .venv/bin/python bench/agents.py --sets gsm8k --first 100 --limit 60 --graphs assistant --samples 1,5 \
        --examples fixed,nearest --workers 4
    .venv/bin/python bench/agents.py --sets gsm8k --first 200 --limit 100 --graphs assistant --model LEARNED_DIR
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

from langchain_core.messages import HumanMessage

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from graphwright.evals import gsm8k_answer, numbers_in, percentile, wilson_interval  # noqa: E402
from graphwright.graphs import BUILTIN_GRAPHS, compile_graph, new_thread_id  # noqa: E402
from graphwright.graphs import AssistantOptions  # noqa: E402
from graphwright.nodes import (  # noqa: E402
    STEPS_PROMPT,  # the bare baseline and the assistant's step-by-step samples share one prompt
    TRAINING_EXAMPLES,
    CodeOptions,
    UsageCounter,
    fixed_examples,
    gsm8k_examples,
    grounded_answer,
    nearest_examples,
    no_examples,
)

HERE = Path(__file__).resolve().parent
TASKS = HERE / "tasks"
CORPUS = HERE.parent / "tests" / "data" / "corpus"
GSM8K = HERE.parents[1] / "shared" / "data" / "gsm8k" / "test_dev.jsonl"
GSM8K_TRAIN = HERE.parents[1] / "shared" / "data" / "gsm8k" / "train.jsonl"
PROGRAM_PROMPT = "Write a Python program that prints the answer to the question."
_FENCE = re.compile(r"```(?:python)?\n(.*?)(?:```|$)", re.DOTALL)
SETS = ("gsm8k", "arithmetic", "docs", "kg")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def load_tasks(name: str, limit: int | None, first: int = 0) -> list[dict[str, Any]]:
    """Return up to `limit` tasks of set `name` from task `first` on, each with `question` and `expected`."""
    path = GSM8K if name == "gsm8k" else TASKS / f"{name}.jsonl"
    tasks = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if "expected" not in row:
            row["expected"] = [gsm8k_answer(row["answer"])]
        tasks.append(row)
    tasks = tasks[first:]
    return tasks[:limit] if limit else tasks


def last_number_is(answer: str, expected: list[str]) -> bool:
    """True when the last number written in `answer` is the expected number (GSM8K's rule).

    Example:
        >>> last_number_is("3 + 4 = 7, so 70", ["70"]), last_number_is("7 apples and 70 pears", ["7"])
        (True, False)
    """
    numbers = numbers_in(answer)
    return bool(numbers) and any(abs(numbers[-1] - float(want)) < 1e-6 for want in expected)


def bare_steps(model: Any, question: str, counter: UsageCounter) -> str:
    """The bare model, asked to reason step by step: its reply is its answer."""
    messages = [("system", STEPS_PROMPT), ("human", question)]
    return model.invoke(messages, config={"callbacks": [counter]}, max_new_tokens=384).text


def bare_program(model: Any, question: str, counter: UsageCounter) -> str:
    """The bare model writes a program, run once in the sandbox: what it prints is its answer."""
    from graphwright.tools import run_python

    messages = [("system", PROGRAM_PROMPT), ("human", question)]
    reply = model.invoke(messages, config={"callbacks": [counter]}, max_new_tokens=384).text
    match = _FENCE.search(reply)
    result = run_python(match.group(1) if match else reply)
    return result.stdout if result.exit_code == 0 else ""


def bare_program_examples(model: Any, question: str, counter: UsageCounter) -> str:
    """The bare model with the assistant's code prompt and its four training examples writes one greedy program,
    run once in the sandbox: what it prints is its answer (the agent's prompt without its sampling, voting,
    step-by-step answers or repairs)."""
    from graphwright.nodes import code_prompt, program_of
    from graphwright.tools import run_python

    chat = code_prompt([HumanMessage(question)], fixed_examples(TRAINING_EXAMPLES))
    # the code planner's stop: the end of the first fenced block
    reply = model.invoke(chat, config={"callbacks": [counter]}, max_new_tokens=384, stop=["\n```\n"]).text
    program = program_of(reply)
    result = run_python(program) if program else None
    return result.stdout if result is not None and result.exit_code == 0 else ""


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
    """Run one question on a fresh thread (or through a bare-model function); return (answer, seconds, model
    calls, tokens)."""
    counter = UsageCounter()
    start = time.perf_counter()
    try:
        if callable(graph) and not hasattr(graph, "invoke"):
            answer = graph(question, counter)
            return answer, time.perf_counter() - start, counter.calls, counter.tokens
        config = {"callbacks": [counter], "recursion_limit": 60, "configurable": {"thread_id": new_thread_id()}}
        state = graph.invoke({"messages": [("human", question)]}, config)
        answer = str(state.get("answer") or "")
    except Exception as exc:  # a failed run is a failed task, recorded, not a crashed benchmark
        answer = f"(error: {type(exc).__name__}: {exc})"
    return answer, time.perf_counter() - start, counter.calls, counter.tokens


def example_source(name: str, cache: dict[str, Any]) -> Any:
    """The assistant's example slot by name: `none`, `fixed` (the packaged four) or `nearest` (of the training
    split, four by MiniLM similarity); the training pool is embedded once per run."""
    if name == "none":
        return no_examples
    if name == "fixed":
        return fixed_examples(TRAINING_EXAMPLES)
    if "nearest" not in cache:
        cache["nearest"] = nearest_examples(gsm8k_examples(GSM8K_TRAIN), k=4)
    return cache["nearest"]


def rows_for(set_name: str, graphs: list[str], args: argparse.Namespace, model: Any, memory: Any, cache: dict) -> list:
    """(label, runner) for each row of one task set: bare baselines (GSM8K), then each graph and variant."""
    rows: list[tuple[str, Any]] = []
    if set_name == "gsm8k" and args.baselines:
        rows += [("bare step-by-step", lambda q, c: bare_steps(model, q, c))]
        rows += [("bare program", lambda q, c: bare_program(model, q, c))]
        rows += [("bare program, the agent's prompt", lambda q, c: bare_program_examples(model, q, c))]
    for graph_name in graphs:
        builder = BUILTIN_GRAPHS[graph_name]
        if graph_name != "assistant":
            rows.append((graph_name, compile_graph(builder(model=model, memory=memory))))
            continue
        for samples in [int(k) for k in args.samples.split(",")]:
            for steps in [int(k) for k in args.step_samples.split(",")]:
                for examples in args.examples.split(","):
                    code = CodeOptions(samples=samples, step_samples=steps, steps_when=args.steps_when)
                    options = AssistantOptions(code=code)
                    graph = builder(model=model, memory=memory, options=options, examples=example_source(examples, cache))
                    label = f"k={samples}" + (f" + {steps} step-by-step {args.steps_when}" if steps else "")
                    rows.append((f"assistant ({label}, examples {examples})", compile_graph(graph)))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; return 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=3, help="tasks per set (default 3)")
    parser.add_argument("--first", type=int, default=0, help="skip the tasks before this one (default 0)")
    parser.add_argument("--graphs", default=",".join(sorted(BUILTIN_GRAPHS)), help="comma-separated graph names")
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated task sets")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="tokens each model call may write")
    parser.add_argument("--workers", type=int, default=4, help="tasks run at once, so model calls batch (default 4)")
    parser.add_argument("--samples", default="5", help="assistant: programs per turn, comma-separated (default 5)")
    parser.add_argument("--step-samples", default="5",
                        help="assistant: step-by-step answers voting beside the programs, comma-separated (default 5)")
    parser.add_argument("--steps-when", choices=("split", "always"), default="split",
                        help="assistant: ask them when the programs split (default) or always")
    parser.add_argument("--examples", default="fixed", help="assistant: none, fixed, nearest (comma-separated)")
    parser.add_argument("--no-baselines", dest="baselines", action="store_false", help="skip the bare-model rows")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds one model call may run (default 600)")
    parser.add_argument("--verbose", action="store_true", help="print each task's answer")
    parser.add_argument("--model", default=None, metavar="DIR",
                        help="a model folder or .gguf for every row, baselines included (a `graphwright learn` "
                             "result, say; default: the packaged model)")
    args = parser.parse_args(argv)
    graphs = [g for g in args.graphs.split(",") if g]
    sets = [s for s in args.sets.split(",") if s]
    unknown = [g for g in graphs if g not in BUILTIN_GRAPHS] + [s for s in sets if s not in SETS]
    unknown += [e for e in args.examples.split(",") if e not in ("none", "fixed", "nearest")]
    if unknown or args.limit < 1 or args.workers < 1:
        parser.error(f"unknown graphs, sets or examples {unknown}, or --limit or --workers below 1")

    from concurrent.futures import ThreadPoolExecutor

    from graphwright.models import ChatLocal

    named = {"model": args.model} if args.model else {}
    model = ChatLocal(**named, max_new_tokens=args.max_new_tokens, timeout=args.timeout)
    model.load()
    cache: dict[str, Any] = {}
    print("| what | task set | tasks | success | Wilson 95% | model calls/task | tokens/task | p50 s | p95 s |")
    print("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |", flush=True)
    with tempfile.TemporaryDirectory() as folder, ThreadPoolExecutor(args.workers) as pool:
        for set_name in sets:
            tasks = load_tasks(set_name, args.limit, args.first)
            memory = build_memory(set_name, tasks, Path(folder) / set_name)
            check = last_number_is if set_name == "gsm8k" else succeeded
            for label, runner in rows_for(set_name, graphs, args, model, memory, cache):
                results = []
                for task, (answer, seconds, calls, tokens) in zip(
                    tasks, pool.map(lambda task: run_task(runner, task["question"]), tasks)
                ):
                    ok = check(answer, task["expected"])
                    results.append((ok, seconds, calls, tokens))
                    if args.verbose:
                        mark = "ok " if ok else "BAD"
                        shown = f"{calls} calls {tokens} tokens {task['question'][:50]!r} -> {answer[:100]!r}"
                        print(f"  {label}/{set_name}: {mark} {seconds:5.1f}s {shown}", file=sys.stderr, flush=True)
                latencies = [r[1] for r in results]
                solved = sum(r[0] for r in results)
                low, high = wilson_interval(solved, len(results))
                numbers = [f"{100 * solved / len(results):.0f}%", f"{100 * low:.0f}-{100 * high:.0f}%"]
                numbers += [f"{statistics.mean(r[2] for r in results):.1f}", f"{statistics.mean(r[3] for r in results):.0f}"]
                numbers += [f"{percentile(latencies, 50):.1f}", f"{percentile(latencies, 95):.1f}"]
                print("| " + " | ".join([label, set_name, str(len(results)), *numbers]) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
