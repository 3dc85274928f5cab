"""`learn` in context end to end on a scripted agent: collect, check, learn, gate, report, resume after a failure.

The agent is scripted (no model): it answers with the sum of the question's numbers only when the worked
examples it is given show a sum, so learning in context is what makes it pass. The real model's learning is
in test_lora.py; here LoRA's trainer is a recorder, to check what `learn` gives it to learn.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from learn_graphs import write_problems
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages

from graphwright.errors import LearningError
from graphwright.learning import Learned, LearnOptions, LoraResult, learn, load_learned
from graphwright.nodes import CODE_PROMPT, code_prompt, no_examples, program_of
from graphwright.tools import run_python


class QA(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]




class Agent:
    """Builds the scripted agent, counting builds and the examples each question was given."""

    def __init__(self, fail_with_examples: bool = False) -> None:
        self.builds: list[Learned] = []
        self.shown: list[int] = []
        self.fail_with_examples = fail_with_examples

    def __call__(self, learned: Learned) -> StateGraph:
        self.builds.append(learned)
        if learned.examples is not None and self.fail_with_examples:
            raise RuntimeError("interrupted")

        def solve(state: QA) -> QA:
            question = state["messages"][0].text
            examples = learned.examples(question) if learned.examples else []
            self.shown.append(len(examples))
            if any("+" in e.program for e in examples):
                return {"messages": [AIMessage(f"{sum(int(n) for n in re.findall(r'[0-9]+', question))}")]}
            return {"messages": [AIMessage("I do not know.")]}

        graph = StateGraph(QA)
        graph.add_node("solve", solve)
        graph.add_edge(START, "solve")
        return graph


def test_learn_in_context_keeps_what_helps_and_resumes(tmp_path: Path) -> None:
    source = tmp_path / "train.jsonl"
    write_problems(source, 12)
    options = LearnOptions(method="in_context", dev_size=4, train_limit=None, k=2, concurrency=2)
    failing = Agent(fail_with_examples=True)
    with pytest.raises(RuntimeError, match="interrupted"):  # stopped after learning, before the after-check
        learn(source, tmp_path / "out", failing, options=options, label="scripted")
    state = json.loads((tmp_path / "out" / "state.json").read_text())
    assert [name for name, info in state["phases"].items() if info["done"]] == ["collect", "before", "learn"]

    agent = Agent()
    report = learn(source, tmp_path / "out", agent, options=options, label="scripted")
    assert len(agent.builds) == 1 and agent.builds[0].examples is not None  # only the after-check ran again
    assert report["before"]["score"] == 0.0 and report["after"]["score"] == 1.0 and report["kept"]
    assert report["learned"]["experience"]["demonstrations"] == 8 and report["learned"]["examples"] == 8
    assert report["dev_tasks"] == 4 and report["train_tasks"] == 8
    assert set(report["phases"]) == {"collect", "before", "learn", "after"}
    assert agent.shown == [2, 2, 2, 2]  # every dev question was given its two nearest examples
    assert json.loads((tmp_path / "out" / "report.json").read_text())["gain"] == 1.0
    page, plot = (tmp_path / "out" / "report.html").read_text(), (tmp_path / "out" / "learning.png").read_bytes()
    assert plot.startswith(b"\x89PNG\r\n\x1a\n") and base64.b64encode(plot).decode() in page  # score vs minutes, examples
    assert "href='dev-before/report.html'" in page and "href='dev-after/report.html'" in page

    learned = load_learned(tmp_path / "out")
    assert learned.model is None
    dev_question = "Ann has 100 apples and Bob has 1 apples. How many in all?"
    assert [e.program.startswith("# Together") for e in learned.examples(dev_question)] == [True, True]


def test_learn_drops_what_does_not_help(tmp_path: Path) -> None:
    source = tmp_path / "train.jsonl"
    write_problems(source, 6)

    def never_better(learned: Learned) -> StateGraph:
        return Agent()(Learned())  # ignores the examples

    report = learn(source, tmp_path / "out", never_better, options=LearnOptions(dev_size=2, k=1), label="scripted")
    assert not report["kept"] and report["gain"] == 0.0
    assert not (tmp_path / "out" / "candidate").exists()
    assert load_learned(tmp_path / "out") == Learned()
    with pytest.raises(LearningError, match="method must be"):
        learn(source, tmp_path / "x", never_better, options=LearnOptions(method="dream"))  # type: ignore[arg-type]


class RecordingTrainer:
    """Stands in for `LoraTrainer` (the real one is tested in test_lora.py): keeps what it is asked to learn in
    `seen` (a list the test passes in) and saves a folder with the files `learn` reads back."""

    def __init__(self, options: Any, device: str, *, seen: list[Any]) -> None:
        self.seen = seen

    def train(self, examples: list[Any], on_step: Any = None) -> LoraResult:
        self.seen.extend(examples)
        return LoraResult(steps=1, examples=len(examples))

    def save(self, out: Path) -> Path:
        out.mkdir(parents=True)
        (out / "config.json").write_text("{}")
        (out / "learning.json").write_text("{}")
        return out


def test_learn_lora_trains_each_demonstration_as_the_call_the_code_planner_makes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []
    monkeypatch.setattr("graphwright.learning._lora.LoraTrainer", functools.partial(RecordingTrainer, seen=seen))
    source = write_problems(tmp_path / "train.jsonl", 5)
    options = LearnOptions(method="lora", dev_size=2, train_limit=None, concurrency=1)
    report = learn(source, tmp_path / "out", lambda learned: Agent()(Learned()), options=options, label="scripted")
    assert report["learned"]["lora"]["examples"] == 3

    first = seen[0]
    question = first.prompt[-1]["content"]
    planner = code_prompt([HumanMessage(question)], no_examples)  # what the planner sends, with no worked examples
    assert [(m["role"], m["content"]) for m in first.prompt] == [("system", CODE_PROMPT), ("user", question)]
    assert [m.text for m in planner] == [m["content"] for m in first.prompt]
    assert first.completion.startswith("```python\n") and first.completion.endswith("\n```")
    printed = run_python(program_of(first.completion)).stdout  # where the agent runs its programs
    assert printed.split() == [str(sum(int(n) for n in re.findall(r"[0-9]+", question)))]  # the worked solution
