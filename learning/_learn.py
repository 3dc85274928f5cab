"""`learn`: collect experience, keep what earned reward, learn it, and keep the result only if held-back tasks improve.

The loop, each phase resumable (a restarted `learn` into the same folder continues where it was):

1. **split** the source into training tasks and a dev split held back from everything learned: for a task
   file, the `dev_size` tasks first in an order fixed by a hash of their ids; for an environment, the train
   fold's seeds for training and the dev fold's for the check.
2. **collect** into `experience.sqlite` (an `ExperienceStore`): expert demonstrations (GSM8K worked
   solutions when the file has them, TextWorldExpress gold paths) and, with `attempts`, the agent's own runs
   of the training tasks with their rewards. Records are appended as they are made; collected ids are not
   collected again. With `LearnOptions.ray` the agent's runs go to the actors of a Ray cluster
   (`graphwright.evals.run_tasks_on_ray`, `run_episodes_on_ray`), their threads to Postgres, and the records
   are the ones a collection in this process makes; every other phase runs here.
3. **before**: the agent as it is (`build(Learned())`) on the dev split, in an eval folder that resumes.
4. **learn** from the trajectories whose reward is above zero: `in_context` embeds them as worked examples
   (`candidate/memory`), `lora` fine-tunes the model on them and saves the merged folder
   (`candidate/model`), `both` does both.
5. **after**: the agent with what was learned on the same dev split.
6. **gate**: kept only when the dev score rose by more than `min_gain`; else the candidate is deleted.
   `learned.json` says what was kept and `load_learned(out)` gives it back; `report.json` holds before and
   after, what was learned and the time of each phase; `report.html` shows it, with the dev score against
   minutes and against examples plotted (also saved as `learning.png`).

The agent is built by the caller: `build(learned)` returns the graph to check, given a `Learned` (examples to
put in its prompt and/or a model folder to load), so any graph with an example slot or a model can learn.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from langgraph.graph import StateGraph
from langgraph.pregel import Pregel

from ..errors import LearningError
from ._experience import ExperienceStore, from_episodes, from_eval_results, gsm8k_demonstrations, twx_demonstrations
from ..nodes import Example
from ._in_context import ExampleMemory
from ._lora import LoraOptions

if TYPE_CHECKING:
    from ..evals import RayOptions

__all__ = [
    "LearnOptions",
    "Learned",
    "METHODS",
    "REPORT_FORMAT",
    "learn",
    "load_learned",
    "split_tasks",
]

REPORT_FORMAT = "graphwright-learn-report/1"
"""The `format` field of `report.json`."""

Method = Literal["in_context", "lora", "both"]
METHODS = ("in_context", "lora", "both")
"""The ways `learn` can learn."""


@dataclass(frozen=True)
class Learned:
    """What a learn run kept, for the agent builder: worked examples, a fine-tuned model folder, or neither."""

    examples: Callable[[str], list[Example]] | None = None
    """Returns the worked examples nearest a question (the code agent's `ExampleSource` slot); None: none."""
    model: str | None = None
    """Folder of the fine-tuned, merged model (`ChatLocal(model=...)`); None: the model as it was."""


@dataclass(frozen=True)
class LearnOptions:
    """What to learn from, how, and within what budget."""

    method: Method = "in_context"
    """`in_context` (worked examples in the prompt), `lora` (fine-tuned weights) or `both`."""
    dev_size: int = 50
    """Tasks (or dev-fold episodes) held back for the before/after check."""
    train_limit: int | None = 200
    """Training tasks (or train-fold seeds) to collect from; None: all the source has."""
    demonstrations: bool = True
    """Collect expert demonstrations (GSM8K worked solutions, TextWorldExpress gold paths)."""
    demonstration_style: Literal["text", "program"] = "program"
    """GSM8K solutions as a Python program that prints the answer, or as worked text."""
    attempts: int = 0
    """Runs of the agent as it is on each training task, kept with their rewards (0: demonstrations only)."""
    k: int = 3
    """Worked examples given per question (in context)."""
    lora: LoraOptions = LoraOptions()
    """How to fine-tune (method `lora` or `both`)."""
    device: str = "cpu"
    """Where LoRA trains: `cpu`, `cuda`, `cuda:N` or `auto`."""
    minutes: float | None = None
    """Wall-clock budget of the whole run; LoRA trains for what is left after the other phases (estimated)."""
    min_gain: float = 0.0
    """Keep the result only when the dev score rises by more than this."""
    concurrency: int = 4
    """Tasks or episodes run at once (their model calls batch)."""
    max_steps: int = 50
    """Step bound of an environment episode."""
    ray: RayOptions | None = None
    """Collect the agent's runs (`attempts`) on this Ray cluster, `ray.concurrency` at a time on each actor, which
    builds `build(Learned())` once (so `build` must pickle: a module-level function, or an importable class's
    instance); None: in this process. The learning step and the dev checks stay in this process."""
    db: str | None = None
    """With `ray`: the `postgresql://` URL every actor keeps its threads and side-effect ledger in (left out of
    the report, as it may hold a password)."""


@dataclass
class _State:
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)


def learn(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    build: Callable[[Learned], StateGraph | Pregel],
    *,
    options: LearnOptions = LearnOptions(),
    label: str = "agent",
    on_progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Learn from `source` for the agent `build` makes; keep the result in `out` only if the dev split improves.

    Args:
        source: a task file (GSM8K-style or ours, as `graphwright.evals.load_tasks` reads) or an environment
            spec such as `twx:coin` (its train fold is learned from, its dev fold checks).
        out: the learn folder (created; a folder from an interrupted run is continued).
        build: returns the agent's graph given what was learned (`Learned()` for the agent as it is).
        options: method, sizes, budget.
        label: the agent's name in eval folders and the report.
        on_progress: called as `on_progress(phase, done, total)` as tasks, episodes and steps finish.

    Returns:
        The report (also written to `out/report.json`): `before`, `after` (dev score, tasks, summary),
        `kept`, `learned` (experience counts, examples, LoRA figures), `phases` (seconds each).

    Raises:
        LearningError: an unknown method, nothing to learn from, a task set whose tasks bring their own tools,
            or `ray` without `db` (or `db` without `ray`).
        TaskFileError, EnvSetupError: the source cannot be read.
        CheckpointerError, ClusterError: with `ray`, Postgres or the cluster cannot be reached, or the agent
            cannot be built on an actor (see `graphwright.evals.run_tasks_on_ray`).
    """
    if options.method not in METHODS:
        raise LearningError(f"method must be one of {', '.join(METHODS)}, got {options.method!r}")
    if (options.ray is None) != (options.db is None):
        raise LearningError("ray and db go together: a collection on Ray keeps its threads in Postgres at db "
                            f"(got ray={options.ray!r}, db {'given' if options.db else 'missing'})")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    deadline = None if options.minutes is None else started + 60 * options.minutes
    state = _load_state(folder)
    progress = on_progress or (lambda phase, done, total: None)
    kind = _Env(str(source), options) if str(source).startswith(("twx:", "gym:")) else _Tasks(Path(source), options)

    def phase(name: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if name in state.phases and state.phases[name].get("done"):
            return state.phases[name]
        began = time.perf_counter()
        result = work()
        previous = float(state.phases.get(name, {}).get("seconds", 0.0))
        state.phases[name] = {**result, "done": True, "seconds": round(previous + time.perf_counter() - began, 3)}
        _save_state(folder, state)
        return state.phases[name]

    with ExperienceStore(folder / "experience.sqlite") as store:
        collected = phase("collect", lambda: kind.collect(store, folder, build, label, progress))
        before = phase("before", lambda: kind.check(build(Learned()), folder / "dev-before", label, progress))
        candidate = folder / "candidate"

        def learn_phase() -> dict[str, Any]:
            successes = list(store.trajectories(min_reward=1e-9, task_ids=kind.train_ids))
            if not successes:
                raise LearningError(f"no successful trajectory among {len(store)} collected: nothing to learn from")
            done: dict[str, Any] = {"trajectories": len(successes)}
            if options.method in ("in_context", "both"):
                memory = ExampleMemory(candidate / "memory", k=options.k)
                done["examples"] = memory.add_trajectories(successes)
                progress("in_context", done["examples"], done["examples"])
            if options.method in ("lora", "both"):
                done["lora"] = _train(successes, candidate / "model", options, deadline, float(before["seconds"]), progress)
            return done

        learned_phase = phase("learn", learn_phase)
        after = phase("after", lambda: kind.check(build(_candidate(candidate, options)), folder / "dev-after", label, progress))

    kept = float(after["score"]) > float(before["score"]) + options.min_gain
    if not kept:
        shutil.rmtree(candidate, ignore_errors=True)
    _write_json(folder / "learned.json", {"kept": kept, "method": options.method, "k": options.k,
                                          "memory": "candidate/memory" if kept and options.method != "lora" else None,
                                          "model": "candidate/model" if kept and options.method != "in_context" else None})
    report = {
        "format": REPORT_FORMAT,
        "source": str(source),
        "graph": label,
        "method": options.method,
        "metric": kind.metric,
        "before": _public(before),
        "after": _public(after),
        "gain": round(float(after["score"]) - float(before["score"]), 6),
        "kept": kept,
        "learned": {"experience": _public(collected), **_public(learned_phase)},
        "phases": {name: info.get("seconds") for name, info in state.phases.items()},
        "train_tasks": len(kind.train_ids),
        "dev_tasks": len(kind.dev_ids),
        "options": {k: v for k, v in asdict(options).items() if k not in ("lora", "db")} | {"lora": asdict(options.lora)},
    }
    _write_json(folder / "report.json", report)
    from ._page import save_learn_html  # matplotlib and the eval pages load only when a run ends

    save_learn_html(report, folder)  # report.html and learning.png: the same report, to look at
    return report


def load_learned(folder: str | os.PathLike[str]) -> Learned:
    """Return what the learn run in `folder` kept (`Learned()` when it kept nothing).

    Raises:
        LearningError: `folder` holds no finished learn run.
    """
    path = Path(folder) / "learned.json"
    try:
        kept = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise LearningError(f"{str(folder)!r} holds no finished learn run (learned.json: {exc})") from exc
    if not kept.get("kept"):
        return Learned()
    memory = kept.get("memory")
    model = kept.get("model")
    return Learned(
        examples=ExampleMemory(Path(folder) / memory, k=int(kept.get("k", 3))).examples if memory else None,
        model=str(Path(folder) / model) if model else None,
    )


def _candidate(candidate: Path, options: LearnOptions) -> Learned:
    memory = candidate / "memory"
    model = candidate / "model"
    return Learned(
        examples=ExampleMemory(memory, k=options.k).examples if options.method != "lora" else None,
        model=str(model) if options.method != "in_context" else None,
    )


def _train(successes: list[Any], out: Path, options: LearnOptions, deadline: float | None, check_seconds: float,
           progress: Callable[[str, int, int], None]) -> dict[str, Any]:
    from ..nodes import no_examples
    from ._lora import LoraTrainer, in_agent_prompt, training_examples

    if (out / "config.json").is_file():  # trained and saved before an interruption
        return json.loads((out / "learning.json").read_text()).get("result", {})
    lora = options.lora
    if deadline is not None:  # leave the after-check about as long as the before-check took
        left = (deadline - time.perf_counter() - check_seconds) / 60
        if left <= 0:
            raise LearningError("the time budget is spent before training could start; give more --minutes")
        lora = LoraOptions(**{**asdict(lora), "minutes": min(left, lora.minutes or left)})
    # A program demonstration trains as the call the code planner makes (its system prompt, the question, a
    # fenced reply), not as a bare question and program: the weights learn the prompt the agent sends. Without
    # the worked examples: with them an example is ~4x the tokens, so a budget trains on a quarter as many.
    examples = training_examples(in_agent_prompt(successes, no_examples))
    trainer = LoraTrainer(options=lora, device=options.device)
    total = lora.max_steps or -(-len(examples) // max(1, lora.batch_size)) * lora.epochs
    result = trainer.train(examples, on_step=lambda step, loss: progress("lora", step, total))
    trainer.save(out)
    summary = result.summary()
    meta = json.loads((out / "learning.json").read_text())
    _write_json(out / "learning.json", {**meta, "result": summary})
    return summary


def split_tasks(tasks: list[Any], dev_size: int, train_limit: int | None = None) -> tuple[list[Any], list[Any]]:
    """Return `(train, dev)`: the `dev_size` tasks first in an order fixed by a hash of their ids are the dev
    split, held back from everything learned; the others, in file order (the first `train_limit`), train.

    The split depends only on the ids, so `learn`, a resumed `learn` and `bench/learning.py` hold back the
    same tasks.

    Example:
        >>> from types import SimpleNamespace as Task
        >>> train, dev = split_tasks([Task(id=f"t{i}") for i in range(5)], dev_size=2)
        >>> sorted(t.id for t in dev), [t.id for t in train]
        (['t0', 't1'], ['t2', 't3', 't4'])
    """
    ordered = sorted(tasks, key=lambda t: hashlib.sha256(t.id.encode()).hexdigest())
    dev = ordered[:dev_size]
    held = {t.id for t in dev}
    rest = [t for t in tasks if t.id not in held]
    return (rest[:train_limit] if train_limit is not None else rest), dev


class _Tasks:
    """A task file: dev split by id hash, demonstrations from worked solutions, checks by `run_eval`."""

    metric = "success_rate"

    def __init__(self, path: Path, options: LearnOptions) -> None:
        from ..evals import load_tasks

        self.path, self.options = path, options
        tasks = load_tasks(path)
        if any(t.tools for t in tasks):
            raise LearningError(f"{path} has tasks with their own tools; learn takes question tasks")
        self.train, self.dev = split_tasks(tasks, options.dev_size, options.train_limit)
        self.dev_ids = [t.id for t in self.dev]
        self.train_ids = [t.id for t in self.train]

    def collect(self, store: ExperienceStore, folder: Path, build: Callable[[Learned], Any], label: str,
                progress: Callable[[str, int, int], None]) -> dict[str, Any]:
        from ..evals import run_eval

        counts = {"demonstrations": 0, "runs": 0}
        if self.options.demonstrations and _has_worked_answers(self.path):
            wanted = set(self.train_ids)
            demos = [d for d in gsm8k_demonstrations(self.path, style=self.options.demonstration_style, skip=self.dev_ids)
                     if d.task_id in wanted]
            store.add_all(demos)
            counts["demonstrations"] = len(demos)
            progress("collect", len(demos), len(self.train))
        ray, db = self.options.ray, self.options.db
        report = functools.partial(_collected, progress)
        for attempt in range(self.options.attempts):
            runs = folder / f"collect-runs-{attempt}"
            if ray is None:
                results = run_eval(self.train, lambda tools: build(Learned()), runs, label=label,
                                   concurrency=self.options.concurrency, on_result=report)
            else:
                from ..evals import run_tasks_on_ray

                results = run_tasks_on_ray(self.train, functools.partial(_as_it_is, build), db, runs, label=label,
                                           options=ray, on_result=report)
            questions = {t.id: str(t.input) for t in self.train}
            store.add_all(from_eval_results(results, runs, tasks=questions, graph=label, checkpoints=db))
            counts["runs"] += len(results)
        return counts

    def check(self, graph: Any, out: Path, label: str, progress: Callable[[str, int, int], None]) -> dict[str, Any]:
        from ..evals import build_report, run_eval, save_report

        phase = out.name
        results = run_eval(self.dev, lambda tools: graph, out, label=label, concurrency=self.options.concurrency,
                           on_result=lambda r, done, total: progress(phase, done, total))
        report = build_report(results, graph=label, tasks_file=str(self.path), concurrency=self.options.concurrency)
        save_report(report, out)  # `graphwright eval-compare` reads the two folders side by side
        summary = {k: report[k] for k in ("success_rate", "ci95", "tasks", "errors", "latency_s", "model_calls",
                                         "completion_tokens")}
        return {"score": report["success_rate"], "tasks": len(results), "summary": summary}


class _Env:
    """An environment: train-fold seeds to learn from, dev-fold seeds to check on."""

    metric = "mean_score"

    def __init__(self, spec: str, options: LearnOptions) -> None:
        from ..envs import env_spec, parse_env_spec

        kind, name, parsed = parse_env_spec(spec)
        self.kind, self.name, self.options = kind, name, options
        steps = int(parsed.get("max_steps") or options.max_steps)
        self.train_spec = env_spec(f"{kind}:{name}", fold="train" if kind == "twx" else None, max_steps=steps)
        self.dev_spec = env_spec(f"{kind}:{name}", fold="dev" if kind == "twx" else None, max_steps=steps)
        count = options.train_limit if options.train_limit is not None else 200
        self.train_seeds = list(range(count))
        self.train_ids = [f"{self.train_spec}#{s}" for s in self.train_seeds]
        self.dev_ids = [f"{self.dev_spec}#{s}" for s in range(options.dev_size)]

    def collect(self, store: ExperienceStore, folder: Path, build: Callable[[Learned], Any], label: str,
                progress: Callable[[str, int, int], None]) -> dict[str, Any]:
        from ..envs import parse_env_spec
        from ..evals import run_env_eval

        counts = {"demonstrations": 0, "runs": 0}
        if self.options.demonstrations and self.kind == "twx":
            steps = int(parse_env_spec(self.train_spec)[2]["max_steps"])
            missing = [s for s in self.train_seeds if f"gold:{self.train_spec}#{s}" not in store]
            for done, trajectory in enumerate(twx_demonstrations(self.name, missing, fold="train", max_steps=steps), 1):
                store.add(trajectory)
                progress("collect", done, len(missing))
            counts["demonstrations"] = len(self.train_seeds)
        ray, db = self.options.ray, self.options.db
        report = functools.partial(_collected, progress)
        for attempt in range(self.options.attempts):
            if ray is None:
                results = run_env_eval(build(Learned()), self.train_spec, episodes=len(self.train_seeds),
                                       concurrency=self.options.concurrency, label=f"{label}-{attempt}",
                                       on_result=report)
            else:  # threads named for the learn folder, so a resumed collection continues its episodes
                from ..evals import folder_run_id, run_episodes_on_ray

                run = folder_run_id(folder / f"collect-episodes-{attempt}")
                results = run_episodes_on_ray(functools.partial(_as_it_is, build), self.train_spec, db,
                                              episodes=len(self.train_seeds), label=f"{label}-{attempt}",
                                              options=ray, run_id=run, on_result=report)
            store.add_all(from_episodes(results))
            counts["runs"] += len(results)
        return counts

    def check(self, graph: Any, out: Path, label: str, progress: Callable[[str, int, int], None]) -> dict[str, Any]:
        from ..evals import env_summary, export_trajectories, run_env_eval

        phase = out.name
        results = run_env_eval(graph, self.dev_spec, episodes=self.options.dev_size, concurrency=self.options.concurrency,
                               label=label, on_result=lambda r, done, total: progress(phase, done, total))
        out.mkdir(parents=True, exist_ok=True)
        export_trajectories(results, out / "trajectories.jsonl")
        summary = env_summary(results)
        return {"score": summary["mean_score"], "tasks": len(results), "summary": summary}


def _collected(progress: Callable[[str, int, int], None], result: dict[str, Any], done: int, total: int) -> None:
    progress("collect", done, total)


def _as_it_is(build: Callable[[Learned], Any], tools: tuple[Any, ...]) -> Any:
    """The agent as it is, for a Ray actor (learn's tasks bring no tools of their own)."""
    return build(Learned())


def _has_worked_answers(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as handle:
            first = json.loads(next(line for line in handle if line.strip()))
    except (OSError, StopIteration, ValueError):
        return False
    return isinstance(first, dict) and "question" in first and "####" in str(first.get("answer", ""))


def _public(info: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if k != "done"}


def _load_state(folder: Path) -> _State:
    path = folder / "state.json"
    if not path.exists():
        return _State()
    try:
        return _State(phases=dict(json.loads(path.read_text()).get("phases") or {}))
    except (OSError, ValueError) as exc:
        raise LearningError(f"{path} is not a learn run's state: {exc}") from exc


def _save_state(folder: Path, state: _State) -> None:
    _write_json(folder / "state.json", {"phases": state.phases})


def _write_json(path: Path, value: Any) -> None:
    """Write `value` as JSON through a temporary file and a rename: a kill never leaves half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps(value, indent=1, default=str) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
