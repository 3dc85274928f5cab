"""Agents in environments: `random`, `env_agent` and the gold path on TextWorldExpress's eight games, and the
framework's per-step cost apart from the model.

    .venv/bin/python bench/envs.py [--episodes 10] [--max-steps 30] [--first-seed 0] [--games coin,twc]
                                   [--concurrency 4] [--skip-model] [--model-games coin,mapreader]
                                   [--model-episodes N] [--json OUT]
                                   [--overhead-only] [--overhead-steps 200] [--overhead-games coin]
                                   [--overhead-repeat 3] [--backends none,memory,sqlite]

Every graph plays the same test-fold seeds. Per game and graph: mean score, successes with their Wilson 95%
interval, valid-action rate, mean steps, p50 seconds per episode. The gold path (the engine's expert actions,
cut at `--max-steps`) is the ceiling, `random` the floor.

The per-step cost tables run scripted policies (no model) through `env_agent`'s graph on one shared
environment instance (no engine start inside the timing): TextWorldExpress games on their gold path (short
episodes, each won), coin with `wander` (valid actions, never `take coin`, so every episode runs to the step
bound), and CartPole-v1 with `lean` (push toward the side the pole leans). Per checkpointer (`none`: compiled
without one; `memory`; `sqlite`: a file in a temporary folder), every episode runs with durability "sync" so
each checkpoint is written before the next step starts, and each action's wall time through the graph is split:

- env step: the time inside the environment's `reset` and `step` as the graph calls them (timed on the
  instance). "env step, bare" is the same episodes replayed on the bare environment in a tight loop right
  after, for comparison: TextWorldExpress answers a tight loop faster than calls spread between other work.
- checkpoint: the time inside the checkpointer's `put` and `put_writes` (timed where they run, on LangGraph's
  background thread).
- policy: the scripted policy's time (it stands for the model, whose time is not the framework's).
- framework: the rest, what graphwright and LangGraph add. Where a save overlaps the main thread's work, the
  overlap is subtracted twice, so this is a lower bound; the `none` rows have no save to overlap.

The ratio is framework / (env step + checkpoint), the issue's measure (its goal: at most 10%), with the median
run of `--overhead-repeat` shown. A second table compares the checkpoint cost (and, on SQLite, the bytes stored)
of an episode's first and last quarter of actions: it should not grow with the episode. The last line is a
bare LangGraph loop, one node and one integer channel, per super-step: the floor under any graph that takes one
super-step per action.
"""


from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
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


def wander_policy(avoid: tuple[str, ...] = ("take coin",)) -> Any:
    """A scripted policy: a valid action picked by a hash of (episode, step), never one starting with `avoid`,
    so a coin episode runs to its step bound (the long episodes that show whether a step's cost grows)."""

    def play(state: dict[str, Any]) -> str:
        valid = [a for a in state["valid_actions"] if not a.startswith(avoid)] or state["valid_actions"]
        return valid[hash((state["seed"], len(state["steps"]))) % len(valid)]

    return play


def lean_policy(state: dict[str, Any]) -> str:
    """CartPole's scripted policy: push toward the side the pole leans (read from the observation's text)."""
    return "push right" if "leaning right" in state["observation"] else "push left"


class _TimedSaver:
    """Times a checkpointer's writes (put, put_writes), per call and in all, while passing every call through.

    `per_action[k]` lists the seconds spent saving the k-th action of an episode (its writes and the checkpoint
    after it; action 0 is the reset). LangGraph counts steps from the input's checkpoint (-1): the checkpoint
    of step k + 1 follows action k, and the writes made from the checkpoint of step k are action k's.
    """

    def __init__(self, saver: Any) -> None:
        self.seconds = 0.0
        self.per_action: dict[int, list[float]] = {}
        self._step_of: dict[str, int] = {}
        original_put, original_writes = saver.put, saver.put_writes

        def put(config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
            step = self._step_of[checkpoint["id"]] = int(metadata.get("step", -1))
            return self._timed(step - 1, original_put, config, checkpoint, metadata, new_versions)

        def put_writes(config: Any, writes: Any, task_id: str, task_path: str = "") -> Any:
            step = self._step_of.get(config["configurable"].get("checkpoint_id"), -2)
            return self._timed(step, original_writes, config, writes, task_id, task_path)

        saver.put, saver.put_writes = put, put_writes

    def _timed(self, step: int, call: Callable[..., Any], *args: Any) -> Any:
        started = time.perf_counter()
        try:
            return call(*args)
        finally:
            took = time.perf_counter() - started
            self.seconds += took
            self.per_action.setdefault(step, []).append(took)

    def reset(self) -> None:
        self.seconds, self.per_action = 0.0, {}


@dataclass(frozen=True)
class OverheadCase:
    """One environment and scripted policy whose per-step cost is measured."""

    name: str
    """How the table names it."""
    make: Callable[[int], Any]
    """max_steps -> a fresh `TextEnv` (one per case: the graph shares it, so no engine starts while timed)."""
    policy: Callable[[dict[str, Any]], str]
    """The scripted policy (it stands for the model; its time is counted apart)."""
    seeds: tuple[int, ...]
    """The episodes played per run."""


def overhead_cases(games: list[str]) -> list[OverheadCase]:
    """TextWorldExpress games with the gold path (short, won episodes) and coin with `wander` (runs to the step
    bound), and CartPole-v1 with `lean`."""
    from graphwright.envs import cartpole_env

    cases = []
    for game in games:
        gold = gold_policy(game)
        for seed in range(5):  # the gold paths are worked out before the timing, not inside it
            gold({"seed": seed, "steps": []})
        cases.append(OverheadCase(f"twx:{game} gold", lambda n, g=game: twx_env(g, fold="test", max_steps=n), gold,
                                  tuple(range(5))))
    cases.append(OverheadCase("twx:coin wander", lambda n: twx_env("coin", fold="test", max_steps=n), wander_policy(),
                              (0, 1)))
    cases.append(OverheadCase("gym:CartPole-v1 lean", cartpole_env, lean_policy, tuple(range(5))))
    return cases


def measure_overhead(case: OverheadCase, backend: str, steps: int, repeat: int = 3,
                     build: Callable[..., Any] = build_env_agent) -> dict[str, Any]:
    """Per-action milliseconds of `case` through `build`'s graph on checkpointer `backend` (`none`, `memory`,
    `sqlite`), the median of `repeat` runs (each run: the case's episodes on fresh threads, durability sync).

    Each run splits the graph's wall time into: the environment's own step (the same episodes replayed on the
    bare environment right after, reset included), the checkpoint writes (the saver's put and put_writes, timed
    where they run), the policy's time, and the framework: the rest. `ratio` is framework / (env + checkpoint).
    """
    env = case.make(steps)
    env_s = _time_calls(env, ("reset", "step"))
    policy_s = [0.0]

    def policy(state: dict[str, Any]) -> str:
        started = time.perf_counter()
        try:
            return case.policy(state)
        finally:
            policy_s[0] += time.perf_counter() - started

    options = EnvAgentOptions(max_steps=steps)
    runs, growth, sizes = [], {}, {}
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        saver = None
        if backend != "none":
            saver = stack.enter_context(open_checkpointer(":memory:" if backend == "memory" else Path(folder) / "c.sqlite"))
        timer = _TimedSaver(saver) if saver is not None else None
        graph = compile_graph(build(env=env, policy=policy, options=options), checkpointer=saver)
        extra = {"durability": "sync"} if saver is not None else {}
        for seed in case.seeds:  # a warm-up pass: the engine's JIT and every cache warm before the timing
            graph.invoke({"seed": seed}, thread_config(f"warm-{seed}", recursion_limit=2 * steps + 5), **extra)
        for run in range(repeat):
            if timer is not None:
                timer.reset()
            policy_s[0], env_s[0], trajectories, actions = 0.0, 0.0, [], 0
            cpu, started = time.process_time(), time.perf_counter()
            for seed in case.seeds:
                thread = f"r{run}-{seed}"
                final = graph.invoke({"seed": seed}, thread_config(thread, recursion_limit=2 * steps + 5), **extra)
                actions += len(final["steps"])
                trajectories.append((seed, [s["action"] for s in final["steps"]], thread))
            graph_s, cpu_s, in_graph_s = time.perf_counter() - started, time.process_time() - cpu, env_s[0]
            bare_s = _replay_seconds(env, trajectories)
            checkpoint_s = timer.seconds if timer is not None else 0.0
            rest = graph_s - in_graph_s - checkpoint_s - policy_s[0]
            per = 1000 / actions
            runs.append({"actions": actions, "graph_ms": graph_s * per, "env_ms": in_graph_s * per,
                         "bare_env_ms": bare_s * per, "checkpoint_ms": checkpoint_s * per,
                         "policy_ms": policy_s[0] * per, "framework_ms": rest * per, "cpu_ms": cpu_s * per,
                         "ratio": rest / (in_graph_s + checkpoint_s), "ratio_bare": rest / (bare_s + checkpoint_s)})
            if timer is not None:
                growth = _growth(timer.per_action, steps)
            if backend == "sqlite":
                sizes = _sqlite_sizes(saver, [t for _, _, t in trajectories], steps)
    env.close()
    middle = sorted(runs, key=lambda r: r["framework_ms"])[len(runs) // 2]
    return {"case": case.name, "backend": backend, "steps": steps, **middle, "growth": growth, "bytes": sizes,
            "runs": runs}


def _time_calls(env: Any, names: tuple[str, ...]) -> list[float]:
    """Time `env`'s methods `names` where the graph calls them; return the one-item list their seconds add up in."""
    spent = [0.0]
    for name in names:
        original = getattr(env, name)

        def timed(*a: Any, _original: Any = original, **k: Any) -> Any:
            started = time.perf_counter()
            try:
                return _original(*a, **k)
            finally:
                spent[0] += time.perf_counter() - started

        setattr(env, name, timed)
    return spent


def _replay_seconds(env: Any, trajectories: list[tuple[int, list[str], str]]) -> float:
    """The bare environment's time for the same episodes: reset, then the same actions in a tight loop (the
    faster of two passes, so a stall of this shared machine is not counted as the environment's)."""
    best = float("inf")
    for _ in range(2):
        started = time.perf_counter()
        for seed, actions, _ in trajectories:
            env.reset(seed=seed)
            for action in actions:
                env.step(action)
        best = min(best, time.perf_counter() - started)
    return best


def _growth(per_action: dict[int, list[float]], steps: int) -> dict[str, float]:
    """Median checkpoint ms per action for the first and the last quarter of the step bound (empty when too few;
    the median, so the one action in a hundred that stores a full copy of `steps` does not move it)."""
    quarter = max(steps // 4, 1)
    spans = {"first": range(1, quarter + 1), "last": range(steps - quarter + 1, steps + 1)}
    out = {}
    for name, span in spans.items():
        # an action's cost: its writes and its checkpoint, averaged over the episodes that reached it
        totals = [sum(per_action[k]) / max(len(per_action[k]) / 2, 1) for k in span if k in per_action]
        if len(totals) == len(span):
            out[name] = 1000 * statistics.median(totals)
    return out


def _sqlite_sizes(saver: Any, threads: list[str], steps: int) -> dict[str, float]:
    """Median bytes stored per action (checkpoint blob plus its writes) for the first and last quarter of the step
    bound, over `threads` that ran that long, and the largest of all (a full copy of `steps`)."""
    quarter = max(steps // 4, 1)
    first, last, every = [], [], []
    for thread in threads:
        rows = saver.conn.execute(
            "SELECT c.checkpoint_id, length(c.checkpoint) + coalesce((SELECT sum(length(w.value)) FROM writes w "
            "WHERE w.thread_id = c.thread_id AND w.checkpoint_id = c.parent_checkpoint_id), 0) "
            "FROM checkpoints c WHERE c.thread_id = ? ORDER BY c.checkpoint_id", (thread,)).fetchall()
        sizes = [size for _, size in rows][3:]  # after the input's two and the reset's: one per action
        if len(sizes) >= steps:
            every += sizes
            first += sizes[:quarter]
            last += sizes[steps - quarter: steps]
    return {"first": statistics.median(first), "last": statistics.median(last), "largest": max(every)} if first else {}


def langgraph_floor(backend: str, steps: int = 300, repeat: int = 3) -> float:
    """Milliseconds per super-step of a bare LangGraph loop (one node, one integer channel) on `backend`, the
    median of `repeat` runs: what any one-node-per-action graph pays before it does anything."""
    from typing import Literal, TypedDict

    from langgraph.graph import START, StateGraph
    from langgraph.types import Command

    class Count(TypedDict):
        n: int

    def tick(state: Count) -> Command[Literal["tick", "__end__"]]:
        return Command(update={"n": state["n"] + 1}, goto="__end__" if state["n"] + 1 >= steps else "tick")

    times = []
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        saver = None
        if backend != "none":
            saver = stack.enter_context(open_checkpointer(":memory:" if backend == "memory" else Path(folder) / "f.sqlite"))
        graph = StateGraph(Count).add_node("tick", tick).add_edge(START, "tick").compile(checkpointer=saver)
        extra = {"durability": "sync"} if saver is not None else {}
        for run in range(repeat + 1):
            started = time.perf_counter()
            graph.invoke({"n": 0}, thread_config(f"f{run}", recursion_limit=steps + 5), **extra)
            if run:  # the first run warms up
                times.append((time.perf_counter() - started) * 1000 / steps)
    return statistics.median(times)


def print_overhead(rows: list[dict[str, Any]], floors: dict[str, float]) -> None:
    """Print the per-step cost table, the growth table and the LangGraph floor."""
    print("| environment, scripted policy | checkpointer | actions | through the graph | env step | env step, bare | "
          "checkpoint put/put_writes | policy | framework | framework / (env + checkpoint) | the same, bare env |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for o in rows:
        print(f"| {o['case']} | {o['backend']} | {o['actions']} | {o['graph_ms']:.3f} | {o['env_ms']:.3f} | "
              f"{o['bare_env_ms']:.3f} | {o['checkpoint_ms']:.3f} | {o['policy_ms']:.3f} | {o['framework_ms']:.3f} | "
              f"{o['ratio']:.0%} | {o['ratio_bare']:.0%} |")
    print("\ncheckpoint cost per action, early against late in long episodes (medians; ms, and on SQLite the bytes "
          "stored per action and the largest, a full copy of steps):")
    print("| environment, scripted policy | checkpointer | bound | first quarter ms | last quarter ms | "
          "first quarter bytes | last quarter bytes | largest bytes |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for o in rows:
        if o["growth"].get("last") is None:
            continue
        size = o["bytes"]
        print(f"| {o['case']} | {o['backend']} | {o['steps']} | {o['growth']['first']:.3f} | {o['growth']['last']:.3f} | "
              f"{size.get('first', float('nan')):.0f} | {size.get('last', float('nan')):.0f} | "
              f"{size.get('largest', float('nan')):.0f} |")
    print("\na bare LangGraph loop (one node, one integer channel), ms per super-step: "
          + ", ".join(f"{name} {ms:.3f}" for name, ms in floors.items()))


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
    parser.add_argument("--overhead-only", action="store_true", help="only the per-step cost tables")
    parser.add_argument("--overhead-steps", type=int, default=200)
    parser.add_argument("--overhead-games", type=lambda s: s.split(","), default=["coin"],
                        help="TextWorldExpress games played on their gold path in the per-step cost table")
    parser.add_argument("--overhead-repeat", type=int, default=3, help="runs per row; the median is shown")
    parser.add_argument("--backends", type=lambda s: s.split(","), default=["none", "memory", "sqlite"])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    rows: list[dict[str, Any]] = []
    if not args.overhead_only:
        model = None
        if not args.skip_model:
            from graphwright.models import ChatLocal

            model = ChatLocal(max_new_tokens=48)
            model.load()
        print(f"test fold, seeds {args.first_seed}..{args.first_seed + args.episodes - 1}, max {args.max_steps} steps")
        print("| game | graph | episodes | mean score | successes [95% CI] | valid-action rate | mean steps | p50 s |")
        print("|---|---|---:|---:|---|---:|---:|---:|")
        rows = measure_games(args, model)
    print(f"\nper-step cost apart from the model, ms per action (scripted policies, durability sync, at most "
          f"{args.overhead_steps} actions per episode, median of {args.overhead_repeat} runs):", flush=True)
    overhead = [measure_overhead(case, backend, args.overhead_steps, args.overhead_repeat)
                for case in overhead_cases(args.overhead_games) for backend in args.backends]
    floors = {backend: langgraph_floor(backend, repeat=args.overhead_repeat) for backend in args.backends}
    print_overhead(overhead, floors)
    if args.json:
        args.json.write_text(json.dumps({"games": rows, "overhead": overhead, "langgraph_floor": floors}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
