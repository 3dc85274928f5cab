"""`graphwright learn`: a graph learns from a task file or an environment, and keeps only what helps.

    graphwright learn GRAPH SOURCE --out DIR [--minutes M] [--method in_context|lora|both]
                      [--device cpu|cuda|cuda:N|auto] [--limit N] [--dev-size N] [--attempts N]
                      [--concurrency N] [--model PATH] [--max-new-tokens N] [--max-steps N]
                      [--ray [ADDRESS] --db postgresql://... [--actors N]]

SOURCE is a task file as for `eval` (a GSM8K-style file's worked solutions are expert demonstrations) or an
environment, `twx:GAME` (its train fold is learned from: gold paths and, with `--attempts`, the graph's own
episodes; its dev fold checks). A dev split is held back, the graph is checked on it before and after
learning, and what was learned is kept in DIR only when the dev score rose (`graphwright.learning.learn`).
`--method in_context` gives the graph worked examples (it needs an example slot, `examples=`: the assistant
has one), `lora` fine-tunes the model (a graph that takes `model=`), `both` does both. `--limit` bounds the
training tasks (environment: train-fold seeds), `--minutes` the whole run's time (LoRA trains for what is
left), `--device` where LoRA trains. With `--ray` the graph's own runs (`--attempts`) are collected on a Ray
cluster, as `eval --ray` runs tasks (a local one when no ADDRESS is given; `auto` or `ray://host:port` joins
one): `--actors` actors each load the model once and run `--concurrency` at a time, their threads in Postgres
at `--db`; checking and learning stay in this process.

Progress goes to stderr, a line as each phase moves (a bar on a terminal). The report goes to stdout: the time
of each phase, what was learned, before and after on the dev split, and where the result is; its last line is
`before=B after=A gain=G kept=yes|no learned=DIR`. Stopped (Ctrl-C, kill -9), the same command goes on where
it was: collected experience and finished phases are kept in DIR. `graphwright eval GRAPH SOURCE --learned DIR`
evaluates the graph with what was kept. Exit codes: 0 done (kept or not), 2 bad input (nothing is written),
130 interrupted.

GRAPH is a built-in name or `module:attr`, a builder function: it is called with `examples=` (an
`ExampleSource`) and `model=` (a `ChatLocal` on the learned model folder) when it takes them. The helpers that
build a graph with what a learn run kept (`LearnedGraphs`, `learned_graph`) serve `eval --learned` too.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from ..errors import GraphNotFoundError, GraphSetupError, GraphwrightError
from ._eval import add_ray_arguments, ray_options

__all__ = ["LearnedGraphs", "add_learn_command", "learned_graph", "learned_graph_for"]

_DEVICE = re.compile(r"cpu|auto|cuda(:\d+)?")


def add_learn_command(subparsers: Any) -> None:
    """Add the `learn` subcommand to `subparsers` (from `ArgumentParser.add_subparsers`).

    Example:
        >>> parser = argparse.ArgumentParser(prog="graphwright")
        >>> add_learn_command(parser.add_subparsers(dest="command"))
        >>> args = parser.parse_args(["learn", "assistant", "train.jsonl", "--out", "run", "--minutes", "45"])
        >>> args.graph, args.source, args.out, args.minutes, args.method, args.device, args.limit
        ('assistant', 'train.jsonl', 'run', 45.0, 'in_context', 'cpu', None)
    """
    cmd = subparsers.add_parser(
        "learn",
        help="learn from a task file or environment (worked examples, LoRA); keep it only if held-back tasks improve",
        description=__doc__.split("\n\n", 2)[2].rsplit("\n\n", 1)[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmd.add_argument("graph", metavar="GRAPH",
                     help="built-in name (assistant) or module:attr (a builder taking examples= / model=)")
    cmd.add_argument("source", metavar="SOURCE",
                     help="a task file (.jsonl; GSM8K-style files give demonstrations) or twx:GAME")
    cmd.add_argument("--out", required=True, metavar="DIR",
                     help="the learn folder (an interrupted run's folder: it resumes)")
    cmd.add_argument("--minutes", type=float, default=None, metavar="M",
                     help="time budget of the whole run (default: none)")
    cmd.add_argument("--method", default="in_context", help="in_context, lora or both (default in_context)")
    cmd.add_argument("--device", default="cpu", help="where LoRA trains: cpu, cuda, cuda:N or auto (default cpu)")
    # Left out, these take `LearnOptions`' defaults (named in the help), so the library says them once.
    cmd.add_argument("--limit", type=int, default=None, metavar="N",
                     help="training tasks (environment: train-fold seeds) to learn from (default 200)")
    cmd.add_argument("--dev-size", type=int, default=None, metavar="N", help="tasks (dev-fold episodes) held back (default 50)")
    cmd.add_argument("--attempts", type=int, default=None,
                     help="runs of the graph on each training task, kept with their rewards (default 0: "
                     "demonstrations only)")
    cmd.add_argument("--concurrency", type=int, default=None, help="tasks run at the same time (default 4)")
    cmd.add_argument("--model", default=None, help="a .gguf file or Transformers folder (default: packaged)")
    cmd.add_argument("--max-new-tokens", type=int, default=None, help="tokens each model call may write")
    cmd.add_argument("--max-steps", type=int, default=None, help="environments: actions per episode (default 50)")
    add_ray_arguments(cmd)
    cmd.set_defaults(handler=_cmd_learn)


def _cmd_learn(args: argparse.Namespace, out: TextIO) -> int:
    folder = Path(args.out)
    try:
        options, graphs = _checked(args)
        report = _learn(args, options, graphs)
    except KeyboardInterrupt:
        if not (folder / "state.json").exists() and not (folder / "experience.sqlite").exists():
            print("\ngraphwright: interrupted before anything was written", file=sys.stderr, flush=True)
            return 130
        print(f"\ngraphwright: interrupted; what was collected and every finished phase are kept in {folder}. "
              "Run the same command again to resume: learn goes on where it stopped.", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(130)  # worker threads may be inside a model call or an episode; their work is not needed
    _print_report(report, args, out)
    return 0


def _checked(args: argparse.Namespace) -> tuple[Any, LearnedGraphs]:
    """Check every input before anything is written; return the learn options and the graph builder."""
    from ..evals import load_tasks
    from ..learning import LearnOptions, Learned
    from ..learning._learn import METHODS

    if args.method not in METHODS:
        raise GraphwrightError(f"--method must be one of {', '.join(METHODS)}, got {args.method!r}")
    given = {field: value for field, value in (("train_limit", args.limit), ("dev_size", args.dev_size),
                                               ("attempts", args.attempts), ("concurrency", args.concurrency),
                                               ("max_steps", args.max_steps)) if value is not None}
    for name, value, low in (("--limit", args.limit, 1), ("--dev-size", args.dev_size, 1),
                             ("--attempts", args.attempts, 0), ("--concurrency", args.concurrency, 1),
                             ("--max-steps", args.max_steps, 1)):
        if value is not None and value < low:
            raise GraphwrightError(f"{name} must be at least {low}, got {value}")
    if args.max_new_tokens is not None and args.max_new_tokens < 1:
        raise GraphwrightError(f"--max-new-tokens must be at least 1, got {args.max_new_tokens}")
    if args.minutes is not None and not args.minutes > 0:
        raise GraphwrightError(f"--minutes must be above 0, got {args.minutes}")
    if not _DEVICE.fullmatch(args.device):
        raise GraphwrightError(f"--device must be cpu, cuda, cuda:N or auto, got {args.device!r}")
    cluster = ray_options(args)
    if cluster is not None and not args.attempts:
        raise GraphwrightError("--ray collects the graph's own runs on a cluster: give --attempts N (1 or more)")
    options = LearnOptions(method=args.method, device=args.device, minutes=args.minutes, ray=cluster,
                           db=args.db if cluster is not None else None, **given)
    trains = args.method in ("lora", "both")
    if trains and args.model is not None:
        raise GraphwrightError("--model with --method lora or both: learn fine-tunes the packaged default model; "
                               "use --method in_context with another model")

    folder = Path(args.out)
    if folder.exists() and not folder.is_dir():
        raise GraphwrightError(f"--out {str(folder)!r} is a file, not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / "state.json").exists():
        raise GraphwrightError(f"--out {str(folder)!r} holds other files, not a learn run: give a new or empty folder")
    _same_run(folder, args)

    graphs = LearnedGraphs(args.graph, model=args.model, max_new_tokens=args.max_new_tokens)
    graphs.require(examples=args.method in ("in_context", "both"), model=trains)
    if args.source.startswith(("twx:", "gym:")):
        from ..envs import env_spec, make_env, parse_env_spec

        kind, name, _ = parse_env_spec(args.source)
        make_env(env_spec(f"{kind}:{name}", **({"fold": "train"} if kind == "twx" else {}),
                          max_steps=options.max_steps)).close()  # an unknown game fails here
    else:
        tasks = load_tasks(args.source)
        if any(task.tools for task in tasks):
            raise GraphwrightError(f"{args.source} has tasks that bring their own tools; learn takes question tasks")
        if len(tasks) <= options.dev_size:
            raise GraphwrightError(f"{args.source} has {len(tasks)} task(s) and --dev-size {options.dev_size} holds "
                                   "them all back: nothing is left to learn from")

    if trains:
        from ..learning import pick_device

        pick_device(args.device)  # cuda asked for where there is none fails here
    from ..graphs import compile_graph

    compile_graph(graphs(Learned()))  # the graph as it is builds (and its model loads) before anything is written
    return options, graphs


def _same_run(folder: Path, args: argparse.Namespace) -> None:
    """Refuse to resume a learn folder that holds a finished run of another graph, source or method."""
    try:
        report = json.loads((folder / "report.json").read_text())
    except (OSError, ValueError):
        return
    theirs = (report.get("graph"), report.get("source"), report.get("method"))
    if theirs != (args.graph, args.source, args.method):
        raise GraphwrightError(f"--out {str(folder)!r} holds a learn run of graph {theirs[0]!r} on {theirs[1]!r} "
                               f"(method {theirs[2]}): use another folder")


def _learn(args: argparse.Namespace, options: Any, graphs: LearnedGraphs) -> dict[str, Any]:
    from ..learning import learn

    folder = Path(args.out)
    done = _done_phases(folder)
    print(f"learn folder: {folder}" + (f" (resuming: {', '.join(done)} done)" if done else ""),
          file=sys.stderr, flush=True)
    progress = _Progress()
    try:
        return learn(args.source, folder, graphs, options=options, label=args.graph, on_progress=progress)
    finally:
        progress.close()


def _done_phases(folder: Path) -> list[str]:
    try:
        phases = json.loads((folder / "state.json").read_text()).get("phases") or {}
    except (OSError, ValueError, AttributeError):
        return []
    return [name for name, info in phases.items() if isinstance(info, dict) and info.get("done")]


def _print_report(report: Mapping[str, Any], args: argparse.Namespace, out: TextIO) -> None:
    folder = Path(args.out)
    metric = report.get("metric", "score")
    learned = report.get("learned") or {}
    experience = learned.get("experience") or {}
    print(f"graph {report['graph']} learned {report['method']} from {report['source']}: "
          f"{report['train_tasks']} training tasks, {report['dev_tasks']} held back", file=out)
    print("| phase | seconds |\n|---|---:|", file=out)
    for name, seconds in (report.get("phases") or {}).items():
        print(f"| {name} | {float(seconds or 0):.1f} |", file=out)
    what = [f"{experience.get('demonstrations', 0)} demonstrations, {experience.get('runs', 0)} runs collected",
            f"{learned.get('trajectories', 0)} successful trajectories"]
    if "examples" in learned:
        what.append(f"{learned['examples']} worked examples")
    lora = learned.get("lora")
    if isinstance(lora, Mapping):
        what.append(f"LoRA {lora.get('steps')} steps, loss {lora.get('first_loss')} -> {lora.get('last_loss')}")
    print("learned: " + "; ".join(what), file=out)
    before, after = report["before"], report["after"]
    print(f"before: {metric}={float(before['score']):.3f} on {before['tasks']} dev tasks", file=out)
    print(f"after:  {metric}={float(after['score']):.3f} on {after['tasks']} dev tasks", file=out)
    if report["kept"]:
        print(f"kept (gain {report['gain']:+.3f}): graphwright eval {args.graph} {args.source} --learned {folder}",
              file=out)
    else:
        print(f"not kept: the dev {metric} did not rise (gain {report['gain']:+.3f}); {folder} keeps the "
              "experience and the report", file=out)
    if (folder / "dev-before" / "report.json").exists():
        print(f"compare: graphwright eval-compare {folder / 'dev-before'} {folder / 'dev-after'}", file=out)
    print(f"report: {folder / 'report.json'}\n", file=out)
    print(f"before={float(before['score']):.3f} after={float(after['score']):.3f} gain={report['gain']:+.3f} "
          f"kept={'yes' if report['kept'] else 'no'} learned={folder}", file=out, flush=True)


class LearnedGraphs:
    """Builds graph `ref` with what a learn run kept: `graphs(learned)` is `learn`'s `build` argument.

    A built-in's builder, or a `module:attr` builder function, is called with `examples=learned.examples`
    when something was learned in context and `model=` a `ChatLocal` on `learned.model` (else on `model`, the
    base) when it takes a model; a `module:attr` that is a graph (not a builder) can only be used as it is.
    Each model folder loads once.
    """

    def __init__(self, ref: str, *, model: str | None = None, max_new_tokens: int | None = None) -> None:
        """Find the builder `ref` names.

        Raises:
            GraphNotFoundError: `ref` names no graph or builder.
        """
        from ..graphs import BUILTIN_GRAPHS, graph_target

        self.ref, self.base, self.max_new_tokens = ref, model, max_new_tokens
        self.builtin = ref in BUILTIN_GRAPHS
        self.target: Any = graph_target(ref)
        self.is_builder = not _is_graph(self.target)
        self.params: Mapping[str, Any] = {}
        if self.is_builder:
            try:
                self.params = inspect.signature(self.target).parameters
            except (TypeError, ValueError):  # a callable without a readable signature takes nothing we pass
                pass
        self._models: dict[str | None, Any] = {}

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickle as the reference and its settings (Ray actors get it so): models load again where it lands."""
        return functools.partial(LearnedGraphs, model=self.base, max_new_tokens=self.max_new_tokens), (self.ref,)

    def require(self, *, examples: bool = False, model: bool = False) -> None:
        """Raise `GraphSetupError` unless the builder takes `examples=` / `model=` as asked."""
        for wanted, name, why in ((examples, "examples", "worked examples learned in context (an example slot)"),
                                  (model, "model", "a fine-tuned model")):
            if wanted and name not in self.params:
                raise GraphSetupError(
                    f"graph {self.ref!r} cannot take {why}: its builder has no {name}= parameter"
                    + (" (the assistant has an example slot; use --method lora for graphs without one)"
                       if name == "examples" else "")
                )

    def __call__(self, learned: Any, **extra: Any) -> Any:
        """Return the graph built with `learned` (a `graphwright.learning.Learned`) and `extra` arguments."""
        from langgraph.graph import StateGraph
        from langgraph.pregel import Pregel

        self.require(examples=learned.examples is not None, model=learned.model is not None)
        if not self.is_builder:
            if extra:
                raise GraphSetupError(f"graph {self.ref!r} is a graph, not a builder: it cannot take "
                                      f"{', '.join(extra)}=")
            return self.target
        kwargs = dict(extra)
        path = learned.model or self.base
        if "model" in self.params and (self.builtin or path is not None or self.max_new_tokens is not None):
            kwargs["model"] = self._model(path)
        if learned.examples is not None:
            kwargs["examples"] = learned.examples
        try:
            built = self.target(**kwargs)
        except TypeError as exc:
            raise GraphNotFoundError(f"{self.ref!r} could not be called as a graph builder: {exc}") from exc
        if not isinstance(built, (StateGraph, Pregel)):
            raise GraphNotFoundError(
                f"{self.ref!r} returned {type(built).__name__}, not a StateGraph or compiled graph"
            )
        return built

    def _model(self, path: str | None) -> Any:
        if path not in self._models:
            from ..models import ChatLocal

            model = ChatLocal(model=path, **({"max_new_tokens": self.max_new_tokens} if self.max_new_tokens else {}))
            model.load()  # a missing or broken model fails here
            self._models[path] = model
        return self._models[path]


def learned_graph(args: argparse.Namespace) -> Any:
    """Return `args.graph` built with what the learn run in `args.learned` kept (for `eval --learned`).

    Raises:
        LearningError: `args.learned` holds no finished learn run.
        GraphwrightError: `--model` given beside a learned model, or the graph cannot take what was learned.
    """
    graphs, learned = _learned(args)
    return graphs(learned)


def learned_graph_for(args: argparse.Namespace, tasks: list[Any], documents: Any) -> Callable[[Any], Any]:
    """Return eval's `graph_for(tools)` for `args.graph` with what `args.learned` kept, checked to compile."""
    from ..evals import stub_tools
    from ..graphs import compile_graph

    if documents is not None:
        raise GraphwrightError("--docs and --learned cannot be combined yet: evaluate learned graphs without --docs")
    graphs, learned = _learned(args)
    graph = graphs(learned)
    compile_graph(graph)  # a malformed graph fails here
    if not any(task.tools for task in tasks):
        return lambda tools: graph
    if "tools" not in graphs.params:
        raise GraphSetupError(f"these tasks bring their own tools (BFCL cases); graph {args.graph!r} must be a "
                              "built-in name or a builder function that takes tools=")
    return lambda tools: graphs(learned, tools=stub_tools(tools)) if tools else graph


def _learned(args: argparse.Namespace) -> tuple[LearnedGraphs, Any]:
    from ..learning import load_learned

    learned = load_learned(args.learned)
    if learned.model is not None and args.model is not None:
        raise GraphwrightError(f"--learned {args.learned!r} holds a fine-tuned model; leave out --model")
    if learned.examples is None and learned.model is None:
        print(f"graphwright: the learn run in {args.learned} kept nothing (the dev score did not rise); "
              "evaluating the graph as it is", file=sys.stderr, flush=True)
    else:
        kept = [name for name, value in (("worked examples", learned.examples), ("model", learned.model)) if value]
        print(f"graphwright: with what {args.learned} learned: {' and '.join(kept)}", file=sys.stderr, flush=True)
    return LearnedGraphs(args.graph, model=args.model, max_new_tokens=args.max_new_tokens), learned


def _is_graph(value: Any) -> bool:
    from langgraph.graph import StateGraph
    from langgraph.pregel import Pregel

    return isinstance(value, (StateGraph, Pregel))


class _Progress:
    """A tqdm bar per phase on a terminal; elsewhere a line when a phase starts, ends, and every few seconds."""

    EVERY_S = 10.0
    """Seconds between progress lines within a phase, off a terminal."""

    NAMES = {"dev-before": "check before", "dev-after": "check after", "in_context": "learn in context",
             "lora": "learn LoRA"}

    def __init__(self) -> None:
        self.phase: str | None = None
        self.bar: Any = None
        self.last = 0.0

    def __call__(self, phase: str, done: int, total: int) -> None:
        name = self.NAMES.get(phase, phase)
        if phase != self.phase:
            self.close()
            self.phase, self.last = phase, 0.0
            if sys.stderr.isatty():
                try:
                    from tqdm import tqdm
                except ImportError:
                    pass
                else:
                    self.bar = tqdm(total=total, desc=name, file=sys.stderr, dynamic_ncols=True)
        if self.bar is not None:
            self.bar.total = total
            self.bar.n = done
            self.bar.refresh()
            return
        now = time.monotonic()
        if done >= total or now - self.last >= self.EVERY_S:
            self.last = now
            print(f"[{name}] {done}/{total}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
