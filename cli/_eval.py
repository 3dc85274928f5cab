"""`graphwright eval` and `graphwright eval-compare`: measure a graph on a task set; compare two reports.

    graphwright eval GRAPH TASKS [--limit N] [--out DIR] [--concurrency N] [--baseline REPORT [--max-drop F]]
                     [--model PATH] [--max-new-tokens N] [--recursion-limit N] [--docs FOLDER] [--learned DIR]
                     [--ray [ADDRESS] --db postgresql://... [--actors N]]
    graphwright eval-compare BEFORE AFTER [-o OUT.html]

`eval` runs every task of TASKS (our JSONL, GSM8K JSONL, or BFCL files: see `graphwright.evals.load_tasks`)
through GRAPH, several at a time, with a progress bar on stderr. Results, checkpoints and the report
(`report.json`, `report.html`) go to `--out` (default `.graphwright/evals/<graph>-<tasks>-<time>`); run the
same command with the same `--out` after an interruption and finished tasks are not run again. The table goes
to stdout and its last line is `success_rate=S tasks=N p50_s=X p95_s=Y`. With `--baseline` (a report.json or
its folder) the two are compared, and the exit code is 1 when the success rate fell by more than `--max-drop`
(the regression gate for CI). With `--docs FOLDER` the documents are ingested into a vector memory in the eval
folder and given to the graph as `memory=` (document-QA sets). With `--learned DIR` the graph gets what
`graphwright learn ... --out DIR` kept (see `learn --help`). With `--ray` the tasks run on a Ray cluster (a local
one when no ADDRESS is given; `auto` or `ray://host:port` joins one): `--actors` actors each load the model once
and run `--concurrency` tasks at a time, threads and the tool ledger live in Postgres at `--db`, and an actor
that dies has its tasks continued on another from their last checkpoint. Exit codes: 0 done (and the gate passed), 1 the
gate failed, 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from ..errors import GraphSetupError, GraphwrightError

__all__ = ["DEFAULT_ROOT", "add_eval_commands", "add_ray_arguments", "ray_options"]

DEFAULT_ROOT = Path(".graphwright") / "evals"
"""Where eval folders go when `--out` is not given."""


def add_eval_commands(subparsers: Any) -> None:
    """Add the `eval` and `eval-compare` subcommands to `subparsers` (from `ArgumentParser.add_subparsers`).

    Example:
        >>> parser = argparse.ArgumentParser(prog="graphwright")
        >>> add_eval_commands(parser.add_subparsers(dest="command"))
        >>> args = parser.parse_args(["eval", "assistant", "tasks.jsonl", "--limit", "10", "--max-drop", "0.02"])
        >>> args.graph, args.tasks, args.limit, args.max_drop, args.concurrency
        ('assistant', 'tasks.jsonl', 10, 0.02, 4)
    """
    run = subparsers.add_parser(
        "eval",
        help="run a task set through a graph and report success, latency, tokens and per-node time",
        description=__doc__.split("\n\n", 2)[2] if __doc__ else None,
    )
    run.add_argument("graph", help="built-in name (assistant) or module:attr")
    run.add_argument("tasks", help="a task file (.jsonl, GSM8K .jsonl, BFCL_v4_*.json), a folder of BFCL files, or "
                     "an environment: twx:GAME or gym:ENV_ID (see --first-seed, --fold, --max-steps)")
    run.add_argument("--limit", type=int, default=None, help="run only the first N tasks")
    run.add_argument("--out", default=None, help="the eval folder (give an interrupted run's folder to resume it)")
    run.add_argument("--concurrency", type=int, default=4, help="tasks run at the same time (default 4)")
    run.add_argument("--baseline", default=None, help="a report.json (or its folder) to compare with and gate on")
    run.add_argument("--max-drop", type=float, default=0.0, help="success-rate drop the gate allows (default 0)")
    run.add_argument("--model", default=None, help="a .gguf file or Transformers folder (default: packaged)")
    run.add_argument("--max-new-tokens", type=int, default=None, help="tokens each model call may write")
    run.add_argument("--recursion-limit", type=int, default=50, help="super-steps allowed per task (default 50)")
    run.add_argument(
        "--docs",
        default=None,
        help="a folder of documents to ingest into a vector memory (kept in the eval folder) given to the "
        "graph as memory= (for document-QA task sets such as bench/tasks/docs.jsonl)",
    )
    run.add_argument("--first-seed", type=int, default=0, help="environments: the first episode's seed (default 0)")
    run.add_argument("--fold", default="test", help="environments: train, dev or test (default test)")
    run.add_argument("--max-steps", type=int, default=50, help="environments: actions per episode (default 50)")
    run.add_argument("--learned", default=None,
                     help="a `graphwright learn --out` folder: the graph gets what that run kept (worked examples, "
                     "a fine-tuned model)")
    add_ray_arguments(run)
    run.set_defaults(handler=_cmd_eval)

    both = subparsers.add_parser("eval-compare", help="compare two eval reports side by side (before, after)")
    both.add_argument("before", help="the baseline report.json (or its folder)")
    both.add_argument("after", help="the new report.json (or its folder)")
    both.add_argument("-o", "--output", default=None, help="also write the comparison as an HTML page here")
    both.set_defaults(handler=_cmd_compare)


def _cmd_eval(args: argparse.Namespace, out: TextIO) -> int:
    try:
        return _eval(args, out)
    except KeyboardInterrupt:  # before any task ran (while the model loads, say): nothing to resume
        print("graphwright: interrupted", file=sys.stderr)
        return 130


def _eval(args: argparse.Namespace, out: TextIO) -> int:
    from ._eval_env import eval_env, is_env_target

    if is_env_target(args.tasks):
        return eval_env(args, out)
    from ..evals import (
        build_report,
        format_comparison,
        format_table,
        gate,
        load_report,
        load_tasks,
        previous_results,
        run_eval,
        save_report,
    )

    for name, value in (("--limit", args.limit), ("--concurrency", args.concurrency),
                        ("--max-new-tokens", args.max_new_tokens), ("--recursion-limit", args.recursion_limit)):
        if value is not None and value < 1:
            raise GraphwrightError(f"{name} must be at least 1, got {value}")
    if not args.max_drop >= 0:
        raise GraphwrightError(f"--max-drop must be 0 or more, got {args.max_drop}")
    tasks = load_tasks(args.tasks, limit=args.limit)
    baseline = load_report(args.baseline) if args.baseline else None
    folder = Path(args.out) if args.out else _default_folder(args.graph, args.tasks)
    if folder.exists() and not folder.is_dir():
        raise GraphwrightError(f"--out {str(folder)!r} is a file, not a folder")
    documents = _documents(args.docs) if args.docs else None
    options = ray_options(args)
    graph_for = _graph_source(args, tasks, folder, documents) if options is None else None

    already = previous_results(folder)
    reused = sum(1 for t in tasks if t.id in already and already[t.id].get("key") == t.key())
    print(f"eval folder: {folder}" + (f" (resuming: {reused} of {len(tasks)} tasks done)" if reused else ""),
          file=sys.stderr, flush=True)
    progress = _Progress(len(tasks), reused)
    try:
        if options is None:
            results = run_eval(
                tasks, graph_for, folder, label=args.graph, concurrency=args.concurrency,
                recursion_limit=args.recursion_limit, on_result=progress.update,
            )
        else:  # actors and the cluster are gone before an interrupt gets here
            from ..evals import GraphRef, run_tasks_on_ray

            results = run_tasks_on_ray(
                tasks, GraphRef(args.graph, args.model, args.max_new_tokens), args.db, folder, label=args.graph,
                options=options, recursion_limit=args.recursion_limit, on_result=progress.update,
            )
    except KeyboardInterrupt:
        progress.close()
        done = len(previous_results(folder))
        print(f"graphwright: interrupted; {done} finished task(s) are saved in {folder}. Run the same command "
              f"with --out {folder} to go on.", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(130)  # worker threads may be inside a model call; their results are not needed
    progress.close()

    running = args.concurrency * (options.actors if options is not None else 1)
    report = build_report(results, graph=args.graph, tasks_file=str(args.tasks), concurrency=running)
    json_path, html_path = save_report(report, folder, baseline)
    body, _, last = format_table(report).rpartition("\n")
    print(body, file=out)
    code = 0
    if baseline is not None:
        print(f"\ncompared with {args.baseline}:\n{format_comparison(baseline, report)}\n", file=out)
        passed, message = gate(baseline, report, args.max_drop)
        print(f"graphwright: {message}", file=sys.stderr, flush=True)
        code = 0 if passed else 1
    print(f"report: {json_path}\nhtml:   {html_path}\n", file=out)
    print(last, file=out, flush=True)
    return code


def add_ray_arguments(command: argparse.ArgumentParser) -> None:
    """Add `--ray [ADDRESS]`, `--actors N` and `--db URL` to `command` (read back by `ray_options`)."""
    command.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                         help="run on a Ray cluster: a local one (no ADDRESS), or join `auto` / `ray://host:port`")
    command.add_argument("--actors", type=int, default=None,
                         help="with --ray: actors, each loading the model once (default 2)")
    command.add_argument("--db", default=None, help="with --ray: the postgresql:// URL that holds every thread")


def ray_options(args: argparse.Namespace) -> Any:
    """The `RayOptions` that `--ray`, `--actors` and `--concurrency` ask for, or None without `--ray`.

    Raises:
        GraphwrightError: `--ray` without a Postgres `--db`, with `--docs` or `--learned`, or fewer than 1 actor;
            `--db` or `--actors` without `--ray`; a graph reference that names no graph.
    """
    from ..evals import RayOptions
    from ..graphs import graph_target
    from ..memory import is_postgres_url

    if args.ray is None:
        if args.db is not None or args.actors is not None:
            raise GraphwrightError("--db and --actors go with --ray (without it, threads stay in the run's folder)")
        return None
    if args.db is None or not is_postgres_url(args.db):
        raise GraphwrightError("--ray needs --db postgresql://...: every actor keeps its threads in that database")
    for flag in ("docs", "learned"):
        if getattr(args, flag, None) is not None:
            raise GraphwrightError(f"--{flag} is not supported with --ray: run without --ray")
    actors = 2 if args.actors is None else args.actors
    if actors < 1:
        raise GraphwrightError(f"--actors must be at least 1, got {actors}")
    graph_target(args.graph)  # a graph that does not exist fails here, before a cluster starts
    concurrency = RayOptions.concurrency if args.concurrency is None else args.concurrency
    return RayOptions(address=None if args.ray == "local" else args.ray, actors=actors, concurrency=concurrency)


def _cmd_compare(args: argparse.Namespace, out: TextIO) -> int:
    from ..evals import format_comparison, load_report, save_html

    before, after = load_report(args.before), load_report(args.after)
    print(format_comparison(before, after), file=out)
    if args.output:
        path = Path(args.output)
        if not path.parent.is_dir():
            raise GraphwrightError(f"cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist")
        save_html(after, path, before)
        print(f"html: {path}", file=out)
    return 0


def _default_folder(graph: str, tasks: str) -> Path:
    stem = Path(tasks.rstrip("/")).stem or "tasks"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{graph}-{stem}").strip("_")
    return DEFAULT_ROOT / f"{slug}-{time.strftime('%Y%m%d-%H%M%S')}"


def _documents(folder: str) -> list[Path]:
    """The files `--docs` names (not hidden ones), or a clear error."""
    path = Path(folder)
    if not path.is_dir():
        raise GraphwrightError(f"--docs {folder!r} is not a folder")
    files = sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.parts))
    if not files:
        raise GraphwrightError(f"--docs {folder!r} holds no documents")
    return files


def _with_memory(args: argparse.Namespace, model: Any, folder: Path, documents: list[Path]) -> Any:
    """Build the graph with a vector memory holding `documents` (ingested once into the eval folder)."""
    from ..evals import claim_folder
    from ..memory import open_vector_memory, packaged_embeddings

    builder = _builder(args.graph)
    if builder is None or "memory" not in inspect.signature(builder).parameters:
        raise GraphSetupError(
            f"--docs needs a graph that takes memory=: a built-in, or a builder function; not {args.graph!r}"
        )
    folder.mkdir(parents=True, exist_ok=True)
    claim_folder(folder, args.graph)  # a folder of another graph's eval is refused before anything is ingested
    memory = open_vector_memory(folder / "memory", ("eval",), embeddings=packaged_embeddings())
    for path in documents:  # stored chunks are not embedded again when an eval resumes
        memory.ingest_file(path, source=path.name)
    params = inspect.signature(builder).parameters
    return builder(memory=memory, **({"model": model} if model is not None and "model" in params else {}))


def _graph_source(args: argparse.Namespace, tasks: list[Any], folder: Path, documents: list[Path] | None) -> Any:
    """Return `graph_for(tools)`, after checking up front that the graph loads and compiles."""
    from ..evals import stub_tools
    from ..graphs import BUILTIN_GRAPHS, compile_graph, load_graph

    if args.learned is not None:
        from ._learn import learned_graph_for

        return learned_graph_for(args, tasks, documents)

    model = None
    if args.model is not None or args.max_new_tokens is not None or args.graph in BUILTIN_GRAPHS:
        from ..models import ChatLocal

        options = {"max_new_tokens": args.max_new_tokens} if args.max_new_tokens else {}
        model = ChatLocal(model=args.model, **options)
        model.load()  # a missing or broken model fails here, before anything is written
    graph = load_graph(args.graph, model=model)
    compile_graph(graph)  # a malformed graph fails here
    if documents is not None:
        graph = _with_memory(args, model, folder, documents)
        compile_graph(graph)
    if not any(task.tools for task in tasks):
        return lambda tools: graph
    builder = _builder(args.graph)
    params = inspect.signature(builder).parameters if builder is not None else {}
    if "tools" not in params:
        raise GraphSetupError(
            f"these tasks bring their own tools (BFCL cases); graph {args.graph!r} must be a built-in name or a "
            "builder function that takes tools="
        )
    extra = {"model": model} if model is not None and "model" in params else {}
    return lambda tools: builder(tools=stub_tools(tools), **extra) if tools else graph


def _builder(ref: str) -> Any:
    """The builder function `ref` names (a built-in's, or a `module:function` one), or None."""
    import importlib

    from ..graphs import BUILTIN_GRAPHS

    if ref in BUILTIN_GRAPHS:
        return BUILTIN_GRAPHS[ref]
    module_name, _, attr = ref.partition(":")
    target: Any = importlib.import_module(module_name)  # load_graph has imported it already
    for part in attr.split("."):
        target = getattr(target, part)
    return target if inspect.isfunction(target) else None


class _Progress:
    """A tqdm bar on a terminal; elsewhere (logs, CI) one line per finished task."""

    def __init__(self, total: int, done: int) -> None:
        self.bar = None
        if sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self.bar = tqdm(total=total, initial=done, unit="task", file=sys.stderr, dynamic_ncols=True)

    def update(self, result: dict[str, Any], finished: int, total: int) -> None:
        mark = "pass" if result["ok"] else "FAIL"
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(f"{result['id']} {mark}", refresh=True)
        else:
            print(f"[{finished}/{total}] {result['id']} {mark} {result['seconds']:.1f}s"
                  + (f" ({result['error'][:120]})" if result.get("error") else ""), file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
