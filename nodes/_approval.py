"""The human-approval node: the run pauses with the draft answer until a person approves, edits or rejects it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.types import interrupt

from ._messages import CRITIC, question_of

ANSWER_APPROVAL = "answer_approval"
"""The `type` of the value an answer-approval interrupt carries."""

APPROVAL_WRITES = frozenset({"messages", "answer", "verdict"})
"""The state keys a human-approval node writes."""


def make_human_approval() -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Return a node that interrupts the run with the draft answer and applies the person's decision.

    The interrupt's value is `{"type": "answer_approval", "question", "answer"}`. Resume with
    `Command(resume=...)` carrying `"approve"` or `{"action": "approve"}` (verdict "approve"),
    `{"action": "edit", "answer": "..."}` (the edited answer, approved), or `{"action": "reject", "reason":
    "..."}` (verdict "revise" and the reason as critic feedback, so a graph can route back to revise).
    Anything else is a rejection: an unclear answer approves nothing.

    Reads: `messages`, `answer`. Writes: `verdict`, and `answer` (on edit) or `messages` (on reject).
    """

    def human_approval(state: dict[str, Any]) -> dict[str, Any]:
        question = question_of(state["messages"])
        decision = interrupt({"type": ANSWER_APPROVAL, "question": question, "answer": state.get("answer") or ""})
        action = decision if isinstance(decision, str) else None
        if isinstance(decision, dict):
            action = decision.get("action")
        if action == "approve":
            return {"verdict": "approve"}
        if action == "edit" and isinstance(decision, dict) and str(decision.get("answer") or "").strip():
            return {"verdict": "approve", "answer": str(decision["answer"]).strip()}
        reason = decision.get("reason") if isinstance(decision, dict) else None
        why = reason or "no reason given"
        feedback = HumanMessage(f"A person rejected the answer: {why}. Answer again.", name=CRITIC)
        return {"verdict": "revise", "messages": [feedback]}

    return human_approval
