"""The experience store: real records from every source round-trip; a SIGKILL loses nothing already added."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Annotated, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages

from graphwright.errors import ExperienceError
from graphwright.evals import load_tasks, run_env_eval, run_eval
from graphwright.graphs import EnvAgentOptions, build_random_agent
from graphwright.learning import (
    FORMAT,
    ExperienceStore,
    Trajectory,
    calls_of,
    from_episodes,
    from_eval_results,
    gsm8k_demonstrations,
    twx_demonstrations,
)

TRAIN = Path(__file__).resolve().parents[1] / "data" / "evalsets" / "gsm8k" / "train_head.jsonl"  # shared/data copy


class QA(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]


def adder() -> StateGraph:
    """Answers with the sum of the numbers in the question, as an AI message (so the thread holds the call)."""

    def add(state: QA) -> QA:
        question = state["messages"][0].text
        return {"messages": [AIMessage(f"The sum is {sum(int(n) for n in re.findall(r'-?[0-9]+', question))}.")]}

    graph = StateGraph(QA)
    graph.add_node("add", add)
    graph.add_edge(START, "add")
    return graph


def test_gsm8k_demonstrations_round_trip(tmp_path: Path) -> None:
    demos = list(gsm8k_demonstrations(TRAIN, limit=3, style="program"))
    assert [d.task_id for d in demos] == ["train_head-1", "train_head-2", "train_head-3"]
    with ExperienceStore(tmp_path / "x.sqlite") as store:
        assert store.add_all(demos) == 3
        assert store.add_all(demos) == 0  # the same attempts collected again are not stored twice
    with ExperienceStore(tmp_path / "x.sqlite") as store:
        back = list(store.trajectories())
    assert back == demos
    first = back[0].to_record()
    assert first["format"] == FORMAT and first["source"] == "demonstration" and first["reward"] == 1.0
    assert first["calls"][0]["prompt"][0]["content"].startswith("Natalia sold clips")
    program = first["calls"][0]["completion"]  # the code agent's own conversion (graphwright.nodes.gsm8k_program)
    assert "step1 = 48 / 2" in program and program.endswith("print(step2)")


def test_gsm8k_demonstrations_print_their_answers() -> None:
    """Every program demonstration of the copy prints its `#### n` answer; text ones end by stating it."""
    import contextlib
    import io

    programs = list(gsm8k_demonstrations(TRAIN, style="program"))
    assert len(programs) >= 90  # the few the conversion refuses are left out, not kept wrong
    for demo in programs:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(demo.calls[0]["completion"], {})  # noqa: S102 - arithmetic converted from the solutions
        assert abs(float(out.getvalue()) - float(demo.meta["answer"])) < 1e-6, demo.task_id
    text = next(gsm8k_demonstrations(TRAIN, style="text", limit=1))
    assert text.calls[0]["completion"].endswith("The answer is 72.") and "<<" not in text.calls[0]["completion"]


def test_program_demonstrations_survive_repeated_values_and_decimals(tmp_path: Path) -> None:
    """Two steps computing the same value get two names, and `.5` is not read as `.` + a step's value."""
    import contextlib
    import io

    solutions = ["Kept 3/5*400 = <<3/5*400=240>>240 and 800-560 = <<800-560=240>>240.\nSo 240+240 = <<240+240=480>>480.\n#### 480",
                 "Half is 2*.5 = <<2*.5=1>>1 and 1+.5 = <<1+.5=1.5>>1.5.\n#### 1.5"]
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps({"question": f"q{i}", "answer": a}) + "\n" for i, a in enumerate(solutions)))
    for demo in gsm8k_demonstrations(path, style="program"):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(demo.calls[0]["completion"], {})  # noqa: S102 - arithmetic converted from the solutions
        assert float(out.getvalue()) == float(demo.meta["answer"]), demo.calls[0]["completion"]


def test_twx_gold_paths_and_episodes_round_trip(tmp_path: Path) -> None:
    gold = list(twx_demonstrations("coin", [0, 1], fold="train", max_steps=60))
    assert all(g.success and g.reward == 1.0 and g.steps for g in gold)
    assert all(s["action"] in s["valid_actions"] for g in gold for s in g.steps)
    results = run_env_eval(build_random_agent(seed=3, options=EnvAgentOptions(max_steps=5)), "twx:coin?fold=train&max_steps=5",
                           episodes=2, label="random")
    episodes = list(from_episodes(results))
    with ExperienceStore(tmp_path / "x.sqlite") as store:
        store.add_all([*gold, *episodes])
    with ExperienceStore(tmp_path / "x.sqlite") as store:
        assert list(store.trajectories(source="demonstration")) == gold
        assert list(store.trajectories(source="episode")) == episodes
        assert [t.id for t in store.trajectories(min_reward=1.0)][:2] == [g.id for g in gold]
    assert episodes[0].steps[0]["observation"] == results[0]["trajectory"][0]["observation"]


def test_eval_records_refer_to_their_threads(tmp_path: Path) -> None:
    tasks_file = tmp_path / "tasks.jsonl"
    tasks_file.write_text('{"id": "a", "input": "2 and 3?", "check": {"numeric": 5}}\n'
                          '{"id": "b", "input": "4 and 4?", "check": {"numeric": 9}}\n')
    tasks = load_tasks(tasks_file)
    results = run_eval(tasks, lambda tools: adder(), tmp_path / "eval", label="adder", concurrency=1)
    records = list(from_eval_results(results, tmp_path / "eval", tasks={t.id: str(t.input) for t in tasks}))
    with ExperienceStore(tmp_path / "x.sqlite") as store:
        store.add_all(records)
        back = list(store.trajectories(source="eval"))
    assert [(t.task_id, t.reward) for t in back] == [("a", 1.0), ("b", 0.0)]
    assert back[0].calls is None and back[0].thread["thread_id"] == results[0]["thread_id"]  # not copied
    calls = calls_of(back[0])  # read from the checkpoint thread
    assert calls == [{"prompt": [{"role": "user", "content": "2 and 3?"}], "completion": "The sum is 5."}]


def test_malformed_records_are_refused(tmp_path: Path) -> None:
    with ExperienceStore(tmp_path / "x.sqlite") as store:
        with pytest.raises(ExperienceError, match="holds no behaviour"):
            store.add(Trajectory("x", "eval", "t", "q", 1.0))
        with pytest.raises(ExperienceError, match="source must be one of"):
            store.add(Trajectory("x", "guess", "t", "q", 1.0, calls=()))  # type: ignore[arg-type]
        assert len(store) == 0
    gone = Trajectory("y", "eval", "t", "q", 1.0, thread={"checkpoints": str(tmp_path / "none.sqlite"), "thread_id": "t"})
    with pytest.raises(ExperienceError, match="is gone"):
        calls_of(gone)


WRITER = textwrap.dedent("""
    import sys
    from graphwright.learning import ExperienceStore, Trajectory
    store = ExperienceStore(sys.argv[1])
    for i in range(100000):
        call = {"prompt": [{"role": "user", "content": f"q{i}"}], "completion": f"a{i}"}
        store.add(Trajectory(f"r{i}", "demonstration", f"t{i}", f"q{i}", 1.0, calls=(call,)))
        print(i, flush=True)
""")


def test_sigkill_loses_nothing_already_added(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    reported = -1
    deadline = time.monotonic() + 120
    while reported < 30:
        line = proc.stdout.readline()
        assert line, "the writer exited early"
        reported = int(line)
        assert time.monotonic() < deadline
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with ExperienceStore(path) as store:
        ids = [t.id for t in store.trajectories()]
    assert len(ids) >= reported + 1  # every add that returned is there (and perhaps the one in flight)
    assert ids[: reported + 1] == [f"r{i}" for i in range(reported + 1)]
