"""Agents in environments: `random`, `env_agent` and the gold path on TextWorldExpress's eight games, and the
framework's per-step cost apart from the model.

    .venv/bin/python bench/envs.py [--episodes 10] [--max-steps 30] [--first-seed 0] [--games coin,twc]
                                   [--concurrency 4] [--skip-model] [--model-games coin,mapreader]
                                   [--model-episodes N] [--overhead-steps 200] [--json OUT]

Every graph plays the same test-fold seeds. Per game and graph: mean score, successes with their Wilson 95%
interval, valid-action rate, mean steps, p50 seconds per episode. The gold path (the engine's expert actions,
cut at `--max-steps`) is the ceiling, `random` the floor.

The overhead table runs a scripted policy (the gold path, then `look around`) through `env_agent`'s graph with
a SQLite checkpointer (durability "sync", so checkpoint writes are timed in line) and splits each step's time
into the environment's own step (the same actions timed on a bare environment), the checkpoint writes (timed
at the saver), the policy's own time (it stands for the model; the gold paths are worked out before timing)
and the rest: what graphwright and LangGraph add.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from graphwright.envs import TWX_GAMES, twx_env
from graphwright.evals import env_summary, run_env_eval, wilson_interval
from graphwright.graphs import EnvAgentOptions, build_env_agent, build_random_agent, compile_graph, thread_config
from graphwright.memory import open_checkpointer


def gold_policy(game: str):
    """A policy that plays each episode's gold path (its engine's expert actions), then `look around`."""
    paths: dict[int, list[str]] = {}
    lock = threading.Lock()
    env = twx_env(game, fold="test", max_steps=10**6)

    def play(state: dict[str, Any]) -> str:
        with lock:
            if state["seed"] not in paths:
                env.reset(seed=state["seed"])
                paths[state["seed"]] = env.gold_actions()
        path = paths[state["seed"]]
        taken = len(state.get("steps") or [])
        return path[taken] if taken < len(path) else "look around"

    return play


def measure_games(args: argparse.Namespace, model: Any) -> list[dict[str, Any]]:
    rows = []
    options = EnvAgentOptions(max_steps=args.max_steps)
    for game in args.games:
        spec = f"twx:{game}?fold=test&max_steps={args.max_steps}"
        graphs = {
            "gold": build_env_agent(policy=gold_policy(game), options=options),
            "random": build_random_agent(seed=0, options=options),
        }
        if model is not None and game in args.model_games:
            graphs["env_agent"] = build_env_agent(model, options=options)
        for name, graph in graphs.items():
            started = time.perf_counter()
            episodes = args.model_episodes if name == "env_agent" and args.model_episodes else args.episodes
            results = run_env_eval(graph, spec, episodes=episodes, first_seed=args.first_seed,
                                   concurrency=args.concurrency if name == "env_agent" else 1, label=name)
            summary = env_summary(results)
            wins = sum(r["success"] for r in results)
            low, high = wilson_interval(wins, len(results))
            row = {"game": game, "graph": name, "episodes": len(results), "mean_score": summary["mean_score"],
                   "successes": wins, "ci_low": low, "ci_high": high,
                   "valid_action_rate": summary["valid_action_rate"], "mean_steps": summary["mean_steps"],
                   "p50_s": summary["p50_s"], "errors": summary["errors"], "wall_s": time.perf_counter() - started}
            rows.append(row)
            print(_row(row), flush=True)
    return rows


def _row(r: dict[str, Any]) -> str:
    return (f"| {r['game']} | {r['graph']} | {r['episodes']} | {r['mean_score']:.3f} | {r['successes']}/{r['episodes']} "
            f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}] | {r['valid_action_rate']:.3f} | {r['mean_steps']:.1f} | "
            f"{r['p50_s']:.2f} |")


class _TimedSaver:
    """Times a checkpointer's writes (put, put_writes) while passing every call through."""

    def __init__(self, saver: Any) -> None:
        self.seconds = 0.0
        for name in ("put", "put_writes"):
            original = getattr(saver, name)

            def timed(*a: Any, _original: Any = original, **k: Any) -> Any:
                started = time.perf_counter()
                try:
                    return _original(*a, **k)
                finally:
                    self.seconds += time.perf_counter() - started

            setattr(saver, name, timed)


def measure_overhead(game: str, steps: int, episodes: int = 5) -> dict[str, Any]:
    """Per-step milliseconds: through the graph, the bare environment's step, the checkpoint writes, the rest."""
    gold = gold_policy(game)
    for seed in (999, *range(episodes)):  # the gold paths are worked out before the timing, not inside it
        gold({"seed": seed, "steps": []})
    policy_s = [0.0]

    def policy(state: dict[str, Any]) -> str:  # the policy stands for the model: its time is not the framework's
        started = time.perf_counter()
        try:
            return gold(state)
        finally:
            policy_s[0] += time.perf_counter() - started

    options = EnvAgentOptions(max_steps=steps)
    with tempfile.TemporaryDirectory() as folder, open_checkpointer(Path(folder) / "c.sqlite") as saver:
        timer = _TimedSaver(saver)
        shared = twx_env(game, fold="test", max_steps=steps)  # one engine: no JVM start inside the timing
        graph = compile_graph(build_env_agent(env=shared, policy=policy, options=options), checkpointer=saver)
        total_steps, graph_s, trajectories = 0, 0.0, []
        graph.invoke({"seed": 999}, thread_config("warm", recursion_limit=2 * steps + 5), durability="sync")
        timer.seconds, policy_s[0] = 0.0, 0.0
        for seed in range(episodes):
            config = thread_config(f"over-{seed}", recursion_limit=2 * steps + 5)
            started = time.perf_counter()
            final = graph.invoke({"seed": seed}, config, durability="sync")
            graph_s += time.perf_counter() - started
            total_steps += len(final["steps"])
            trajectories.append((seed, [s["action"] for s in final["steps"]]))
        checkpoint_s = timer.seconds
        env_s = 0.0
        for timed in (False, True):  # the same engine, warmed up by a first untimed pass
            for seed, actions in trajectories:
                started = time.perf_counter()
                shared.reset(seed=seed)
                for action in actions:
                    shared.step(action)
                env_s += (time.perf_counter() - started) if timed else 0.0
        shared.close()
    per = 1000 / total_steps
    rest = graph_s - env_s - checkpoint_s - policy_s[0]
    return {"game": game, "steps": total_steps, "graph_ms": graph_s * per, "env_ms": env_s * per,
            "checkpoint_ms": checkpoint_s * per, "policy_ms": policy_s[0] * per, "framework_ms": rest * per,
            "framework_share": rest / (env_s + checkpoint_s)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--max-steps", type=int, default=30)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--games", type=lambda s: s.split(","), default=list(TWX_GAMES))
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--skip-model", action="store_true", help="only gold and random")
    parser.add_argument("--model-games", type=lambda s: s.split(","), default=list(TWX_GAMES),
                        help="games env_agent plays (default all; the model is the slow part)")
    parser.add_argument("--model-episodes", type=int, default=None,
                        help="episodes env_agent plays per game (default --episodes; the first seeds of the same run)")
    parser.add_argument("--overhead-steps", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    model = None
    if not args.skip_model:
        from graphwright.models import ChatLocal

        model = ChatLocal(max_new_tokens=48)
        model.load()
    print(f"test fold, seeds {args.first_seed}..{args.first_seed + args.episodes - 1}, max {args.max_steps} steps")
    print("| game | graph | episodes | mean score | successes [95% CI] | valid-action rate | mean steps | p50 s |")
    print("|---|---|---:|---:|---|---:|---:|---:|")
    rows = measure_games(args, model)
    print("\nper-step cost, scripted policy, SQLite checkpointer (durability sync), ms per action:")
    print("| game | actions | through the graph | env step | checkpoint writes | policy | framework | framework / (env + checkpoint) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    overhead = []
    for game in ("coin", "cookingworld"):
        o = measure_overhead(game, args.overhead_steps)
        overhead.append(o)
        print(f"| {o['game']} | {o['steps']} | {o['graph_ms']:.2f} | {o['env_ms']:.3f} | {o['checkpoint_ms']:.2f} | "
              f"{o['policy_ms']:.3f} | {o['framework_ms']:.2f} | {o['framework_share']:.1%} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"games": rows, "overhead": overhead}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
