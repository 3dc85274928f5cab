"""Environments as evaluations: N episodes of a fold, several at a time, scored by the environment itself.

`run_env_eval(graph, "twx:coin", episodes=N, first_seed=S)` plays episodes S, S+1, ..., S+N-1 of the fold
(each on its own checkpointed thread, input `{"env": SPEC, "seed": k}`), concurrently in threads so that
`ChatLocal` batches their model calls, and returns one result per episode; `env_summary` adds them up and
`env_summary_line` prints `success_rate=S tasks=N p50_s=X p95_s=Y mean_score=M valid_action_rate=V`.

A step's action counts as valid when it was among the valid actions the environment listed (an environment
that lists none accepts any action it can parse); an episode stopped by an invalid action counts that action
as one invalid step.

Trajectory files (`export_trajectories`, `read_trajectories`) are JSON lines, one episode per line:

    {"format": "graphwright-trajectory/1", "id": "twx:coin?fold=test&max_steps=50#3", "graph": "random",
     "env": "twx:coin?fold=test&max_steps=50", "seed": 3, "task": "Your task is to ...",
     "score": 1.0, "success": true, "steps": 11, "error": null,
     "trajectory": [{"observation": "You are in the kitchen. ...", "valid_actions": ["look around", ...],
                     "action": "move east", "reward": 0.0}, ...]}

`valid_actions` is null for an environment that does not list its actions; `observation` is what the agent
saw when it chose `action`, and `reward` what the environment gave for it. This is the input of learning.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from langgraph.graph import StateGraph
from langgraph.pregel import Pregel

from ..errors import EvalReportError, InvalidActionError, TaskFileError
from ._jsonl import read_jsonl, write_text_atomic
from ._report import percentile, wilson_interval

TRAJECTORY_FORMAT = "graphwright-trajectory/1"
"""The `format` field of every trajectory line."""


def run_env_eval(
    graph: StateGraph | Pregel,
    env: str,
    *,
    episodes: int,
    first_seed: int = 0,
    concurrency: int = 4,
    checkpointer: Any = None,
    label: str = "graph",
    max_steps: int | None = None,
    on_result: Callable[[dict[str, Any], int, int], None] | None = None,
    threads: str | None = None,
) -> list[dict[str, Any]]:
    """Play `episodes` episodes of environment `env` from seed `first_seed`; return their results in seed order.

    Each episode is a thread of `checkpointer`. With `threads`, episode `k` is thread `{threads}-{k}` and the
    run picks up what an earlier run under the same name left (its process killed, say): a finished episode is
    read back as it ended (not played again), an unfinished one continues from its last checkpoint, each step
    saved before the next starts. Without it, each run plays on threads of its own.

    Args:
        graph: an environment graph (`env_agent`, `random`, or one of your own over `EnvAgentState`); one built
            without an environment plays `env`.
        env: the environment spec, e.g. `twx:coin?fold=test&max_steps=50` or `gym:CartPole-v1`.
        episodes: how many episodes.
        first_seed: the first episode's seed.
        concurrency: episodes played at the same time.
        checkpointer: where the episodes' threads are saved; None keeps them in memory.
        label: the graph's name in the results.
        max_steps: the step bound, for the recursion limit (default: the spec's, else 50).
        on_result: called as `on_result(result, finished, total)` after each episode.
        threads: the episodes' thread names (see above); None: fresh names.

    Returns:
        Per episode: `id`, `env`, `seed`, `graph`, `task`, `score`, `success`, `steps`, `valid_steps`,
        `valid_action_rate`, `seconds`, `model_calls`, `prompt_tokens`, `completion_tokens`, `error`,
        `thread_id`, `trajectory` (see the module docstring).

    Raises:
        ValueError: `episodes` or `concurrency` below 1, or a negative `first_seed`.

    Example:
        >>> from graphwright.graphs import build_random_agent
        >>> results = run_env_eval(build_random_agent(seed=1), "twx:coin?max_steps=5", episodes=2, label="random")
        >>> [(r["seed"], r["steps"] <= 5, r["valid_action_rate"]) for r in results]
        [(0, True, 1.0), (1, True, 1.0)]
        >>> env_summary_line(env_summary(results)).split()[1]
        'tasks=2'
    """
    from ..envs import parse_env_spec
    from ..graphs import compile_graph

    if episodes < 1 or concurrency < 1 or first_seed < 0:
        raise ValueError(f"episodes and concurrency must be at least 1 and first_seed 0 or more, got "
                         f"{episodes}, {concurrency}, {first_seed}")
    bound = max_steps or parse_env_spec(env)[2].get("max_steps") or 50
    if checkpointer is None:
        from langgraph.checkpoint.memory import InMemorySaver

        checkpointer = InMemorySaver()  # each episode's final state is read back from its thread
    compiled = compile_graph(graph, checkpointer=checkpointer)
    prefix = threads or f"env-{uuid.uuid4().hex[:8]}"

    def play(seed: int) -> dict[str, Any]:
        return play_episode(compiled, env, seed, label=label, bound=int(bound), thread=f"{prefix}-{seed}",
                            resume=threads is not None)

    results: list[dict[str, Any]] = []
    seeds = list(range(first_seed, first_seed + episodes))
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="episode") as pool:
        for finished, result in enumerate(pool.map(play, seeds), start=1):
            results.append(result)
            if on_result is not None:
                on_result(result, finished, len(seeds))
    return results


def play_episode(compiled: Any, env: str, seed: int, *, label: str, bound: int, thread: str,
                 resume: bool = False) -> dict[str, Any]:
    """Play episode `seed` of `env` with compiled `graph` on `thread` and return its result (see `run_env_eval`).

    With `resume`, a thread that already has checkpoints is continued where it stopped (see `continue_thread`),
    each step saved before the next starts, instead of starting over.
    """
    from ..graphs import thread_config
    from ._run import RunRecorder, continue_thread

    recorder = RunRecorder()
    config = thread_config(thread, recursion_limit=2 * bound + 5)
    config["callbacks"] = [recorder]
    started = time.perf_counter()
    error: str | None = None
    invalid = 0
    episode = {"env": env, "seed": seed}
    try:
        if resume:
            continue_thread(compiled, episode, config, durability="sync")
        else:
            compiled.invoke(episode, config)
    except InvalidActionError as exc:
        error, invalid = f"{type(exc).__name__}: {exc}", 1
    except Exception as exc:  # a failed episode is a recorded failure; the eval goes on
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - started
    state = compiled.get_state(config).values
    return _result(label, env, seed, state, error, invalid, seconds, recorder, thread)


def _result(label: str, env: str, seed: int, state: Mapping[str, Any], error: str | None, invalid: int,
            seconds: float, recorder: Any, thread: str) -> dict[str, Any]:
    steps = list(state.get("steps") or [])
    valid = sum(1 for s in steps if s.get("valid_actions") is None or s["action"] in s["valid_actions"])
    taken = len(steps) + invalid
    return {
        "id": f"{env}#{seed}",
        "env": env,
        "seed": seed,
        "graph": label,
        "task": state.get("task", ""),
        "score": float(state.get("score", 0.0)),
        "success": bool(state.get("success", False)) and error is None,
        "steps": len(steps),
        "valid_steps": valid,
        "valid_action_rate": round(valid / taken, 6) if taken else 1.0,
        "seconds": round(seconds, 4),
        "model_calls": recorder.model_calls,
        "prompt_tokens": recorder.prompt_tokens,
        "completion_tokens": recorder.completion_tokens,
        "error": error,
        "thread_id": thread,
        "trajectory": [
            {"observation": s["observation"], "valid_actions": s.get("valid_actions"), "action": s["action"],
             "reward": float(s["reward"])}
            for s in steps
        ],
    }


def env_summary(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Add episode results up: `success_rate` (with its Wilson 95% interval), `tasks`, `p50_s`, `p95_s`,
    `mean_score`, `valid_action_rate` (over all steps), `mean_steps`, `errors`.

    Example:
        >>> summary = env_summary([{"success": True, "score": 1.0, "seconds": 2.0, "steps": 4, "valid_steps": 4},
        ...                        {"success": False, "score": 0.5, "seconds": 4.0, "steps": 6, "valid_steps": 6}])
        >>> summary["success_rate"], summary["mean_score"], summary["valid_action_rate"], summary["p50_s"]
        (0.5, 0.75, 1.0, 3.0)
    """
    n = len(results)
    wins = sum(1 for r in results if r.get("success"))
    seconds = [float(r.get("seconds", 0.0)) for r in results]
    taken = sum(int(r.get("steps", 0)) + (1 if "InvalidActionError" in (r.get("error") or "") else 0) for r in results)
    valid = sum(int(r.get("valid_steps", r.get("steps", 0))) for r in results)
    low, high = wilson_interval(wins, n)
    return {
        "success_rate": wins / n if n else 0.0,
        "success_interval": [round(low, 4), round(high, 4)],
        "tasks": n,
        "p50_s": percentile(seconds, 50),
        "p95_s": percentile(seconds, 95),
        "mean_score": sum(float(r.get("score", 0.0)) for r in results) / n if n else 0.0,
        "valid_action_rate": valid / taken if taken else 1.0,
        "mean_steps": taken / n if n else 0.0,
        "errors": sum(1 for r in results if r.get("error")),
    }


def env_summary_line(summary: Mapping[str, Any]) -> str:
    """Return the one-line summary: `success_rate=S tasks=N p50_s=X p95_s=Y mean_score=M valid_action_rate=V`.

    Example:
        >>> env_summary_line({"success_rate": 0.25, "tasks": 4, "p50_s": 1.5, "p95_s": 3.25, "mean_score": 0.4,
        ...                   "valid_action_rate": 1.0})
        'success_rate=0.250 tasks=4 p50_s=1.50 p95_s=3.25 mean_score=0.400 valid_action_rate=1.000'
    """
    return (
        f"success_rate={summary['success_rate']:.3f} tasks={summary['tasks']} p50_s={summary['p50_s']:.2f} "
        f"p95_s={summary['p95_s']:.2f} mean_score={summary['mean_score']:.3f} "
        f"valid_action_rate={summary['valid_action_rate']:.3f}"
    )


def export_trajectories(results: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Write episode results as trajectory JSON lines (the format in the module docstring) to `path`.

    Returns:
        The path written (atomically: a reader never sees half a file).
    """
    lines = [json.dumps(_trajectory_line(r), ensure_ascii=False) for r in results]
    target = Path(path)
    write_text_atomic(target, "".join(line + "\n" for line in lines))
    return target


def read_trajectories(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the episodes of trajectory file `path`, checking each line's format.

    Raises:
        TaskFileError: the file is missing, a line is not JSON, or not a `graphwright-trajectory/1` episode.
    """
    target = Path(path)
    for number, record in read_jsonl(target):
        if not isinstance(record, dict) or record.get("format") != TRAJECTORY_FORMAT:
            raise TaskFileError(str(target), number, f"not a {TRAJECTORY_FORMAT} line")
        if not isinstance(record.get("trajectory"), list):
            raise TaskFileError(str(target), number, "an episode needs a 'trajectory' list")
        yield record


def _trajectory_line(result: Mapping[str, Any]) -> dict[str, Any]:
    missing = [key for key in ("env", "seed", "trajectory") if key not in result]
    if missing:
        raise EvalReportError(f"an episode result needs {', '.join(missing)} to be exported")
    return {
        "format": TRAJECTORY_FORMAT,
        "id": result.get("id", f"{result['env']}#{result['seed']}"),
        "graph": result.get("graph"),
        "env": result["env"],
        "seed": result["seed"],
        "task": result.get("task", ""),
        "score": result.get("score"),
        "success": result.get("success"),
        "steps": result.get("steps", len(result["trajectory"])),
        "error": result.get("error"),
        "trajectory": list(result["trajectory"]),
    }
