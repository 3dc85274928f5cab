"""The critic node: checks the draft answer and either approves it or sends the planner back with feedback."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage

from ._messages import CRITIC, critiques, question_of

Check = Callable[[str, Sequence[AnyMessage]], str | None]
"""A check takes (answer, messages) and returns None to approve or a sentence saying what is wrong."""

CRITIC_WRITES = frozenset({"messages", "verdict"})
"""The state keys a critic node writes."""

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def grounded_answer(answer: str, messages: Sequence[AnyMessage]) -> str | None:
    """Approve an answer that is non-empty prose and, when tools returned numbers, states one of them (or one
    that the code planner's step-by-step samples stated, which vote beside the programs: `CodeOptions.step_samples`).

    This is the default check: cheap, deterministic and aimed at the failures small models make (an empty
    reply, a tool call written as text, an answer that ignores what the tool computed).
    """
    text = answer.strip()
    if not text:
        return "The answer was empty. Answer the question."
    if _looks_like_call(text):
        return "The answer was written as a tool call. Call the tool properly, or answer in plain words."
    results = [m for m in messages if isinstance(m, ToolMessage) and m.status != "error"]
    numbers = {float(n) for m in results for n in _NUMBER.findall(m.text)}  # by value: 29.0 states 29
    stated = {float(a) for m in messages if isinstance(m, AIMessage) for a in m.response_metadata.get("stated") or [] if a}
    if numbers and not (numbers | stated) & {float(n) for n in _NUMBER.findall(text.replace(",", ""))}:
        return "The answer does not state the result the tool returned. Answer using the tool result."
    return None


def make_critic(check: Check = grounded_answer, *, max_revisions: int = 2) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Return a critic node that applies `check` to the draft answer.

    Reads: `answer`, `messages`. Writes: `verdict` ("approve", "revise" or "give_up") and, on "revise", a
    feedback message to `messages` (a human message named "critic"; their count is the revision count).

    Args:
        check: returns None to approve, or what is wrong (it becomes the feedback).
        max_revisions: how many times the planner may be sent back before the critic gives up.
    """

    def critic(state: dict[str, Any]) -> dict[str, Any]:
        problem = check(state.get("answer") or "", state["messages"])
        if problem is None:
            return {"verdict": "approve"}
        if critiques(state["messages"]) >= max_revisions:
            return {"verdict": "give_up"}
        feedback = HumanMessage(f"{problem}\nQuestion: {question_of(state['messages'])}", name=CRITIC)
        return {"verdict": "revise", "messages": [feedback]}

    return critic


def _looks_like_call(text: str) -> bool:
    if "<tool_call>" in text:
        return True
    if not text.startswith("{"):
        return False
    try:
        return isinstance(json.loads(text), dict)
    except json.JSONDecodeError:
        return False
