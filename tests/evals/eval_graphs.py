"""Graphs for the eval tests, importable as `eval_graphs:NAME` by CLI subprocess tests (tests/ and
tests/evals/ on PYTHONPATH).

Environment: GW_EVAL_LOG (a file each `counting` run appends its question to), GW_EVAL_SLOW (seconds each
`counting` run sleeps), GW_EVAL_WRONG (questions containing this text get a wrong answer from `counting`).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Annotated, TypedDict

from fakes import ScriptedChatModel, call
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from graphwright.graphs import build_assistant
from graphwright.tools import calculator

GSM8K = Path(__file__).resolve().parents[1] / "data" / "evalsets" / "gsm8k" / "test_dev.jsonl"


class QA(TypedDict, total=False):
    """Messages in, an answer out."""

    messages: Annotated[list[AnyMessage], add_messages]
    answer: str


def _question(state: QA) -> str:
    return next(m.text for m in state["messages"] if m.type == "human")


def _counting_node(state: QA) -> QA:
    question = _question(state)
    log = os.environ.get("GW_EVAL_LOG")
    if log:
        with Path(log).open("a") as fh:
            fh.write(question + "\n")
    time.sleep(float(os.environ.get("GW_EVAL_SLOW", "0")))
    numbers = [int(n) for n in re.findall(r"-?\d+", question)]
    wrong = os.environ.get("GW_EVAL_WRONG")
    total = sum(numbers) + (1 if wrong and wrong in question else 0)
    return {"answer": f"The sum is {total}."}


def counting() -> StateGraph:
    """One node that answers with the sum of the numbers in the question (logging and sleeping as configured)."""
    graph = StateGraph(QA)
    graph.add_node("add", _counting_node)
    graph.add_edge(START, "add")
    graph.add_edge("add", END)
    return graph


def _exploding(state: QA) -> QA:
    if "explode" in _question(state):
        raise RuntimeError("the node blew up")
    return {"answer": "fine"}


def two_nodes() -> StateGraph:
    """`prepare` then `answer`; `answer` raises when the question says "explode"."""
    graph = StateGraph(QA)
    graph.add_node("prepare", lambda state: {})
    graph.add_node("answer", _exploding)
    graph.add_edge(START, "prepare")
    graph.add_edge("prepare", "answer")
    graph.add_edge("answer", END)
    return graph


def _gsm8k_answers() -> dict[str, str]:
    rows = [json.loads(line) for line in GSM8K.read_text().splitlines() if line.strip()]
    return {row["question"]: row["answer"].rsplit("####", 1)[-1].strip() for row in rows}


def _gsm8k_rule(answers: dict[str, str]):
    def rule(messages: list[BaseMessage], tool_names: list[str]) -> AIMessage:
        question = next(m.text for m in messages if m.type == "human" and m.text in answers) if any(
            m.type == "human" and m.text in answers for m in messages
        ) else None
        if question is None:
            return AIMessage("I do not know.")
        index = list(answers).index(question)
        if index % 3 == 2:
            return AIMessage(f"I think it is {int(answers[question].replace(',', '')) + 1}.")
        if tool_names and not any(isinstance(m, ToolMessage) for m in messages):
            return call("calculator", f"c{index}", expression=answers[question].replace(",", ""))
        if any(isinstance(m, ToolMessage) for m in messages):
            result = [m for m in messages if isinstance(m, ToolMessage)][-1].text
            return AIMessage(f"The answer is {result}.")
        return AIMessage(f"The answer is {answers[question]}.")

    return rule


def gsm8k_assistant() -> StateGraph:
    """The real assistant graph on a scripted model that knows the GSM8K dev answers: it gets every third
    question (index 2, 5, 8, ...) wrong by one and the rest right through the calculator."""
    return build_assistant(model=ScriptedChatModel(rule=_gsm8k_rule(_gsm8k_answers())), tools=[calculator])


def tool_caller(model=None, tools=None) -> StateGraph:
    """A builder taking tools=: the assistant on a scripted model that calls the first bound tool with the
    numbers of the question as `number` (for BFCL-style tasks)."""

    def rule(messages: list[BaseMessage], tool_names: list[str]) -> AIMessage:
        if tool_names and not any(isinstance(m, ToolMessage) for m in messages):
            numbers = [int(n) for n in re.findall(r"\d+", messages[-1].text)]
            return call(tool_names[0], "c1", number=numbers[0] if numbers else 0)
        return AIMessage("Done: 1.")

    return build_assistant(model=ScriptedChatModel(rule=rule), tools=tools)


def memory_reader(model=None, memory=None, tools=None) -> StateGraph:
    """Answers with the text of the memory's best match for the question (a document-QA graph without a model)."""

    def read(state: QA) -> QA:
        found = memory.similarity_search(_question(state), k=1) if memory is not None else []
        return {"answer": found[0].page_content if found else "nothing found"}

    graph = StateGraph(QA)
    graph.add_node("read", read)
    graph.add_edge(START, "read")
    graph.add_edge("read", END)
    return graph
