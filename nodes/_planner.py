"""The planner node: the LLM with tools bound decides the next action, a tool call or an answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import SystemMessage
from langchain_core.tools import BaseTool

from ._executor import distinct_call_ids

PLANNER_PROMPT = (
    "You are a careful assistant. When a tool can compute or look up what the question needs, call it; "
    "otherwise answer the question directly and briefly."
)


def make_planner(
    model: BaseChatModel,
    tools: Sequence[BaseTool],
    *,
    prompt: str = PLANNER_PROMPT,
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Return a planner node: it asks `model`, with `tools` bound, for the next action.

    Reads: `messages`, and `context` when present (what memory recalled; shown after the system prompt).
    Writes: `messages` (the model's reply: tool calls or an answer) and `answer` (the
    reply's text when it calls no tool, else None).

    Args:
        model: any chat model that supports `bind_tools` (with no tools, it is used as is).
        tools: the tools the model may call.
        prompt: the system prompt put before the conversation.
    """
    bound = model.bind_tools(list(tools)) if tools else model
    system = SystemMessage(prompt)

    def planner(state: dict[str, Any]) -> dict[str, Any]:
        context = state.get("context")
        recalled = "\n".join(f"- {item}" for item in context or [])
        head = SystemMessage(f"{prompt}\n\nWhat memory recalls:\n{recalled}") if context else system
        reply = distinct_call_ids(bound.invoke([head, *state["messages"]]))  # one answer per call, by id
        answer = None if reply.tool_calls else reply.text.strip()
        return {"messages": [reply], "answer": answer}

    return planner


PLANNER_WRITES = frozenset({"messages", "answer"})
"""The state keys a planner node writes."""
