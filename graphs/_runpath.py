"""A run's path through its graph, read back from the thread's checkpoints: what ran, in order, for how long.

Each checkpoint lists the tasks its super-step will run; the next checkpoint is written when they finish, so
the time between the two is the step's wall time (nodes of one step run concurrently and each gets the whole
step's time). The newest checkpoint tells where the run stands: nodes still to run (`next`), interrupts waiting
for input, and tasks that failed (`error`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.pregel import Pregel
from langgraph.types import StateSnapshot

from ..errors import DrawingError, ThreadStateError

START_NODE = "__start__"


@dataclass(frozen=True)
class Visit:
    """One node run on a run's path."""

    node: str
    """The node's name (a top-level node of the graph)."""
    step: int
    """The super-step it ran in (`metadata["step"]` of the checkpoint that scheduled it)."""
    started: datetime | None
    """When its super-step started (the scheduling checkpoint's `created_at`)."""
    seconds: float | None
    """Wall time of its super-step; None when the step has not finished (an error, or still pending)."""
    error: str | None = None
    """The error the node raised, or None."""
    waited: bool = False
    """The node was interrupted and resumed, so `seconds` includes the time spent waiting for input."""


@dataclass(frozen=True)
class RunPath:
    """Where a run went: the nodes it visited in order, where it stopped or waits, and what failed.

    Build one with `read_run_path`; draw it on its graph with `to_dot(graph, run=path)` and friends.
    """

    thread_id: str
    """The thread the run belongs to."""
    visits: tuple[Visit, ...]
    """Node runs in the order they happened (the input step `__start__` left out)."""
    waiting: tuple[str, ...] = ()
    """Nodes due to run next (`snapshot.next`): where an unfinished run stopped or waits."""
    interrupts: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    """Values of the interrupts each waiting node raised (a question for a human, a tool call to approve)."""
    errors: dict[str, str] = field(default_factory=dict)
    """Errors by node, for tasks of the newest step that failed."""
    inner: dict[str, RunPath] = field(default_factory=dict)
    """The path inside each subgraph node the run entered, by that node's name (its nodes named as the
    subgraph names them); several visits of one subgraph node are joined in order."""

    @property
    def finished(self) -> bool:
        """True when nothing is left to run and nothing failed."""
        return not self.waiting and not self.errors

    @property
    def order(self) -> list[str]:
        """Visited nodes in order, one entry per visit."""
        return [visit.node for visit in self.visits]

    @property
    def counts(self) -> Counter[str]:
        """Visits per node."""
        return Counter(self.order)

    @property
    def seconds(self) -> dict[str, float]:
        """Total wall time per visited node (steps that have not finished count zero)."""
        totals: dict[str, float] = {}
        for visit in self.visits:
            totals[visit.node] = totals.get(visit.node, 0.0) + (visit.seconds or 0.0)
        return totals

    @property
    def status(self) -> str:
        """One line: `finished`, `failed at NODE`, `waiting for input at NODE` or `stopped before NODE`."""
        if self.errors:
            return "failed at " + ", ".join(sorted(self.errors))
        if self.interrupts:
            return "waiting for input at " + ", ".join(sorted(self.interrupts))
        if self.waiting:
            return "stopped before " + ", ".join(self.waiting)
        return "finished"

    def steps_of(self, node: str) -> list[int]:
        """Positions (1-based) of `node` in `order`."""
        return [i for i, name in enumerate(self.order, 1) if name == node]


def read_run_path(graph: Pregel, config: RunnableConfig, *, whole_thread: bool = False) -> RunPath:
    """Return the path of the thread's latest run (or of all its runs) from the checkpoints of `graph`.

    The run starts at the newest checkpoint written for an input; a resumed interrupt continues the same run.
    The path follows parent links back from the newest checkpoint (or `config`'s `checkpoint_id`), so a
    forked thread shows the branch that is current.

    Args:
        graph: the compiled graph the thread ran on, with its checkpointer attached.
        config: names the thread (`{"configurable": {"thread_id": ...}}`, e.g. from `thread_config`).
        whole_thread: True follows every run on the thread back to its first checkpoint.

    Returns:
        The `RunPath`.

    Raises:
        DrawingError: `graph` has no checkpointer.
        ThreadStateError: the thread has no checkpoints.

    Example:
        >>> from typing import TypedDict
        >>> from langgraph.checkpoint.memory import InMemorySaver
        >>> from langgraph.graph import START, StateGraph
        >>> class S(TypedDict):
        ...     n: int
        >>> g = StateGraph(S)
        >>> _ = g.add_node("double", lambda s: {"n": s["n"] * 2})
        >>> _ = g.add_edge(START, "double")
        >>> app = g.compile(checkpointer=InMemorySaver())
        >>> _ = app.invoke({"n": 2}, {"configurable": {"thread_id": "t"}})
        >>> path = read_run_path(app, {"configurable": {"thread_id": "t"}})
        >>> path.order, path.status
        (['double'], 'finished')
    """
    if graph.checkpointer is None or graph.checkpointer is False:
        raise DrawingError("the graph has no checkpointer, so it keeps no runs to draw; compile it with one")
    configurable = dict((config or {}).get("configurable") or {})
    thread_id = configurable.get("thread_id")
    if not thread_id:
        raise ThreadStateError("no thread id in the config: pass thread_config(thread_id)")
    lookup: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    history = list(graph.get_state_history(lookup))  # newest first
    if not history:
        raise ThreadStateError(f"thread {thread_id!r} has no checkpoints")
    snapshots = {_checkpoint_id(s.config): s for s in history}
    head_id = configurable.get("checkpoint_id") or _checkpoint_id(history[0].config)
    if head_id not in snapshots:
        raise ThreadStateError(f"thread {thread_id!r} has no checkpoint {head_id!r}")
    _check_same_graph(graph, snapshots[head_id], str(thread_id))
    chain = list(_ancestry(snapshots, head_id))  # oldest first
    if not whole_thread:
        inputs = [i for i, s in enumerate(chain) if (s.metadata or {}).get("source") == "input"]
        chain = chain[inputs[-1] :] if inputs else chain
    return _path(str(thread_id), chain, _inner_paths(graph, graph, str(thread_id), chain, ""))


def _inner_paths(root: Pregel, graph: Pregel, thread_id: str, chain: list[StateSnapshot], namespace: str) -> dict[str, RunPath]:
    """The paths inside the subgraph nodes that `chain`'s tasks ran, read from their own checkpoints.

    A subgraph task checkpoints under namespace `NODE:TASK_ID` (nested ones join theirs with `|`); the root
    graph reads any of them.
    """
    subgraphs = dict(graph.get_subgraphs())
    paths: dict[str, RunPath] = {}
    seen: set[str] = set()
    for snapshot in chain:
        for task in snapshot.tasks:
            if task.name not in subgraphs or task.id in seen:
                continue
            seen.add(task.id)  # a resumed interrupt runs the same task again: one path
            space = f"{namespace}|{task.name}:{task.id}" if namespace else f"{task.name}:{task.id}"
            lookup: RunnableConfig = {"configurable": {"thread_id": thread_id, "checkpoint_ns": space}}
            history = list(root.get_state_history(lookup))
            if not history:
                continue
            inner_chain = list(_ancestry({_checkpoint_id(s.config): s for s in history}, _checkpoint_id(history[0].config)))
            nested = _inner_paths(root, subgraphs[task.name], thread_id, inner_chain, space)
            path = _path(thread_id, inner_chain, nested)
            before = paths.get(task.name)
            paths[task.name] = path if before is None else _joined(before, path)
    return paths


def _joined(first: RunPath, then: RunPath) -> RunPath:
    """Two visits' paths of one subgraph node as one: visits in order, the state of the later one."""
    inner = dict(first.inner)
    for name, path in then.inner.items():
        inner[name] = _joined(inner[name], path) if name in inner else path
    return RunPath(then.thread_id, first.visits + then.visits, then.waiting, then.interrupts, then.errors, inner)


def _check_same_graph(graph: Pregel, head: StateSnapshot, thread_id: str) -> None:
    """Raise `ThreadStateError` when the thread's checkpoints record nodes `graph` does not have."""
    saved = graph.checkpointer.get_tuple(head.config)  # type: ignore[union-attr]
    seen = set((saved.checkpoint.get("versions_seen") or {}) if saved else ())
    unknown = sorted(seen - set(graph.nodes) - {"__input__", "__interrupt__", START_NODE})
    if unknown:
        raise ThreadStateError(
            f"thread {thread_id!r} was run by another graph: it ran {', '.join(unknown)}, which this graph does not have"
        )


def _checkpoint_id(config: RunnableConfig | None) -> str:
    return str(((config or {}).get("configurable") or {}).get("checkpoint_id") or "")


def _ancestry(snapshots: dict[str, StateSnapshot], head_id: str) -> Iterable[StateSnapshot]:
    chain: list[StateSnapshot] = []
    current: str | None = head_id
    while current and current in snapshots:
        snapshot = snapshots[current]
        chain.append(snapshot)
        current = _checkpoint_id(snapshot.parent_config) or None
    return reversed(chain)


def _path(thread_id: str, chain: list[StateSnapshot], inner: dict[str, RunPath] | None = None) -> RunPath:
    visits: list[Visit] = []
    for snapshot, following in zip(chain, chain[1:]):
        if (following.metadata or {}).get("source") != "loop":
            continue  # an update or a fork, not the result of running these tasks
        started, ended = _time(snapshot.created_at), _time(following.created_at)
        seconds = (ended - started).total_seconds() if started and ended else None
        for task in snapshot.tasks:
            if task.name == START_NODE:
                continue
            visits.append(
                Visit(task.name, _step(snapshot), started, seconds, waited=bool(task.interrupts))
            )
    head = chain[-1]
    interrupts: dict[str, tuple[Any, ...]] = {}
    errors: dict[str, str] = {}
    ran: set[str] = set()
    for task in head.tasks:
        if task.name == START_NODE:
            continue
        if task.error is not None:
            errors[task.name] = _error_text(task.error)
        if task.interrupts:
            interrupts[task.name] = tuple(item.value for item in task.interrupts)
        if task.error is not None or task.result is not None:  # it ran; its step did not finish
            ran.add(task.name)
            visits.append(Visit(task.name, _step(head), _time(head.created_at), None, errors.get(task.name)))
    waiting = tuple(dict.fromkeys(name for name in head.next if name != START_NODE and name not in ran))
    return RunPath(thread_id, tuple(visits), waiting, interrupts, errors, inner or {})


def _step(snapshot: StateSnapshot) -> int:
    return int((snapshot.metadata or {}).get("step", -1))


def _time(created_at: str | None) -> datetime | None:
    if not created_at:
        return None
    try:
        return datetime.fromisoformat(created_at)
    except ValueError:
        return None


def _error_text(error: Any) -> str:
    return error if isinstance(error, str) else f"{type(error).__name__}: {error}"
