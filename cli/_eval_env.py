"""`graphwright eval GRAPH twx:GAME|gym:ENV_ID`: a graph played on N episodes of an environment.

    graphwright eval random twx:coin --limit 20 --first-seed 0 --fold test --max-steps 50
    graphwright eval env_agent gym:CartPole-v1 --limit 10

Episodes `--first-seed` .. `--first-seed + --limit - 1` of the fold, `--concurrency` at a time (their model calls
batch). The eval folder (`--out`) gets `checkpoints.sqlite` (each episode's thread), `trajectories.jsonl` (see
`graphwright.evals.export_trajectories`; `graphwright trajectories export` writes them out), `summary.json` and
`report.html` (the score distribution and replays of a few episodes). Given an earlier run's `--out` folder (of
the same graph and environment), the run picks up where that one stopped: finished episodes are read back, not
played again, and unfinished ones continue from their last checkpoint.
With `--learned DIR` the graph gets what `graphwright learn` kept in DIR. With `--ray [ADDRESS] --db URL` the
episodes are played on a Ray cluster (see `graphwright eval --help`), their threads in that Postgres database
instead of `checkpoints.sqlite`. The last line printed is
`success_rate=S tasks=N p50_s=X p95_s=Y mean_score=M valid_action_rate=V`.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from ..errors import GraphwrightError

__all__ = ["DEFAULT_EPISODES", "eval_env", "is_env_target"]

DEFAULT_EPISODES = 10
"""Episodes played when `--limit` is not given."""


def is_env_target(target: str) -> bool:
    """Whether an eval target names an environment (`twx:GAME`, `gym:ENV_ID`) rather than a task file.

    Example:
        >>> is_env_target("twx:coin"), is_env_target("gym:CartPole-v1"), is_env_target("tasks.jsonl")
        (True, True, False)
    """
    return target.startswith(("twx:", "gym:"))


def eval_env(args: argparse.Namespace, out: TextIO) -> int:
    """Run `args.graph` on episodes of environment `args.tasks`; print a table and the summary line; return 0.

    Raises:
        GraphwrightError: a bad bound, fold or environment, or a graph that cannot be built.
    """
    from ..envs import FOLDS, env_spec, make_env, parse_env_spec
    from ..evals import env_summary, env_summary_line, export_trajectories, run_env_eval, save_env_html
    from ..graphs import BUILTIN_GRAPHS, compile_graph, load_graph
    from ..memory import open_checkpointer
    from ._eval import ray_options

    episodes = args.limit if args.limit is not None else DEFAULT_EPISODES
    for name, value, low in (("--limit", episodes, 1), ("--concurrency", args.concurrency, 1),
                             ("--first-seed", args.first_seed, 0), ("--max-steps", args.max_steps, 1)):
        if value < low:
            raise GraphwrightError(f"{name} must be at least {low}, got {value}")
    if args.fold not in FOLDS:
        raise GraphwrightError(f"--fold must be one of {', '.join(FOLDS)}, got {args.fold!r}")
    kind, name, _ = parse_env_spec(args.tasks)
    options = {"fold": args.fold} if kind == "twx" else {}
    spec = env_spec(f"{kind}:{name}", **options, max_steps=args.max_steps)
    make_env(spec).close()  # an unknown game or env fails here, before anything is written

    cluster = ray_options(args)
    graph: Any = None  # with --ray each actor builds the graph (and loads its model) itself
    if cluster is None and args.learned is not None:  # the graph with what `graphwright learn` kept
        from ._learn import learned_graph

        graph = learned_graph(args)
    elif cluster is None:
        builder = BUILTIN_GRAPHS.get(args.graph)
        takes_model = builder is None or "model" in inspect.signature(builder).parameters
        model = None
        if takes_model and (args.model is not None or builder is not None):
            from ..models import ChatLocal

            bounds = {"max_new_tokens": args.max_new_tokens} if args.max_new_tokens else {}
            model = ChatLocal(model=args.model, **bounds)
            model.load()
        graph = load_graph(args.graph, model=model)
    if graph is not None:
        compile_graph(graph)

    folder = Path(args.out) if args.out else _default_folder(args.graph, f"{kind}-{name}")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"eval folder: {folder}", file=sys.stderr, flush=True)

    def progress(result: dict[str, Any], finished: int, total: int) -> None:
        mark = "won" if result["success"] else "lost"
        print(f"[{finished}/{total}] seed {result['seed']} {mark} score={result['score']:.2f} "
              f"steps={result['steps']} {result['seconds']:.1f}s"
              + (f" ({result['error'][:120]})" if result.get("error") else ""), file=sys.stderr, flush=True)

    if cluster is not None:
        from ..evals import GraphRef, run_episodes_on_ray

        results = run_episodes_on_ray(GraphRef(args.graph, args.model, args.max_new_tokens), spec, args.db,
                                      episodes=episodes, first_seed=args.first_seed, label=args.graph,
                                      max_steps=args.max_steps, options=cluster, on_result=progress)
    else:
        threads = _episode_threads(folder, args.graph, spec)
        with open_checkpointer(folder / "checkpoints.sqlite") as saver:
            results = run_env_eval(graph, spec, episodes=episodes, first_seed=args.first_seed,
                                   concurrency=args.concurrency, checkpointer=saver, label=args.graph,
                                   max_steps=args.max_steps, on_result=progress, threads=threads)
    summary = env_summary(results)
    trajectories = export_trajectories(results, folder / "trajectories.jsonl")
    (folder / "summary.json").write_text(json.dumps({"graph": args.graph, "env": spec, **summary}, indent=1) + "\n")
    page = save_env_html(results, folder / "report.html", title=f"{args.graph} on {spec}")
    print(f"graph {args.graph} on {spec}, seeds {args.first_seed}..{args.first_seed + episodes - 1}", file=out)
    print("| seed | score | success | steps | valid-action rate | seconds |", file=out)
    print("|---:|---:|---|---:|---:|---:|", file=out)
    for r in results:
        print(f"| {r['seed']} | {r['score']:.2f} | {r['success']} | {r['steps']} | {r['valid_action_rate']:.3f} | "
              f"{r['seconds']:.1f} |", file=out)
    low, high = summary["success_interval"]
    print(f"success 95% CI [{low:.2f}, {high:.2f}]; errors {summary['errors']}; mean steps {summary['mean_steps']:.1f}",
          file=out)
    print(f"trajectories: {trajectories}\nsummary:      {folder / 'summary.json'}\nreport:       {page}\n", file=out)
    print(env_summary_line(summary), file=out, flush=True)
    return 0


def _episode_threads(folder: Path, graph: str, spec: str) -> str:
    """The thread names of `folder`'s episodes, kept in its `episodes.json` so that a later run into the same
    folder continues them; a folder holding another graph's or environment's episodes is refused."""
    import uuid

    from ..evals import claim_folder

    claim_folder(folder, graph)
    record = folder / "episodes.json"
    if record.exists():
        try:
            kept = json.loads(record.read_text())
            env, threads = kept["env"], str(kept["threads"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise GraphwrightError(f"{record} is not an environment eval's record: {exc}") from exc
        if env != spec:
            raise GraphwrightError(f"{folder} holds episodes of {env}, not {spec}: use another --out folder (or delete it)")
        return threads
    threads = f"env-{uuid.uuid4().hex[:8]}"
    record.write_text(json.dumps({"env": spec, "threads": threads}, indent=1) + "\n")
    return threads


def _default_folder(graph: str, target: str) -> Path:
    from ._eval import DEFAULT_ROOT

    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{graph}-{target}").strip("_")
    return DEFAULT_ROOT / f"{slug}-{time.strftime('%Y%m%d-%H%M%S')}"
