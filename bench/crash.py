"""Crash harness: SIGKILL real runs at random moments, resume each, and count what went wrong.

Each trial starts a run of a small tool-calling agent (a scripted planner, graphwright's executor and ledger, a
side-effecting tool that appends a tagged line to a file), kills it with SIGKILL after a random delay drawn over
the length of a whole run, then resumes the thread once and checks three things:

- unresumable: the resume failed, or the thread did not finish with the expected answer;
- lost: a side effect is missing although no tool message said its outcome was unknown (at-most-once calls
  cut by the kill mid-call are reported as `in_doubt`, not lost: the agent was told);
- repeated: a side effect happened more than once.

Runs go through the CLI (`graphwright run`/`resume`, durability "sync") and through Python (`graph.invoke`
with durability "sync" or "async", resumed with `invoke(None, config)` when `unfinished_nodes` says so), on
SQLite and on Postgres. The planner gives two calls per reply the same id, so the ledger's keys are exercised.

    .venv/bin/python bench/crash.py --kills 30                  # every mode, 30 kills each, a table
    .venv/bin/python bench/crash.py --kills 4 --modes cli-sqlite --json   # what tests/tools/test_crash.py runs
    .venv/bin/python bench/crash.py --kill-before-checkpoint    # the well-timed kill: writes saved, no checkpoint

The graph is `crash:graph` with bench/ on PYTHONPATH; GW_CRASH_EFFECTS names the effects file, GW_CRASH_PAUSE
the seconds each call sleeps (spreading kills over the run).
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
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
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
def record(tag: str) -> str:
    """Record a tag in the effects file (the side effect that must happen exactly once).

    Args:
        tag: the tag to record.
    """
    time.sleep(float(os.environ.get("GW_CRASH_PAUSE", "0.05")))
    with open(os.environ["GW_CRASH_EFFECTS"], "a") as fh:
        fh.write(tag + "\n")
        fh.flush()
        os.fsync(fh.fileno())
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


def _final(db: str, thread: str) -> tuple[Any, list[str], int]:
    """(answer, tool messages' texts, number of in-doubt calls) of the thread's latest state."""
    from graphwright.graphs import compile_graph, thread_config
    from graphwright.memory import open_checkpointer

    with open_checkpointer(db) as saver:
        values = compile_graph(build(), checkpointer=saver).get_state(thread_config(thread)).values
    tools = [m.text for m in values.get("messages", []) if isinstance(m, ToolMessage)]
    return values.get("answer"), tools, sum("outcome is unknown" in t for t in tools)


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
    answer, tools, in_doubt = _final(db, thread)
    resumed = subprocess.CompletedProcess([], 0, "", "")
    if answer != ANSWER:  # not finished when killed (a kill after the last checkpoint leaves nothing to do)
        resumed = subprocess.run(_command(mode, db, thread, resume=True), env=env, capture_output=True, text=True, timeout=300)
        answer, tools, in_doubt = _final(db, thread)
        if "has no unfinished run" in resumed.stderr and answer is None and not tools:  # killed before it began
            resumed = subprocess.run(_command(mode, db, thread, resume=False), env=env, capture_output=True, text=True, timeout=300)
            answer, tools, in_doubt = _final(db, thread)
    lines = effects.read_text().splitlines()
    counts = {tag: lines.count(tag) for tag in TAGS}
    return {
        "mode": mode,
        "thread": thread,
        "killed": killed,
        "delay": round(delay, 3),
        "unresumable": resumed.returncode != 0 or answer != ANSWER,
        "lost": max(0, sum(c == 0 for c in counts.values()) - in_doubt),
        "repeated": sum(max(0, c - 1) for c in counts.values()),
        "in_doubt": in_doubt,
        "resume_error": resumed.stderr.strip().splitlines()[-1] if resumed.returncode else "",
    }


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
        answer, _, in_doubt = _final(db, thread)
        lines = effects.read_text().splitlines() if effects.exists() else []
        results.append(
            {
                "step": step,
                "killed": died.returncode == -signal.SIGKILL,
                "resume_exit": resumed.returncode,
                "finished": answer == ANSWER,
                "effects_once": sorted(lines) == sorted(TAGS),
                "in_doubt": in_doubt,
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
    rng = random.Random(args.seed)
    trials: list[dict[str, Any]] = []
    if not args.json:
        print(f"{'mode':18} {'trials':>6} {'killed':>6} {'unresumable':>11} {'lost':>5} {'repeated':>8} {'in doubt':>8} {'run s':>6}", flush=True)
    for mode in args.modes.split(","):
        db = _database(mode, work)
        length = _run_length(mode, db, work)
        found = [trial(mode, db, work, rng.uniform(0.0, length)) for _ in range(args.kills)]
        trials += found
        if not args.json:
            counts = [sum(int(t[k]) for t in found) for k in ("killed", "unresumable", "lost", "repeated", "in_doubt")]
            print(f"{mode:18} {len(found):6d} {counts[0]:6d} {counts[1]:11d} {counts[2]:5d} {counts[3]:8d} {counts[4]:8d} {length:6.1f}", flush=True)
            for t in found:
                if t["unresumable"] or t["lost"] or t["repeated"]:
                    print("FAILED", t, flush=True)
    totals = {k: sum(int(t[k]) for t in trials) for k in ("killed", "unresumable", "lost", "repeated", "in_doubt")}
    if args.json:
        print(json.dumps({"totals": totals, "trials": trials}))
    return 0 if not (totals["unresumable"] or totals["lost"] or totals["repeated"]) else 1


if __name__ == "__main__":
    sys.exit(main())
