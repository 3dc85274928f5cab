"""Budgets: counting the model calls and tokens a run has spent, so graphs can stop before they run away.

Two ways to count, for two kinds of graph. Graphs whose every model call leaves an AI message in `messages`
(assistant, react) count those messages since the question (`spent_in_messages`). Graphs whose nodes also make
calls that leave no message (a plan, a review, a routing choice, a nested agent) wrap those nodes in `metered`:
it counts every chat-model call made while the node runs (nested graphs included) and writes the count to the
state's `usage` key, whose reducer `add_usage` sums it per question.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.outputs import LLMResult
from langchain_core.tracers.context import register_configure_hook

from ._messages import CRITIC, _since_question
from ._retriever import approx_tokens


class Usage(TypedDict):
    """What one question has cost so far: model calls and tokens (prompt and completion)."""

    question: str
    """The id of the question's message (a new question starts the count again)."""
    calls: int
    """Chat-model calls."""
    tokens: int
    """Tokens read and written, from the model's `usage_metadata` (estimated when it reports none)."""


@dataclass(frozen=True)
class Spent:
    """Model calls and tokens spent."""

    calls: int = 0
    """Chat-model calls."""
    tokens: int = 0
    """Prompt plus completion tokens."""

    def within(self, max_calls: int, max_tokens: int) -> bool:
        """Return True while both are under their limits (another call may be made).

        Example:
            >>> Spent(2, 900).within(max_calls=3, max_tokens=1000), Spent(3, 10).within(3, 1000)
            (True, False)
        """
        return self.calls < max_calls and self.tokens < max_tokens


def add_usage(left: Usage | None, right: Usage | None) -> Usage:
    """Reducer of the `usage` key: sum counts for the same question; a new question's count replaces the old.

    Example:
        >>> add_usage({"question": "q1", "calls": 2, "tokens": 50}, {"question": "q1", "calls": 1, "tokens": 9})
        {'question': 'q1', 'calls': 3, 'tokens': 59}
        >>> add_usage({"question": "q1", "calls": 2, "tokens": 50}, {"question": "q2", "calls": 1, "tokens": 9})
        {'question': 'q2', 'calls': 1, 'tokens': 9}
    """
    if not right:
        return left or {"question": "", "calls": 0, "tokens": 0}
    if not left or left.get("question") != right.get("question"):
        return dict(right)  # type: ignore[return-value]
    calls, tokens = left["calls"] + right["calls"], left["tokens"] + right["tokens"]
    return {"question": right["question"], "calls": calls, "tokens": tokens}


def message_tokens(message: AIMessage) -> int:
    """Return the tokens one model reply cost: its `usage_metadata` total, else an estimate from its text."""
    usage = message.usage_metadata
    if usage and usage.get("total_tokens"):
        return int(usage["total_tokens"])
    calls = " ".join(f"{c['name']} {c['args']}" for c in message.tool_calls)
    return approx_tokens(f"{message.text} {calls}")


def spent_in_messages(messages: Sequence[AnyMessage]) -> Spent:
    """Return the calls and tokens of the AI messages since the question (for graphs that keep every reply)."""
    replies = [m for m in _since_question(messages) if isinstance(m, AIMessage)]
    return Spent(len(replies), sum(message_tokens(m) for m in replies))


def spent(state: dict[str, Any]) -> Spent:
    """Return what the current question has cost: the `usage` key if it counts this question, else zero."""
    usage = state.get("usage") or {}
    if usage.get("question") != question_id(state.get("messages") or []):
        return Spent()
    return Spent(int(usage.get("calls", 0)), int(usage.get("tokens", 0)))


def question_id(messages: Sequence[AnyMessage]) -> str:
    """Return the id of the last human message that is not critic feedback ("" if none)."""
    for message in reversed(messages):
        if isinstance(message, HumanMessage) and message.name != CRITIC:
            return message.id or ""
    return ""


class UsageCounter(BaseCallbackHandler):
    """A callback that counts chat-model calls and tokens, and passes them on to an enclosing counter.

    A call reaches a counter at most once, even when it arrives both directly (an inherited callback) and
    through a nested counter.
    """

    def __init__(self, parent: UsageCounter | None = None) -> None:
        self.parent = parent
        self.calls = 0
        self.tokens = 0
        self._seen: set[Any] = set()

    def on_llm_end(self, response: LLMResult, *, run_id: Any = None, **kwargs: Any) -> None:
        """Count one call and its tokens (here and in every enclosing counter)."""
        tokens = 0
        for generations in response.generations:
            for generation in generations:
                message = getattr(generation, "message", None)
                tokens += message_tokens(message) if isinstance(message, AIMessage) else approx_tokens(generation.text)
        counter: UsageCounter | None = self
        while counter is not None:
            if run_id is None or run_id not in counter._seen:
                counter._seen.add(run_id)
                counter.calls += 1
                counter.tokens += tokens
            counter = counter.parent


_COUNTER: contextvars.ContextVar[UsageCounter | None] = contextvars.ContextVar("graphwright_usage", default=None)
register_configure_hook(_COUNTER, inheritable=True)


def metered(node: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Wrap `node` so that its update also carries `usage`: the model calls and tokens spent while it ran.

    Calls made by graphs the node runs inside itself are counted too. The state needs a `usage` key with the
    `add_usage` reducer. A node that takes `(state, config)` keeps taking it.
    """
    takes_config = len(inspect.signature(node).parameters) >= 2

    def run(state: dict[str, Any], config: Any = None) -> dict[str, Any]:
        counter = UsageCounter(parent=_COUNTER.get())
        token = _COUNTER.set(counter)
        try:
            update = node(state, config) if takes_config else node(state)
        finally:
            _COUNTER.reset(token)
        question = question_id(state.get("messages") or [])
        usage: Usage = {"question": question, "calls": counter.calls, "tokens": counter.tokens}
        return {**(update or {}), "usage": usage}

    if takes_config:
        return functools.wraps(node)(lambda state, config: run(state, config))
    return functools.wraps(node)(lambda state: run(state))
