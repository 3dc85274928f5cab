"""The responder node: writes the answer to the question from the tool results gathered so far."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from ._messages import question_of, tool_evidence

RESPONDER_PROMPT = (
    "You are a helpful assistant. Answer the user's question using the tool results given. "
    "Reply in one short sentence that states the answer."
)

RESPONDER_WRITES = frozenset({"messages", "answer"})
"""The state keys a responder node writes."""


def make_responder(model: BaseChatModel, *, prompt: str = RESPONDER_PROMPT) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Return a responder node: it asks `model`, with no tools, to answer from the evidence.

    Small models asked to continue a conversation that holds tool results tend to call the tool again; asked
    for the answer from the question and the results alone, they answer. The responder's prompt is built
    fresh from the state, so the conversation itself is not changed.

    Reads: `messages` (the question and the tool results since it), and `context` when present (what memory
    recalled, listed after the tool results). Writes: `messages` (the answer as an AI
    message) and `answer`.
    """
    system = SystemMessage(prompt)

    def responder(state: dict[str, Any]) -> dict[str, Any]:
        messages = state["messages"]
        evidence = "\n".join(f"- {line}" for line in tool_evidence(messages)) or "- (none)"
        recalled = "".join(f"\n- {item}" for item in state.get("context") or [])
        memory = f"\n\nFrom memory:{recalled}" if recalled else ""
        request = HumanMessage(f"Question: {question_of(messages)}\n\nTool results:\n{evidence}{memory}")
        reply = model.invoke([system, request])
        text = reply.text.strip()
        return {"messages": [reply], "answer": text}

    return responder
