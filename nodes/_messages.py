"""Reading the parts of a message history that nodes need: the question, the evidence, the feedback."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage

CRITIC = "critic"
"""The `name` on the feedback messages a critic adds, so they are not mistaken for the user's question."""


def question_of(messages: Sequence[AnyMessage]) -> str:
    """Return the text of the last human message that is not critic feedback ("" if there is none)."""
    for message in reversed(messages):
        if isinstance(message, HumanMessage) and message.name != CRITIC:
            return message.text
    return ""


def tool_evidence(messages: Sequence[AnyMessage]) -> list[str]:
    """Return one line per tool result since the question: `name(args) returned: result`, oldest first."""
    calls: dict[str, str] = {}
    lines: list[str] = []
    for message in _since_question(messages):
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                args = ", ".join(f"{key}={value!r}" for key, value in call["args"].items())
                calls[call["id"] or ""] = f"{call['name']}({args})"
        elif isinstance(message, ToolMessage):
            call = calls.get(message.tool_call_id, message.name or "tool")
            verb = "failed" if message.status == "error" else "returned"
            lines.append(f"{call} {verb}: {message.text}")
    return lines


def model_turns(messages: Sequence[AnyMessage]) -> int:
    """Return how many AI messages (model calls) there have been since the question."""
    return sum(isinstance(m, AIMessage) for m in _since_question(messages))


def critiques(messages: Sequence[AnyMessage]) -> int:
    """Return how many critic feedback messages there have been since the question."""
    return sum(isinstance(m, HumanMessage) and m.name == CRITIC for m in _since_question(messages))


def _since_question(messages: Sequence[AnyMessage]) -> Sequence[AnyMessage]:
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, HumanMessage) and message.name != CRITIC:
            return messages[index + 1 :]
    return messages
