"""Distributed runs on Ray: a task set or environment episodes spread over actors, with Postgres as the one
source of truth for threads, checkpoints and the side-effect ledger.

`run_tasks_on_ray` does what `run_eval` does, and `run_episodes_on_ray` what `run_env_eval` does, with the same
results, progress callback and eval folder, on a Ray cluster:

- Each actor builds the graph once (so loads its model once) and runs up to `concurrency` tasks on it at a
  time, so their model calls batch. The driver gives an actor its next task as soon as one of its slots frees.
- A task's thread id is fixed for the eval folder (kept in `ray.json`) and its steps are checkpointed in
  Postgres before the next starts. When an actor dies (killed, out of memory, its machine gone), its tasks go to
  a fresh actor, which continues each thread from its last checkpoint; the side-effect ledger, in the same
  database, keeps a tool call from running twice.
- A task that was on a dying actor runs alone on its next actor, so a task that kills its actor is found out:
  after `max_attempts` deaths it is reported failed with the reason, and no other task is charged for it.
- Only the driver writes results: one line per task, the first time it finishes.
- Actors are killed when the run ends, fails or is interrupted, and a cluster the run started is stopped.

Actors import graphwright and the graph's module: on a local cluster the run passes the driver's `sys.path`
on; on a cluster you join, install them on its nodes (or give Ray a `runtime_env` when you `ray.init` it).
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CheckpointerError, ClusterError, GraphSetupError
from ._envs import _result, play_episode
from ._jsonl import JsonlAppender, write_text_atomic
from ._run import RESULTS, GraphFor, RunRecorder, _run_one, claim_folder, previous_results, stub_tools
from ._tasks import Task, thread_id_for

RUN_FILE = "ray.json"
"""The file in an eval folder that fixes its tasks' thread ids, so a rerun continues the same threads."""
APPLICATION_NAME = "graphwright-ray"
"""The Postgres `application_name` of the actors' connections (to find them in `pg_stat_activity`)."""


@dataclass(frozen=True)
class RayOptions:
    """Where a distributed run goes and how wide."""

    address: str | None = None
    """None: start a local cluster for this run and stop it after; `auto` or `ray://host:port`: join one."""
    actors: int = 2
    """Actors, each with its own copy of the graph and its model."""
    concurrency: int = 4
    """Tasks each actor runs at once (their model calls batch)."""
    cpus_per_actor: float = 1.0
    """CPUs Ray reserves for each actor (torch uses that many threads in it)."""
    max_attempts: int = 3
    """Actor deaths a task may be present at before it is failed (a task that kills its actor stops here)."""
    namespace: str = "graphwright"
    """The Ray namespace of a cluster this run starts or joins (its actors are named in it)."""

    def check(self) -> None:
        """Raise `ValueError` naming the first option out of range."""
        for name, value, low in (("actors", self.actors, 1), ("concurrency", self.concurrency, 1),
                                 ("max_attempts", self.max_attempts, 1)):
            if value < low:
                raise ValueError(f"{name} must be at least {low}, got {value}")
        if not self.cpus_per_actor > 0:
            raise ValueError(f"cpus_per_actor must be more than 0, got {self.cpus_per_actor}")


@dataclass(frozen=True)
class GraphRef:
    """A graph named as on the command line, built on each actor: the model is loaded there, once per actor."""

    ref: str
    """A built-in name (`assistant`) or `module:attr` (see `graphwright.graphs.load_graph`)."""
    model: str | None = None
    """A .gguf file or Transformers folder for the graph's model (default: the packaged one)."""
    max_new_tokens: int | None = None
    """Tokens each model call may write (default: the model's)."""


GraphSpec = str | GraphRef | GraphFor
"""What an actor builds its graph from: a reference (`GraphRef`, or its `ref` alone), or a picklable
`graph_for(tools)` function (module-level, importable on the actors), called once per actor and tool set."""


def run_tasks_on_ray(
    tasks: Sequence[Task],
    graph: GraphSpec,
    db: str,
    out: Path,
    *,
    label: str,
    options: RayOptions = RayOptions(),
    recursion_limit: int = 50,
    on_result: Callable[[dict[str, Any], int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every task not yet finished in `out` on a Ray cluster; return all tasks' results, in task order.

    The results, the eval folder and `on_result` are `run_eval`'s; threads, checkpoints and the side-effect
    ledger are in Postgres at `db`, so an actor that dies loses no step and repeats no side effect.

    Args:
        tasks: the tasks (see `load_tasks`).
        graph: what each actor builds (see `GraphSpec`).
        db: a `postgresql://` URL every actor can reach.
        out: the eval folder (created if missing); finished tasks in it are not run again.
        label: names the graph; a folder holding results of another graph is refused.
        options: the cluster and how many actors, each running how many tasks at once.
        recursion_limit: super-steps allowed per task run.
        on_result: called as `on_result(result, finished, total)` once per task as it finishes.

    Returns:
        One result dict per task, as `run_eval`'s. A task whose actor died `options.max_attempts` times is
        failed, its `error` saying so.

    Raises:
        CheckpointerError: `db` is not a Postgres URL or cannot be reached.
        ClusterError: the cluster cannot be started or joined, has too few CPUs for the actors, or the graph
            cannot be built on an actor.
        EvalReportError: `out` holds results of another graph, or its results file is unreadable.

    Example: `examples/ray_eval.py` (run in the tests on a local cluster), in short:

        results = run_tasks_on_ray(load_tasks("bench/tasks/arithmetic.jsonl"), GraphRef("assistant"),
                                   "postgresql://postgres@127.0.0.1/test", Path("out"), label="assistant",
                                   options=RayOptions(actors=2, concurrency=4))
    """
    options.check()
    db = _checked_db(db)
    out.mkdir(parents=True, exist_ok=True)
    claim_folder(out, label)
    run = folder_run_id(out)
    done = previous_results(out)
    finished = {t.id: done[t.id] for t in tasks if t.id in done and done[t.id].get("key") == t.key()}
    pending = [t for t in tasks if t.id not in finished]
    total = len(tasks)
    if not pending:
        return [finished[t.id] for t in tasks]

    appender = JsonlAppender(out / RESULTS)

    def report(result: dict[str, Any]) -> None:
        appender.append(result)
        finished[result["id"]] = result
        if on_result is not None:
            on_result(result, len(finished), total)

    def job(task: Task) -> _Job:
        thread = thread_id_for(task, run)
        return _Job(task.id, lambda actor: actor.run_task.remote(task, thread, recursion_limit),
                    lambda reason: _failed_task(task, thread, reason))

    try:
        with ray_session(options, cpus=options.actors * options.cpus_per_actor):
            _Scheduler(graph, db, options, report).run([job(t) for t in pending])
    finally:
        appender.close()
    return [finished[t.id] for t in tasks]


def run_episodes_on_ray(
    graph: GraphSpec,
    env: str,
    db: str,
    *,
    episodes: int,
    first_seed: int = 0,
    label: str = "graph",
    max_steps: int | None = None,
    options: RayOptions = RayOptions(),
    run_id: str | None = None,
    on_result: Callable[[dict[str, Any], int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Play `episodes` episodes of `env` from seed `first_seed` on a Ray cluster; return them in seed order.

    The results and `on_result` are `run_env_eval`'s; each episode is a thread in Postgres at `db` (named
    `env-RUN-SEED`), continued from its last checkpoint on another actor when its actor dies.

    Args:
        graph: what each actor builds (see `GraphSpec`): an environment graph.
        env: the environment spec, e.g. `twx:coin?fold=test&max_steps=50`.
        db: a `postgresql://` URL every actor can reach.
        episodes: how many episodes.
        first_seed: the first episode's seed.
        label: the graph's name in the results.
        max_steps: the step bound, for the recursion limit (default: the spec's, else 50).
        options: the cluster and how many actors, each playing how many episodes at once.
        run_id: names the episodes' threads; give an earlier run's to continue its threads (default: new).
        on_result: called as `on_result(result, finished, total)` once per episode as it finishes.

    Raises:
        ValueError: `episodes` below 1 or a negative `first_seed`.
        CheckpointerError, ClusterError: as `run_tasks_on_ray`.
    """
    from ..envs import parse_env_spec

    if episodes < 1 or first_seed < 0:
        raise ValueError(f"episodes must be at least 1 and first_seed 0 or more, got {episodes}, {first_seed}")
    options.check()
    db = _checked_db(db)
    bound = int(max_steps or parse_env_spec(env)[2].get("max_steps") or 50)
    run = run_id or uuid.uuid4().hex[:8]
    results: dict[int, dict[str, Any]] = {}

    def report(result: dict[str, Any]) -> None:
        results[result["seed"]] = result
        if on_result is not None:
            on_result(result, len(results), episodes)

    def job(seed: int) -> _Job:
        thread = f"env-{run}-{seed}"
        return _Job(f"{env}#{seed}", lambda actor: actor.play.remote(env, seed, label, bound, thread),
                    lambda reason: _result(label, env, seed, {}, reason, 0, 0.0, RunRecorder(), thread))

    seeds = range(first_seed, first_seed + episodes)
    with ray_session(options, cpus=options.actors * options.cpus_per_actor):
        _Scheduler(graph, db, options, report).run([job(s) for s in seeds])
    return [results[s] for s in seeds]


@contextmanager
def ray_session(options: RayOptions = RayOptions(), *, cpus: float | None = None) -> Iterator[None]:
    """Connect to the cluster `options.address` names for the `with` block, or start a local one.

    A local cluster gets at least `cpus` CPUs (the machine's count when that is more), no dashboard, and the
    driver's `sys.path`, and is stopped on exit, leaving no Ray process behind. When Ray is already initialized
    in this process, that connection is used and left open.

    Raises:
        ClusterError: the cluster cannot be started or joined.
    """
    import ray

    if ray.is_initialized():
        yield
        return
    settings: dict[str, Any] = {"namespace": options.namespace, "log_to_driver": False}
    if options.address is None:
        path = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
        settings.update(num_cpus=max(int(-(-(cpus or 1) // 1)), os.cpu_count() or 1), include_dashboard=False,
                        runtime_env={"env_vars": {"PYTHONPATH": path}})
    else:
        settings["address"] = options.address
    try:
        ray.init(**settings)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"join the Ray cluster at {options.address!r}" if options.address else "start a local Ray cluster"
        raise ClusterError(f"cannot {where}: {exc}") from exc
    try:
        yield
    finally:
        ray.shutdown()


@dataclass
class _Job:
    """One task's way onto an actor, and its result if it has to be given up."""

    id: str
    submit: Callable[[Any], Any]
    """`submit(actor)` starts the task on `actor` and returns the Ray object ref of its result."""
    give_up: Callable[[str], dict[str, Any]]
    """`give_up(reason)` is the failed result reported when the task is not tried again."""
    deaths: int = 0
    """Actors that died while this task was on them."""


@dataclass
class _Slot:
    """An actor place: the live actor in it and the tasks running there."""

    index: int
    actor: Any
    generation: int = 0
    running: dict[Any, _Job] | None = None
    alone: bool = False
    """Running one suspect task and nothing beside it."""


class _Scheduler:
    """Hands jobs to actors as their slots free up and replaces actors that die (see the module docstring)."""

    def __init__(self, graph: GraphSpec, db: str, options: RayOptions,
                 report: Callable[[dict[str, Any]], None]) -> None:
        self.graph, self.db, self.options, self._report = graph, db, options, report
        self.run_name = uuid.uuid4().hex[:8]
        self.reported: set[str] = set()

    def report(self, result: dict[str, Any]) -> None:
        key = str(result["id"])
        if key not in self.reported:  # a task is on one actor at a time; this keeps "once" true regardless
            self.reported.add(key)
            self._report(result)

    def run(self, jobs: list[_Job]) -> None:
        import ray

        cpus = ray.cluster_resources().get("CPU", 0)
        needed = self.options.actors * self.options.cpus_per_actor
        if cpus < needed:
            raise ClusterError(f"{self.options.actors} actors of {self.options.cpus_per_actor:g} CPUs need {needed:g} "
                               f"CPUs; the Ray cluster has {cpus:g}: ask for fewer actors or CPUs per actor")
        waiting, suspects = deque(jobs), deque[_Job]()
        slots: list[_Slot] = []
        clean = False
        try:
            slots = [_Slot(i, self._actor(i, 0), running={}) for i in range(self.options.actors)]
            while waiting or suspects or any(s.running for s in slots):
                self._fill(slots, waiting, suspects)
                owner = {ref: slot for slot in slots for ref in slot.running}
                ready, _ = ray.wait(list(owner), num_returns=1, timeout=1.0)  # a timeout keeps Ctrl-C responsive
                for ref in ready:
                    self._collect(owner[ref], ref, suspects)
            clean = True
        finally:
            self._stop(slots, clean)

    def _fill(self, slots: list[_Slot], waiting: deque[_Job], suspects: deque[_Job]) -> None:
        for slot in slots:
            assert slot.running is not None
            if slot.alone:
                continue
            if suspects and not slot.running:  # a task that was on a dying actor runs by itself
                job = suspects.popleft()
                slot.running[job.submit(slot.actor)] = job
                slot.alone = True
                continue
            while waiting and len(slot.running) < self.options.concurrency:
                job = waiting.popleft()
                slot.running[job.submit(slot.actor)] = job

    def _collect(self, slot: _Slot, ref: Any, suspects: deque[_Job]) -> None:
        import ray
        from ray.exceptions import RayActorError, RayError

        assert slot.running is not None
        job = slot.running.pop(ref)
        try:
            result = ray.get(ref)
        except RayActorError as exc:
            if getattr(exc, "actor_init_failed", False):
                raise ClusterError(f"the graph cannot be built on a Ray actor: {_first_line(exc)}") from exc
            self._replace(slot, [job], exc, suspects)
            return
        except RayError as exc:  # the task itself raised outside the graph run: a failed task, reported
            result = job.give_up(f"{type(exc).__name__}: {_first_line(exc)}")
        self.report(result)
        if not slot.running:
            slot.alone = False

    def _replace(self, slot: _Slot, lost: list[_Job], exc: BaseException, suspects: deque[_Job]) -> None:
        """The actor in `slot` died: keep what it finished, give its other tasks another go, start a new actor."""
        import ray

        assert slot.running is not None
        for ref, job in slot.running.items():
            try:
                self.report(ray.get(ref, timeout=0))  # it finished before its actor died
            except Exception:  # noqa: BLE001 - died with the actor, or not finished: run again
                lost.append(job)
        try:
            ray.kill(slot.actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
        slot.generation += 1
        slot.actor, slot.running, slot.alone = self._actor(slot.index, slot.generation), {}, False
        for job in lost:
            job.deaths += 1
            if job.deaths >= self.options.max_attempts:
                self.report(job.give_up(f"its Ray actor died {job.deaths} times, each time with this task on it; not "
                                        f"tried again (last: {type(exc).__name__}: {_first_line(exc)})"))
            else:
                suspects.append(job)

    def _actor(self, index: int, generation: int) -> Any:
        worker = _worker_class().options(
            name=f"graphwright-{self.run_name}-{index}-{generation}",
            num_cpus=self.options.cpus_per_actor,
            max_concurrency=self.options.concurrency,
            max_restarts=0,
        )
        return worker.remote(self.graph, self.db, self.options.concurrency)

    def _stop(self, slots: list[_Slot], clean: bool) -> None:
        """Kill every actor; after a clean end, let each close its Postgres pool first."""
        import ray

        if clean:
            try:
                ray.get([s.actor.close.remote() for s in slots], timeout=30)
            except Exception:  # noqa: BLE001 - the kill below ends it anyway, and the server drops its sockets
                pass
        for slot in slots:
            try:
                ray.kill(slot.actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass


class _Worker:
    """A Ray actor: the graph built once, its threads checkpointed in Postgres through a pool of connections."""

    def __init__(self, graph: GraphSpec, db: str, concurrency: int) -> None:
        from ..memory import open_postgres_checkpointer

        self._exit = ExitStack()
        self._saver = self._exit.enter_context(open_postgres_checkpointer(db, pool_size=concurrency + 1))
        self._graph_for = graph_source(graph)
        self._compiled: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._graph(())  # built now, so an actor that cannot build it fails at its start

    def _graph(self, tools: tuple[Mapping[str, Any], ...]) -> Any:
        from ..graphs import compile_graph

        key = json.dumps(tools, sort_keys=True)
        with self._lock:
            if key not in self._compiled:
                self._compiled[key] = compile_graph(self._graph_for(tools), checkpointer=self._saver)
            return self._compiled[key]

    def run_task(self, task: Task, thread: str, recursion_limit: int) -> dict[str, Any]:
        """Run (or continue) `task` on `thread`; return its result."""
        return _run_one(task, self._graph(task.tools), recursion_limit, thread)

    def play(self, env: str, seed: int, label: str, bound: int, thread: str) -> dict[str, Any]:
        """Play (or continue) episode `seed` of `env` on `thread`; return its result."""
        return play_episode(self._graph(()), env, seed, label=label, bound=bound, thread=thread, resume=True)

    def pid(self) -> int:
        """This actor's process id (for tests and operators that kill it)."""
        return os.getpid()

    def close(self) -> None:
        """Close the Postgres pool."""
        self._exit.close()


@functools.cache
def _worker_class() -> Any:
    import ray

    for name in ("pid", "close"):  # they answer while every task slot is busy
        ray.method(concurrency_group="control")(getattr(_Worker, name))
    return ray.remote(concurrency_groups={"control": 1})(_Worker)


def graph_source(graph: GraphSpec) -> GraphFor:
    """Return `graph_for(tools)` for what `graph` names, loading its model now (once), as an actor does.

    A `GraphRef` (or a reference string) loads the model when the graph takes one and is a built-in or names a
    model, and
    builds task-specific graphs (BFCL tasks bring tools) with its builder's `tools=`; a callable is returned as
    it is.

    Raises:
        GraphNotFoundError: the reference names no graph.
        GraphSetupError: tasks bring tools and the graph's builder takes no `tools=`.
    """
    if not isinstance(graph, (str, GraphRef)):
        return graph
    spec = GraphRef(graph) if isinstance(graph, str) else graph
    from ..graphs import BUILTIN_GRAPHS, graph_target, load_graph

    target = graph_target(spec.ref)
    params = inspect.signature(target).parameters if inspect.isfunction(target) else {}
    model = None
    if "model" in params and (spec.model is not None or spec.max_new_tokens is not None or spec.ref in BUILTIN_GRAPHS):
        from ..models import ChatLocal

        model = ChatLocal(model=spec.model, **({"max_new_tokens": spec.max_new_tokens} if spec.max_new_tokens else {}))
        model.load()
    built = load_graph(spec.ref, model=model)

    def graph_for(tools: tuple[Mapping[str, Any], ...]) -> Any:
        if not tools:
            return built
        if "tools" not in params:
            raise GraphSetupError(f"these tasks bring their own tools (BFCL cases); graph {spec.ref!r} must be a "
                                  "built-in name or a builder function that takes tools=")
        extra = {"model": model} if model is not None and "model" in params else {}
        return target(tools=stub_tools(tools), **extra)

    return graph_for


def _checked_db(db: str) -> str:
    """`db` with the actors' application name, once it is known to be a reachable Postgres with our tables."""
    from ..memory import is_postgres_url, open_postgres_checkpointer
    from ..tools import ledger_for

    if not is_postgres_url(db):
        raise CheckpointerError(f"a distributed run keeps its threads in Postgres: give a postgresql:// URL, not {db!r}")
    with open_postgres_checkpointer(db, pool_size=1) as saver:
        ledger_for(saver)  # tables and migrations made once here, not raced by every actor at its start
    if "application_name=" in db:
        return db
    return f"{db}{'&' if '?' in db else '?'}application_name={APPLICATION_NAME}"


def folder_run_id(out: Path) -> str:
    """Return the run id kept in folder `out` (`ray.json`), made and saved on first use.

    It names a distributed run's threads in Postgres (shared by many runs), so a rerun into the same folder
    continues the same threads and a run in another folder never meets them.
    """
    path = out / RUN_FILE
    if path.exists():
        try:
            return str(json.loads(path.read_text())["run"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # unreadable: a new id, and the unfinished tasks start over on new threads
    run = uuid.uuid4().hex[:8]
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps({"run": run}) + "\n")
    return run


def _failed_task(task: Task, thread: str, reason: str) -> dict[str, Any]:
    """The result of a task given up on: `run_eval`'s keys, failed, with `reason` as its error."""
    return {
        "id": task.id, "key": task.key(), "ok": False, "answer": "", "error": reason, "seconds": 0.0,
        "model_calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "calls_without_usage": 0, "steps": 0,
        "nodes": {}, "tool_calls": [], "verdict": None, "thread_id": thread,
    }


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

