"""Graphs for the `graphwright learn` CLI tests, importable as `learn_graphs:NAME` (tests/learning/ on PYTHONPATH).

Environment: GW_LEARN_SLOW (seconds each `summing` run sleeps, to stop a learn run mid-way).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Annotated, TypedDict

from langchain_core.messages import AIMessage, AnyMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from graphwright.learning import Learned
from graphwright.nodes import ExampleSource


class QA(TypedDict, total=False):
    """Messages in, the answer as the last message."""

    messages: Annotated[list[AnyMessage], add_messages]


def summing(examples: ExampleSource | None = None, *, knows_even: bool = False) -> StateGraph:
    """A builder with an example slot and no model: it answers with the sum of the question's numbers only when
    a worked example it is given for the question shows a sum, so learning in context is what makes it pass.
    With `knows_even` it also answers, unshown, the questions whose first number is even."""

    def solve(state: QA) -> QA:
        time.sleep(float(os.environ.get("GW_LEARN_SLOW", "0")))
        question = next(m.text for m in state["messages"] if m.type == "human")
        shown = examples(question) if examples is not None else []
        even = int(re.findall(r"[0-9]+", question)[0]) % 2 == 0
        if any("+" in example.program for example in shown) or (knows_even and even):
            total = sum(int(n) for n in re.findall(r"[0-9]+", question))
            return {"messages": [AIMessage(f"The answer is {total}.")]}
        return {"messages": [AIMessage("I do not know.")]}

    graph = StateGraph(QA)
    graph.add_node("solve", solve)
    graph.add_edge(START, "solve")
    graph.add_edge("solve", END)
    return graph


def half_knowing(learned: Learned) -> StateGraph:
    """`learn`'s `build` for a collection on Ray (a module-level function pickles): `summing` that knows the
    even half of the sums, with what was learned."""
    return summing(examples=learned.examples, knows_even=True)


def random_agent(learned: Learned) -> StateGraph:
    """`learn`'s `build` for an environment on Ray: the seeded random agent (it takes nothing learned)."""
    from graphwright.graphs import build_random_agent

    return build_random_agent(seed=1)


def write_problems(path: Path, count: int) -> Path:
    """Write `count` GSM8K-style problems whose worked solutions are sums (demonstrations for `learn`) to `path`."""
    lines = []
    for i in range(count):
        a, b = 3 * i + 2, 7 * i + 5
        answer = f"Together they have {a}+{b} = <<{a}+{b}={a + b}>>{a + b} apples.\n#### {a + b}"
        lines.append(json.dumps({"question": f"Ann has {a} apples and Bob has {b} apples. How many in all?",
                                 "answer": answer}))
    path.write_text("\n".join(lines) + "\n")
    return path
