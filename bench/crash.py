"""Crash harness: SIGKILL real runs at random moments, resume each, and count what went wrong.

Each trial starts a run of a small tool-calling agent (a scripted planner, graphwright's executor and ledger, a
side-effecting tool that appends a tagged line to a file), kills it with SIGKILL after a random delay drawn over
the length of a whole run, then resumes the thread once and checks three things:

- unresumable: the resume failed, or the thread did not finish with the expected answer;
- lost: a side effect is missing although no tool message said its outcome was unknown (at-most-once calls
  cut by the kill mid-call are reported as `in_doubt`, not lost: the agent was told);
- repeated: a side effect happened more than once: one call (one idempotency key) did it twice, or more calls
  did it than the in-doubt ones account for.

A kill after a call's effect but before the ledger's `done` leaves the call in doubt: the resumed run does not
repeat it and tells the agent its outcome is unknown, and the planner, which asks again for every tag not
answered with success, then makes a new call for that tag. Its effect twice is reported as `redone` (beside
`in_doubt`), not `repeated`: each effect line carries its call's idempotency key, so the harness sees two calls,
the first still `started` in the ledger and answered "outcome unknown". No framework can record an external
effect and its call's end atomically; `--kill-after-effect TAG` lands a kill in exactly that window.

Runs go through the CLI (`graphwright run`/`resume`, durability "sync") and through Python (`graph.invoke`
with durability "sync" or "async", resumed with `invoke(None, config)` when `unfinished_nodes` says so), on
SQLite and on Postgres. The planner gives two calls per reply the same id, so the ledger's keys are exercised.

    .venv/bin/python bench/crash.py --kills 30                  # every mode, 30 kills each, a table
    .venv/bin/python bench/crash.py --kills 4 --modes cli-sqlite --json   # what tests/tools/test_crash.py runs
    .venv/bin/python bench/crash.py --kill-before-checkpoint    # the well-timed kill: writes saved, no checkpoint
    .venv/bin/python bench/crash.py --kill-after-effect effect-1   # the kill after an effect, before its `done`

The graph is `crash:graph` with bench/ on PYTHONPATH; GW_CRASH_EFFECTS names the effects file (a line per effect:
the tag and its call's idempotency key), GW_CRASH_PAUSE the seconds each call sleeps (spreading kills over the
run), GW_CRASH_DIE_AFTER a tag whose call SIGKILLs its process right after its effect.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from graphwright.nodes import make_executor
from graphwright.tools import register_tool

HERE = Path(__file__).resolve().parent
TAGS = [f"effect-{i}" for i in range(6)]
"""The side effects one run must do, each exactly once; the planner asks for two per reply."""
ANSWER = f"did {len(TAGS)}"
MODES = ("cli-sqlite", "py-sqlite-sync", "py-sqlite-async", "cli-postgres", "py-postgres-async")
POSTGRES_URL = os.environ.get("GW_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


class CrashState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    answer: str | None


@register_tool(side_effects=True, timeout=60)
def record(tag: str, config: RunnableConfig) -> str:
    """Record a tag in the effects file (the side effect that must happen exactly once).

    Each line is the tag and the call's idempotency key, so the harness can tell the executor running one call
    twice (one key) from the agent asking again after it was told a call's outcome is unknown (a new key).

    Args:
        tag: the tag to record.
    """
    time.sleep(float(os.environ.get("GW_CRASH_PAUSE", "0.05")))
    key = (config.get("configurable") or {}).get("idempotency_key") or "-"
    with open(os.environ["GW_CRASH_EFFECTS"], "a") as fh:
        fh.write(f"{tag} {key}\n")
        fh.flush()
        os.fsync(fh.fileno())
    if os.environ.get("GW_CRASH_DIE_AFTER") == tag:  # the inherent window: done, but the ledger says `started`
        os.kill(os.getpid(), signal.SIGKILL)
    return f"recorded {tag}"


def planner(state: CrashState) -> dict[str, Any]:
    """Ask for the next two tags not yet answered (both calls with id "c", as a careless model might)."""
    done = {m.text.split()[-1] for m in state["messages"] if isinstance(m, ToolMessage) and m.status == "success"}
    tried = sum(isinstance(m, ToolMessage) for m in state["messages"])
    todo = [t for t in TAGS if t not in done][:2]
    if not todo or tried >= 2 * len(TAGS):
        return {"messages": [AIMessage(ANSWER if not todo else f"gave up on {todo}")], "answer": ANSWER}
    calls = [{"name": "record", "args": {"tag": t}, "id": "c", "type": "tool_call"} for t in todo]
    return {"messages": [AIMessage("", tool_calls=calls)], "answer": None}


def _route(state: CrashState) -> str:
    last = state["messages"][-1]
    return "tools" if isinstance(last, AIMessage) and last.tool_calls else END


def build() -> StateGraph:
    """Return the crash agent's graph: planner -> tools -> planner ... -> END."""
    builder = StateGraph(CrashState)
    builder.add_node("planner", planner)
    builder.add_node("tools", make_executor([record]))
    builder.add_edge(START, "planner")
    builder.add_conditional_edges("planner", _route, ["tools", END])
    builder.add_edge("tools", "planner")
    return builder


graph = build()


# ---- worker: one run or resume in this process (killed by the harness) ----


def _worker(db: str, thread: str, durability: str, resume: bool, kill_before_checkpoint: int | None) -> int:
    from graphwright.graphs import compile_graph, thread_config, unfinished_nodes
    from graphwright.memory import open_checkpointer

    config = thread_config(thread)
    with open_checkpointer(db) as saver:
        if kill_before_checkpoint is not None:
            _kill_before_checkpoint(saver, db, thread, kill_before_checkpoint)
        app = compile_graph(build(), checkpointer=saver)
        if resume:
            snapshot = app.get_state(config)
            if snapshot.values and not unfinished_nodes(snapshot):
                return 0  # the kill came after the last checkpoint: nothing left to do
            run_input = None if snapshot.values or snapshot.tasks else {"messages": [("human", "go")]}
        else:
            run_input = {"messages": [("human", "go")]}
        app.invoke(run_input, config, durability=durability)
    return 0


def _kill_before_checkpoint(saver: Any, db: str, thread: str, step: int) -> None:
    """SIGKILL this process when the checkpoint of `step` is about to be saved, once the writes it follows are."""
    put = saver.put

    def put_then_die(config, checkpoint, metadata, new_versions):  # noqa: ANN001, ANN202
        if metadata.get("step") == step:
            deadline = time.monotonic() + 10
            while not _writes_saved(saver, config) and time.monotonic() < deadline:
                time.sleep(0.01)
            os.kill(os.getpid(), signal.SIGKILL)
        return put(config, checkpoint, metadata, new_versions)

    saver.put = put_then_die


def _writes_saved(saver: Any, config: Any) -> bool:
    saved = saver.get_tuple({"configurable": {k: v for k, v in config["configurable"].items() if k != "checkpoint_id"}})
    return saved is not None and bool(saved.pending_writes)


# ---- harness ----


def _env(effects: Path) -> dict[str, str]:
    path = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "GW_CRASH_EFFECTS": str(effects), "HF_HUB_OFFLINE": "1"}


def _command(mode: str, db: str, thread: str, *, resume: bool) -> list[str]:
    if mode.startswith("cli-"):
        verb = ["resume", "crash:graph", "--thread", thread] if resume else ["run", "crash:graph", "go", "--thread", thread]
        return [sys.executable, "-m", "graphwright", *verb, "--db", db]
    durability = "async" if mode.endswith("async") else "sync"
    extra = ["--resume"] if resume else []
    return [sys.executable, str(Path(__file__)), "--worker", "--db", db, "--thread", thread, "--durability", durability, *extra]


def _effects(path: Path) -> dict[str, list[str]]:
    """Each tag's effect lines in the effects file, as the idempotency keys of the calls that did them."""
    found: dict[str, list[str]] = {tag: [] for tag in TAGS}
    for line in path.read_text().splitlines() if path.exists() else []:
        tag, _, key = line.partition(" ")
        found.setdefault(tag, []).append(key)
    return found


def _final(db: str, thread: str, keys: Iterable[str] = ()) -> tuple[Any, list[str], Counter[str], set[str]]:
    """The thread's latest state and ledger: (answer, tool messages' texts, how many of each tag's calls the agent
    was told have an unknown outcome, which of `keys` the ledger holds as started and never done)."""
    from graphwright.graphs import compile_graph, thread_config
    from graphwright.memory import open_checkpointer
    from graphwright.tools import ledger_for

    with open_checkpointer(db) as saver:
        values = compile_graph(build(), checkpointer=saver).get_state(thread_config(thread)).values
        ledger = ledger_for(saver)
        started = {k for k in keys if ledger is not None and (e := ledger.lookup(k)) is not None and e.status == "started"}
    tools: list[str] = []
    told: Counter[str] = Counter()
    asked: list[str | None] = []
    for message in values.get("messages", []):
        if isinstance(message, AIMessage):
            asked = [call["args"].get("tag") for call in message.tool_calls]
        elif isinstance(message, ToolMessage):  # the executor answers a reply's calls in their order
            tools.append(message.text)
            tag = asked.pop(0) if asked else None
            if "outcome is unknown" in message.text and tag:
                told[tag] += 1
    return values.get("answer"), tools, told, started


def classify(effects: dict[str, list[str]], told: Counter[str], started: set[str]) -> dict[str, int]:
    """Count a thread's lost, repeated and redone side effects from its effect lines, tool answers and ledger.

    A call cut by the kill after its effect but before the ledger's `done` is in doubt: the resumed run does not
    call it again and tells the agent its outcome is unknown (the ledger's promise: never the same call twice,
    at most once when cut mid-call). An agent that then asks for the tag again makes a new call, under a new key:
    that effect is `redone`, not `repeated`. Nothing can record the effect and its call's end in one atomic step,
    so no harness or framework closes this window; the agent was told.

    Args:
        effects: each tag's effect lines, as the keys of the calls that did them.
        told: how many of each tag's calls the agent was told have an unknown outcome.
        started: the keys the ledger holds as started and never done (calls the kill cut).

    Returns:
        `lost`: tags never done although the agent was never told a call's outcome was unknown; `repeated`: one
        key done twice (the executor ran one call again), or a tag done by more calls than the in-doubt ones the
        agent was told of account for; `redone`: tags done again by the agent's new call after an in-doubt one.

    Example:
        >>> classify({"effect-0": ["t|1|0", "t|2|0"]}, Counter({"effect-0": 1}), {"t|1|0"})
        {'lost': 0, 'repeated': 0, 'redone': 1}
        >>> classify({"effect-0": ["t|1|0", "t|2|0"]}, Counter(), {"t|1|0"})
        {'lost': 0, 'repeated': 1, 'redone': 0}
    """
    counts = {"lost": 0, "repeated": 0, "redone": 0}
    for tag, keys in effects.items():
        calls = list(dict.fromkeys(keys))
        counts["repeated"] += len(keys) - len(calls)  # one call's effect twice: the ledger failed
        extra = max(0, len(calls) - 1)
        excused = min(extra, told[tag], sum(k in started for k in calls))
        counts["repeated"] += extra - excused
        counts["redone"] += excused
        counts["lost"] += not keys and not told[tag]
    return counts


def _outcome(db: str, thread: str, effects: Path) -> tuple[Any, int, dict[str, int]]:
    """(answer, number of in-doubt answers, `classify`'s counts) of a thread and its effects file."""
    found = _effects(effects)
    answer, _, told, started = _final(db, thread, [k for keys in found.values() for k in keys])
    return answer, sum(told.values()), classify(found, told, started)


def trial(mode: str, db: str, work: Path, delay: float) -> dict[str, Any]:
    """Run, SIGKILL after `delay` seconds (unless it ended first), resume once, and return what was found."""
    thread = f"crash-{uuid.uuid4().hex[:10]}"
    effects = work / f"{thread}.effects"
    effects.touch()
    env = _env(effects)
    proc = subprocess.Popen(_command(mode, db, thread, resume=False), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        proc.wait(timeout=delay)
        killed = False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed = True
    answer, tools, _, _ = _final(db, thread)
    resumed = subprocess.CompletedProcess([], 0, "", "")
    if answer != ANSWER:  # not finished when killed (a kill after the last checkpoint leaves nothing to do)
        resumed = subprocess.run(_command(mode, db, thread, resume=True), env=env, capture_output=True, text=True, timeout=300)
        answer, tools, _, _ = _final(db, thread)
        if "has no unfinished run" in resumed.stderr and answer is None and not tools:  # killed before it began
            resumed = subprocess.run(_command(mode, db, thread, resume=False), env=env, capture_output=True, text=True, timeout=300)
    answer, in_doubt, counts = _outcome(db, thread, effects)
    return {
        "mode": mode,
        "thread": thread,
        "killed": killed,
        "delay": round(delay, 3),
        "unresumable": resumed.returncode != 0 or answer != ANSWER,
        **counts,
        "in_doubt": in_doubt,
        "resume_error": resumed.stderr.strip().splitlines()[-1] if resumed.returncode else "",
    }


def kill_after_effect(work: Path, tag: str) -> list[dict[str, Any]]:
    """The kill inside a call after its effect, before the ledger's `done`, with durability sync and async:
    each thread resumed once, and what was found (as `trial` reports it)."""
    results = []
    for durability in ("sync", "async"):
        db, thread = str(work / f"after-effect-{durability}.sqlite"), f"after-{tag}-{durability}"
        effects = work / f"{thread}.effects"
        env = _env(effects)
        args = [sys.executable, str(Path(__file__)), "--worker", "--db", db, "--thread", thread, "--durability", durability]
        died = subprocess.run(args, env={**env, "GW_CRASH_DIE_AFTER": tag}, capture_output=True, timeout=120)
        resumed = subprocess.run([*args, "--resume"], env=env, capture_output=True, text=True, timeout=300)
        answer, in_doubt, counts = _outcome(db, thread, effects)
        results.append(
            {
                "durability": durability,
                "killed": died.returncode == -signal.SIGKILL,
                "unresumable": resumed.returncode != 0 or answer != ANSWER,
                **counts,
                "in_doubt": in_doubt,
                "effects": _effects(effects)[tag],
                "resume_error": resumed.stderr.strip()[-200:] if resumed.returncode else "",
            }
        )
    return results


def _database(mode: str, work: Path) -> str:
    return POSTGRES_URL if mode.endswith(("postgres", "postgres-async")) else str(work / f"{mode}.sqlite")


def _run_length(mode: str, db: str, work: Path) -> float:
    """Seconds a whole unkilled run of `mode` takes (the range kill delays are drawn from)."""
    start = time.monotonic()
    result = trial(mode, db, work, delay=600)
    if result["unresumable"] or result["lost"] or result["repeated"]:
        raise SystemExit(f"an unkilled {mode} run went wrong: {result}")
    return time.monotonic() - start


def well_timed_kills(work: Path) -> list[dict[str, Any]]:
    """The kill that used to leave a thread `resume` refused: after each step's writes, before its checkpoint."""
    results = []
    for step in range(1, 2 * (len(TAGS) // 2) + 2):  # the checkpoint after each task (planner, tools, ...)
        db = str(work / f"well-timed-{step}.sqlite")
        thread = f"timed-{step}"
        effects = work / f"{thread}.effects"
        env = _env(effects)
        args = [sys.executable, str(Path(__file__)), "--worker", "--db", db, "--thread", thread, "--durability", "sync"]
        died = subprocess.run([*args, "--kill-at", str(step)], env=env, capture_output=True, timeout=120)
        resumed = subprocess.run(_command("cli-sqlite", db, thread, resume=True), env=env, capture_output=True, text=True, timeout=300)
        answer, _, told, _ = _final(db, thread)
        done = _effects(effects)
        results.append(
            {
                "step": step,
                "killed": died.returncode == -signal.SIGKILL,
                "resume_exit": resumed.returncode,
                "finished": answer == ANSWER,
                "effects_once": sorted(done) == sorted(TAGS) and all(len(keys) == 1 for keys in done.values()),
                "in_doubt": sum(told.values()),
                "resume_error": resumed.stderr.strip()[-200:] if resumed.returncode else "",
            }
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--kills", type=int, default=10, help="kills per mode")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object (totals and every trial)")
    parser.add_argument("--kill-before-checkpoint", action="store_true", help="the well-timed kills instead")
    parser.add_argument("--kill-after-effect", metavar="TAG", help="the kill inside TAG's call, after its effect, instead")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--thread", help=argparse.SUPPRESS)
    parser.add_argument("--durability", default="sync", help=argparse.SUPPRESS)
    parser.add_argument("--resume", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kill-at", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args.db, args.thread, args.durability, args.resume, args.kill_at)
    work = Path(tempfile.mkdtemp(prefix="gw-crash-"))
    if args.kill_before_checkpoint:
        results = well_timed_kills(work)
        print(json.dumps(results, indent=1))
        return 0 if all(r["resume_exit"] == 0 and r["finished"] and r["effects_once"] for r in results) else 1
    if args.kill_after_effect:
        found = kill_after_effect(work, args.kill_after_effect)
        print(json.dumps(found, indent=None if args.json else 1))
        return 0 if all(r["killed"] and not (r["unresumable"] or r["lost"] or r["repeated"]) for r in found) else 1
    rng = random.Random(args.seed)
    trials: list[dict[str, Any]] = []
    if not args.json:
        print(f"{'mode':18} {'trials':>6} {'killed':>6} {'unresumable':>11} {'lost':>5} {'repeated':>8} {'in doubt':>8} {'redone':>6} {'run s':>6}", flush=True)
    for mode in args.modes.split(","):
        db = _database(mode, work)
        length = _run_length(mode, db, work)
        found = [trial(mode, db, work, rng.uniform(0.0, length)) for _ in range(args.kills)]
        trials += found
        if not args.json:
            counts = [sum(int(t[k]) for t in found) for k in ("killed", "unresumable", "lost", "repeated", "in_doubt", "redone")]
            print(f"{mode:18} {len(found):6d} {counts[0]:6d} {counts[1]:11d} {counts[2]:5d} {counts[3]:8d} {counts[4]:8d} {counts[5]:6d} {length:6.1f}", flush=True)
            for t in found:
                if t["unresumable"] or t["lost"] or t["repeated"]:
                    print("FAILED", t, flush=True)
    totals = {k: sum(int(t[k]) for t in trials) for k in ("killed", "unresumable", "lost", "repeated", "in_doubt", "redone")}
    if args.json:
        print(json.dumps({"totals": totals, "trials": trials}))
    return 0 if not (totals["unresumable"] or totals["lost"] or totals["repeated"]) else 1


if __name__ == "__main__":
    sys.exit(main())
