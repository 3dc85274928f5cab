"""Experience: trajectories with their rewards, in one format and one SQLite file, appended and never rewritten.

A record is one trajectory: a task attempted once, what was done, and the reward it earned. As JSON (one
line of `ExperienceStore.export`, one row's `record` column):

    {"format": "graphwright-experience/1",
     "id": "demo:gsm8k-train-1",               unique; the same attempt collected twice is stored once
     "source": "demonstration",                 eval | episode | demonstration
     "task_id": "gsm8k-train-1",                the task (eval task id, or env spec#seed)
     "task": "Natalia sold clips to ...",       the question or the environment's task text
     "reward": 1.0,                             what the behaviour earned (eval: 1 passed / 0 failed;
                                                episode: its final score; demonstration: 1)
     "success": true,
     "calls": [{"prompt": [{"role": "user", "content": "..."}], "completion": "..."}],
     "steps": null,
     "thread": null,
     "meta": {"answer": "72"}}

- `calls`: the model calls, each its prompt (chat messages as role/content dicts) and the completion the
  model wrote (or an expert would have written): what imitation and reward-weighted fine-tuning train on.
- `steps`: for an environment, per action `{"observation", "valid_actions", "action", "reward"}` (the
  trajectory format of `graphwright.evals`'s episode export).
- `thread`: `{"checkpoints": PATH, "thread_id": ID}` when the run is kept in a checkpoint database (an eval
  folder's `checkpoints.sqlite`): the record then holds no copy of the messages, and `calls_of` reads them
  from the thread when they are needed.

The store is one SQLite file in WAL mode with `synchronous=FULL`: each `add` is its own committed
transaction, so a process killed with SIGKILL loses nothing `add` has returned from, and a reopened store
reads every record. Records are only inserted (an id already present is left as it is), never updated.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import ExperienceError
from ..memory import private_file

__all__ = [
    "ExperienceStore",
    "FORMAT",
    "SOURCES",
    "Trajectory",
    "calls_of",
    "check_record",
    "from_episodes",
    "from_eval_results",
    "gsm8k_demonstrations",
    "gsm8k_solution_text",
    "thread_messages",
    "twx_demonstrations",
]

FORMAT = "graphwright-experience/1"
"""The `format` field of every experience record."""

SOURCES = ("eval", "episode", "demonstration")
"""Where a trajectory comes from."""

Source = Literal["eval", "episode", "demonstration"]

_SCHEMA = """
create table if not exists experience (
    seq integer primary key autoincrement,
    id text not null unique,
    source text not null,
    task_id text not null,
    reward real not null,
    success integer,
    record text not null
);
create index if not exists experience_task on experience(task_id);
"""


@dataclass(frozen=True)
class Trajectory:
    """One attempt at one task, what was done and the reward it earned (the record in the module docstring)."""

    id: str
    """Unique in a store; collecting the same attempt again finds it already there."""
    source: Source
    """`eval`, `episode` or `demonstration`."""
    task_id: str
    """The task this attempt was at."""
    task: str
    """The question, or the environment's task description."""
    reward: float
    """What the behaviour earned: 1/0 for a passed/failed check, an episode's score, 1 for a demonstration."""
    success: bool | None = None
    """Whether the task was solved (None when unknown)."""
    calls: tuple[Mapping[str, Any], ...] | None = None
    """Model calls: `{"prompt": [{"role", "content"}, ...], "completion": str}`; None when held by `thread`."""
    steps: tuple[Mapping[str, Any], ...] | None = None
    """Environment steps: `{"observation", "valid_actions", "action", "reward"}`; None for question tasks."""
    thread: Mapping[str, str] | None = None
    """`{"checkpoints": path, "thread_id": id}`: where the run's messages are kept, instead of a copy here."""
    meta: Mapping[str, Any] = field(default_factory=dict)
    """Anything else worth keeping (the expected answer, the env spec and seed, the graph's name)."""

    def to_record(self) -> dict[str, Any]:
        """Return the JSON record (see the module docstring).

        Example:
            >>> Trajectory("d1", "demonstration", "t1", "6*7?", 1.0).to_record()["format"]
            'graphwright-experience/1'
        """
        return {
            "format": FORMAT,
            "id": self.id,
            "source": self.source,
            "task_id": self.task_id,
            "task": self.task,
            "reward": float(self.reward),
            "success": self.success,
            "calls": None if self.calls is None else [dict(c) for c in self.calls],
            "steps": None if self.steps is None else [dict(s) for s in self.steps],
            "thread": None if self.thread is None else dict(self.thread),
            "meta": dict(self.meta),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Trajectory:
        """Return the trajectory a JSON record describes, checked.

        Raises:
            ExperienceError: not a `graphwright-experience/1` record, or a field of the wrong kind.
        """
        check_record(record)
        return cls(
            id=str(record["id"]),
            source=record["source"],
            task_id=str(record["task_id"]),
            task=str(record.get("task") or ""),
            reward=float(record["reward"]),
            success=record.get("success"),
            calls=None if record.get("calls") is None else tuple(record["calls"]),
            steps=None if record.get("steps") is None else tuple(record["steps"]),
            thread=record.get("thread"),
            meta=dict(record.get("meta") or {}),
        )


def check_record(record: Any) -> None:
    """Raise `ExperienceError` unless `record` is a well-formed experience record.

    Example:
        >>> check_record({"format": "graphwright-experience/1", "id": "x", "source": "eval", "task_id": "t",
        ...               "reward": 0.0, "calls": None, "steps": None, "thread": None})
        Traceback (most recent call last):
        ...
        graphwright.errors.ExperienceError: record 'x' holds no behaviour: give calls, steps or thread
    """
    if not isinstance(record, Mapping) or record.get("format") != FORMAT:
        raise ExperienceError(f"not a {FORMAT} record: {str(record)[:120]}")
    name = record.get("id")
    if not isinstance(name, str) or not name:
        raise ExperienceError("an experience record needs a non-empty string 'id'")
    if record.get("source") not in SOURCES:
        raise ExperienceError(f"record {name!r}: source must be one of {', '.join(SOURCES)}, got {record.get('source')!r}")
    if not isinstance(record.get("task_id"), str) or not record["task_id"]:
        raise ExperienceError(f"record {name!r} needs a non-empty string 'task_id'")
    if isinstance(record.get("reward"), bool) or not isinstance(record.get("reward"), int | float):
        raise ExperienceError(f"record {name!r}: reward must be a number, got {record.get('reward')!r}")
    calls, steps, thread = record.get("calls"), record.get("steps"), record.get("thread")
    if calls is None and steps is None and thread is None:
        raise ExperienceError(f"record {name!r} holds no behaviour: give calls, steps or thread")
    for call in calls or []:
        if not isinstance(call, Mapping) or not isinstance(call.get("prompt"), list) or not isinstance(
            call.get("completion"), str
        ):
            raise ExperienceError(f"record {name!r}: each call is {{'prompt': [messages], 'completion': str}}")
    for step in steps or []:
        if not isinstance(step, Mapping) or not {"observation", "action", "reward"} <= set(step):
            raise ExperienceError(f"record {name!r}: each step has observation, valid_actions, action, reward")
    if thread is not None and not (
        isinstance(thread, Mapping) and isinstance(thread.get("checkpoints"), str) and isinstance(thread.get("thread_id"), str)
    ):
        raise ExperienceError(f"record {name!r}: thread is {{'checkpoints': path, 'thread_id': id}}")


class ExperienceStore:
    """Trajectories with rewards in one SQLite file; appends are durable when `add` returns.

    Open it with a path (created if missing) and close it, or use it as a context manager. Safe to share
    between threads of one process; several processes may append to one file (SQLite serializes writers).

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "experience.sqlite"
        >>> with ExperienceStore(path) as store:
        ...     store.add(Trajectory("d1", "demonstration", "t1", "6*7?", 1.0,
        ...                          calls=({"prompt": [{"role": "user", "content": "6*7?"}], "completion": "42"},)))
        True
        >>> with ExperienceStore(path) as store:
        ...     [t.id for t in store.trajectories()], len(store)
        (['d1'], 1)
    """

    def __init__(self, path: str | Path) -> None:
        """Open (or create) the store at `path`.

        Raises:
            ExperienceError: the file cannot be opened as an experience store.
        """
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            private_file(self.path)  # trajectories hold questions, answers and tool results
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("pragma journal_mode=wal")
            self._db.execute("pragma synchronous=full")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise ExperienceError(f"cannot open the experience store {str(self.path)!r}: {exc}") from exc

    def __enter__(self) -> ExperienceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._lock:
            self._db.close()

    def add(self, trajectory: Trajectory) -> bool:
        """Append `trajectory`; return False when a record with its id is already stored (it is left unchanged).

        Raises:
            ExperienceError: the record is malformed, or the write failed.
        """
        return self.add_all([trajectory]) == 1

    def add_all(self, trajectories: Iterable[Trajectory]) -> int:
        """Append many trajectories in one transaction; return how many were new.

        Raises:
            ExperienceError: a record is malformed (nothing is written), or the write failed.
        """
        rows = []
        for trajectory in trajectories:
            record = trajectory.to_record()
            check_record(record)
            rows.append((record["id"], record["source"], record["task_id"], record["reward"],
                         None if record["success"] is None else int(bool(record["success"])),
                         json.dumps(record, ensure_ascii=False, default=str)))
        if not rows:
            return 0
        with self._lock:
            try:
                before = self._db.total_changes
                self._db.execute("begin immediate")
                self._db.executemany(
                    "insert or ignore into experience(id, source, task_id, reward, success, record) values (?,?,?,?,?,?)",
                    rows,
                )
                self._db.execute("commit")
                return self._db.total_changes - before
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("rollback")
                raise ExperienceError(f"cannot write to the experience store {str(self.path)!r}: {exc}") from exc

    def __contains__(self, trajectory_id: object) -> bool:
        with self._lock:
            row = self._db.execute("select 1 from experience where id = ?", (str(trajectory_id),)).fetchone()
        return row is not None

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("select count(*) from experience").fetchone()[0])

    def trajectories(
        self,
        *,
        source: Source | None = None,
        min_reward: float | None = None,
        task_ids: Sequence[str] | None = None,
    ) -> Iterator[Trajectory]:
        """Yield the stored trajectories in the order they were added, optionally filtered.

        Args:
            source: only this source.
            min_reward: only trajectories whose reward is at least this.
            task_ids: only these tasks.

        Raises:
            ExperienceError: a stored record is malformed.
        """
        where, args = [], []
        if source is not None:
            where.append("source = ?")
            args.append(source)
        if min_reward is not None:
            where.append("reward >= ?")
            args.append(float(min_reward))
        if task_ids is not None:
            ids = list(task_ids)
            where.append(f"task_id in ({','.join('?' * len(ids))})" if ids else "0")
            args.extend(ids)
        query = "select record from experience" + (" where " + " and ".join(where) if where else "") + " order by seq"
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        for (text,) in rows:
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ExperienceError(f"a record in {str(self.path)!r} is not JSON: {exc}") from exc
            yield Trajectory.from_record(record)

    def export(self, path: str | Path) -> int:
        """Write every record as JSON lines (the format in the module docstring) to `path`; return the count."""
        target = Path(path)
        count = 0
        with target.open("w", encoding="utf-8") as out:
            for trajectory in self.trajectories():
                out.write(json.dumps(trajectory.to_record(), ensure_ascii=False, default=str) + "\n")
                count += 1
        return count


def calls_of(trajectory: Trajectory) -> list[dict[str, Any]]:
    """Return the model calls of `trajectory`: its own `calls`, else read from its checkpoint thread.

    A call read from a thread is each AI message of the thread's final state with the messages before it as
    its prompt (the system prompt a node adds without saving it is not in the thread, so not in the prompt).

    Raises:
        ExperienceError: the trajectory has neither calls nor a thread, or the thread cannot be read.
    """
    if trajectory.calls is not None:
        return [dict(c) for c in trajectory.calls]
    if trajectory.thread is None:
        raise ExperienceError(f"trajectory {trajectory.id!r} has no model calls and no thread to read them from")
    return _calls_in(thread_messages(trajectory.thread["checkpoints"], trajectory.thread["thread_id"]))


def thread_messages(checkpoints: str | Path, thread_id: str) -> list[dict[str, Any]]:
    """Return the messages of thread `thread_id`'s latest checkpoint as role/content dicts (tool calls written
    as the model writes them: `<tool_call>{"name": ..., "arguments": ...}</tool_call>`).

    Args:
        checkpoints: a SQLite checkpoint file, or a `postgresql://` URL.
        thread_id: the thread.

    Raises:
        ExperienceError: the database or the thread is missing or unreadable.
    """
    found = _read_threads(checkpoints, [thread_id])[thread_id]
    if found is None:
        raise ExperienceError(f"thread {thread_id!r} is not in {_where(checkpoints)}")
    return found


def _read_threads(checkpoints: str | Path, thread_ids: Sequence[str]) -> dict[str, list[dict[str, Any]] | None]:
    """The messages of each thread's latest checkpoint (None for a thread not there), through one connection."""
    from langchain_core.messages import AIMessage, BaseMessage

    from ..memory import is_postgres_url, open_checkpointer

    if not is_postgres_url(str(checkpoints)) and not Path(checkpoints).is_file():
        raise ExperienceError(f"checkpoint database {str(checkpoints)!r} is gone; its threads cannot be read")
    found: dict[str, Any] = {}
    try:
        with open_checkpointer(checkpoints) as saver:
            for thread_id in thread_ids:
                found[thread_id] = saver.get_tuple({"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}})
    except Exception as exc:  # the checkpointer raises several types for a damaged file or a lost server
        raise ExperienceError(f"cannot read threads from {_where(checkpoints)}: {exc}") from exc
    messages: dict[str, list[dict[str, Any]] | None] = {}
    for thread_id, checkpoint in found.items():
        if checkpoint is None:
            messages[thread_id] = None
            continue
        out = messages[thread_id] = []
        for message in checkpoint.checkpoint.get("channel_values", {}).get("messages") or []:
            if not isinstance(message, BaseMessage):
                continue
            role = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}.get(message.type, message.type)
            content = message.text if hasattr(message, "text") else str(message.content)
            if isinstance(message, AIMessage) and message.tool_calls:
                content += "".join(
                    "<tool_call>\n" + json.dumps({"name": c["name"], "arguments": c["args"]}) + "\n</tool_call>"
                    for c in message.tool_calls
                )
            out.append({"role": role, "content": content})
    return messages


def _where(checkpoints: str | Path) -> str:
    """Names a checkpoint database in a message without the password a Postgres URL may carry."""
    from ..memory import is_postgres_url

    text = str(checkpoints)
    return "the Postgres database" if is_postgres_url(text) else repr(text)


def _calls_in(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each assistant message with content as a model call, the messages before it as its prompt."""
    return [{"prompt": messages[:index], "completion": message["content"]}
            for index, message in enumerate(messages) if message["role"] == "assistant" and message.get("content")]


_CALC = re.compile(r"<<([^<>=]*)=([^<>]*)>>")


def gsm8k_solution_text(answer: str) -> str:
    """Return a GSM8K training solution as plain worked text: calculations `<<a*b=c>>` dropped, the final
    `#### n` written as a sentence.

    Example:
        >>> gsm8k_solution_text("She sold 48/2 = <<48/2=24>>24 clips.\\n#### 24")
        'She sold 48/2 = 24 clips.\\nThe answer is 24.'
    """
    body, _, final = answer.rpartition("####")
    body = _CALC.sub("", body).strip()
    return f"{body}\nThe answer is {final.strip().replace(',', '')}."


def gsm8k_demonstrations(
    path: str | Path, *, limit: int | None = None, skip: Iterable[str] = (), style: Literal["text", "program"] = "text"
) -> Iterator[Trajectory]:
    """Yield the solved problems of a GSM8K-style file (`question`, `answer` ending `#### n`) as demonstrations.

    Task ids are `<file stem>-<line>` (as `graphwright.evals.load_tasks` names them), so the same problem has
    the same id here and in an eval. The call's prompt is the question alone; its completion the worked
    solution (`gsm8k_solution_text`) or a program that prints the answer (`graphwright.nodes.gsm8k_program`,
    the code agent's own conversion; a solution it cannot convert cleanly is left out).

    Args:
        path: the JSON-lines file (e.g. the GSM8K training split).
        limit: at most this many demonstrations.
        skip: task ids to leave out (a held-back dev split).
        style: `text` for a worked solution, `program` for a Python program that prints the answer (the form
            the code agent's examples take).

    Raises:
        ExperienceError: the file cannot be read, or a line is not a GSM8K problem.
    """
    from ..nodes import gsm8k_program

    source = Path(path)
    skipped = set(skip)
    made = 0
    for number, question, answer in _gsm8k_rows(source):
        if limit is not None and made >= limit:
            return
        if "####" not in answer:
            raise ExperienceError(f"{source}:{number}: the answer has no '#### n' final line")
        task_id = f"{source.stem}-{number}"
        if task_id in skipped:
            continue
        solution = gsm8k_program(answer) if style == "program" else gsm8k_solution_text(answer)
        if solution is None:
            continue
        made += 1
        yield Trajectory(
            id=f"demo:{style}:{task_id}",
            source="demonstration",
            task_id=task_id,
            task=question,
            reward=1.0,
            success=True,
            calls=({"prompt": [{"role": "user", "content": question}], "completion": solution},),
            meta={"answer": answer.rpartition("####")[2].strip().replace(",", ""), "style": style},
        )



def _gsm8k_rows(source: Path) -> Iterator[tuple[int, str, str]]:
    """`graphwright.nodes.gsm8k_rows`, with an unreadable file or a malformed line as an `ExperienceError`."""
    from ..nodes import gsm8k_rows

    try:
        yield from gsm8k_rows(source)
    except OSError as exc:
        raise ExperienceError(f"cannot read demonstrations from {str(source)!r}: {exc}") from exc
    except ValueError as exc:
        raise ExperienceError(str(exc)) from exc

def twx_demonstrations(game: str, seeds: Iterable[int], *, fold: str = "train", max_steps: int = 100) -> Iterator[Trajectory]:
    """Yield TextWorldExpress gold action sequences of `game` as demonstrations, one per seed of `fold`.

    Each gold path is played in the environment so every step records what was seen, the valid actions,
    the action and the reward; the trajectory's reward is the episode's final score.

    Raises:
        EnvSetupError: an unknown game or fold, or a seed beyond the fold.
    """
    from ..envs import env_spec, twx_env

    spec = env_spec(f"twx:{game}", fold=fold, max_steps=max_steps)
    env = twx_env(game, fold=fold, max_steps=max_steps)  # type: ignore[arg-type]
    try:
        for seed in seeds:
            observation, info = env.reset(seed=seed)
            steps, score, success = [], 0.0, False
            for action in env.gold_actions() or []:
                seen, valid = observation, info.get("valid_actions")
                observation, reward, terminated, truncated, info = env.step(action)
                steps.append({"observation": seen, "valid_actions": valid, "action": action, "reward": float(reward)})
                score, success = float(info.get("score", 0.0)), bool(info.get("success"))
                if terminated or truncated:
                    break
            task_id = f"{spec}#{seed}"
            yield Trajectory(
                id=f"gold:{task_id}",
                source="demonstration",
                task_id=task_id,
                task=str(info.get("task", "")),
                reward=score,
                success=success,
                steps=tuple(steps),
                meta={"env": spec, "seed": int(seed)},
            )
    finally:
        env.close()


def from_eval_results(results: Iterable[Mapping[str, Any]], eval_folder: str | Path, *, tasks: Mapping[str, str] | None = None,
                      graph: str | None = None, checkpoints: str | None = None) -> Iterator[Trajectory]:
    """Yield one trajectory per finished task of an eval run (`graphwright.evals.run_eval`'s results, or
    `run_tasks_on_ray`'s).

    The record refers to the task's thread in the folder's `checkpoints.sqlite` instead of copying its
    messages; its reward is 1 when the task's check passed, else 0. With `checkpoints`, the Postgres URL a run
    on Ray kept its threads in, the model calls are read from there now and kept in the record (which holds
    no database URL, and outlives the threads in a database many runs share); a thread not there is taken to
    be in the folder's file (a local run wrote it).

    Args:
        results: the result dicts (`run_eval`'s return value, or the folder's `results.jsonl`).
        eval_folder: the eval folder the results were written to.
        tasks: task id -> question text, to keep the question with the record.
        graph: the graph's name, kept in `meta`.
        checkpoints: a `postgresql://` URL holding the results' threads (see above); None: the folder's file.

    Raises:
        ExperienceError: `checkpoints` cannot be read.
    """
    folder = Path(eval_folder).resolve()
    finished = [r for r in results if r.get("thread_id")]
    read = _read_threads(checkpoints, [str(r["thread_id"]) for r in finished]) if checkpoints and finished else {}
    for result in finished:
        thread = str(result["thread_id"])
        task_id = str(result["id"])
        messages = read.get(thread)
        yield Trajectory(
            id=f"eval:{thread}",
            source="eval",
            task_id=task_id,
            task=(tasks or {}).get(task_id, ""),
            reward=1.0 if result.get("ok") else 0.0,
            success=bool(result.get("ok")),
            calls=None if messages is None else tuple(_calls_in(messages)),
            thread={"checkpoints": str(folder / "checkpoints.sqlite"), "thread_id": thread} if messages is None else None,
            meta={k: v for k, v in {"graph": graph, "answer": result.get("answer"), "error": result.get("error"),
                                    "thread_id": thread if messages is not None else None}.items()
                  if v is not None},
        )


def from_episodes(results: Iterable[Mapping[str, Any]]) -> Iterator[Trajectory]:
    """Yield one trajectory per episode of an environment eval (`graphwright.evals.run_env_eval`'s results).

    Steps are kept in the record: an episode's thread is often in memory only, and its steps are small.
    """
    for result in results:
        task_id = str(result.get("id") or f"{result['env']}#{result['seed']}")
        yield Trajectory(
            id=f"episode:{result.get('thread_id') or task_id}",
            source="episode",
            task_id=task_id,
            task=str(result.get("task", "")),
            reward=float(result.get("score") or 0.0),
            success=bool(result.get("success")),
            steps=tuple(result.get("trajectory") or ()),
            meta={"env": result.get("env"), "seed": result.get("seed"), "graph": result.get("graph")},
        )
