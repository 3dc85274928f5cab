"""Budgets: what one question may spend, and counting what it has spent, so graphs stop before they run away.

One way to count, for every prebuilt graph: each node is wrapped in `metered`, which counts the chat-model calls
made while the node runs (nested graphs included, and calls that leave no message: a plan, a review, a routing
choice) and the seconds it ran, and writes them to the state's `usage` key, whose reducer `add_usage` sums them
per question. The graph's routers ask `budget.allows(spent(state))` before starting more work.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.outputs import LLMResult
from langchain_core.tracers.context import register_configure_hook

from ._messages import CRITIC
from ._retriever import approx_tokens


class Usage(TypedDict):
    """What one question has cost so far: model calls, tokens (prompt and completion) and node seconds."""

    question: str
    """The id of the question's message (a new question starts the count again)."""
    calls: int
    """Chat-model calls."""
    tokens: int
    """Tokens read and written, from the model's `usage_metadata` (estimated when it reports none)."""
    seconds: float
    """Seconds the graph's nodes ran on the question, summed over nodes (parallel branches add up; time waiting
    at an interrupt for a human does not count)."""


@dataclass(frozen=True)
class Budget:
    """What one question may spend; a graph starts no new model work once any bound is reached.

    Each prebuilt graph's options hold its own default `budget`; a `Budget` you pass replaces it whole, so the
    fields you leave out take the defaults below (`dataclasses.replace(options.budget, ...)` keeps the graph's).
    """

    model_calls: int = 8
    """Chat-model calls per question, nested agents' included (a small model can loop)."""
    tokens: int = 12_000
    """Prompt plus completion tokens per question (from the model's usage reports, estimated without them)."""
    seconds: float | None = None
    """Seconds the graph's nodes may run per question; None: no bound beyond what calls and tokens imply
    (each call of `ChatLocal` has its own `timeout`)."""

    def allows(self, spent: Mapping[str, Any]) -> bool:
        """Return True while `spent` (a `Usage`, see `spent`) is under every bound: more work may start.

        Example:
            >>> budget = Budget(model_calls=3, tokens=1000)
            >>> budget.allows({"calls": 2, "tokens": 900}), budget.allows({"calls": 3, "tokens": 10})
            (True, False)
            >>> Budget(seconds=1.5).allows({"calls": 1, "tokens": 10, "seconds": 2.0})
            False
        """
        if spent.get("calls", 0) >= self.model_calls or spent.get("tokens", 0) >= self.tokens:
            return False
        return self.seconds is None or spent.get("seconds", 0.0) < self.seconds


def add_usage(left: Usage | None, right: Usage | None) -> Usage:
    """Reducer of the `usage` key: sum counts for the same question; a new question's count replaces the old.

    Example:
        >>> add_usage({"question": "q1", "calls": 2, "tokens": 50, "seconds": 1.0}, {"question": "q1", "calls": 1, "tokens": 9, "seconds": 0.5})
        {'question': 'q1', 'calls': 3, 'tokens': 59, 'seconds': 1.5}
        >>> add_usage({"question": "q1", "calls": 2, "tokens": 50, "seconds": 1.0}, {"question": "q2", "calls": 1, "tokens": 9, "seconds": 0.5})
        {'question': 'q2', 'calls': 1, 'tokens': 9, 'seconds': 0.5}
    """
    if not right:
        return left or _NOTHING
    if not left or left.get("question") != right.get("question"):
        return {**_NOTHING, **right}
    return {
        "question": right["question"],
        "calls": left.get("calls", 0) + right.get("calls", 0),
        "tokens": left.get("tokens", 0) + right.get("tokens", 0),
        "seconds": left.get("seconds", 0.0) + right.get("seconds", 0.0),
    }


_NOTHING: Usage = {"question": "", "calls": 0, "tokens": 0, "seconds": 0.0}


def message_tokens(message: AIMessage) -> int:
    """Return the tokens one model reply cost: its `usage_metadata` total, else an estimate from its text."""
    usage = message.usage_metadata
    if usage and usage.get("total_tokens"):
        return int(usage["total_tokens"])
    calls = " ".join(f"{c['name']} {c['args']}" for c in message.tool_calls)
    return approx_tokens(f"{message.text} {calls}")


def spent(state: Mapping[str, Any]) -> Usage:
    """Return what the current question has cost: the `usage` key if it counts this question, else zero."""
    usage = state.get("usage") or {}
    question = question_id(state.get("messages") or [])
    if usage.get("question") != question:
        return {**_NOTHING, "question": question}
    return {**_NOTHING, **usage}


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

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        """Nothing: only the end of a call is counted. Defined so that LangChain does not render the whole
        conversation to text for `on_llm_start` at every call (a cost that grows with the run's length)."""

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


def metered(node: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap `node` so that its update also carries `usage`: the model calls, tokens and seconds it spent.

    Calls made by graphs the node runs inside itself are counted too; their seconds are part of the node's.
    The state needs a `usage` key with the `add_usage` reducer. A node that takes `(state, config)` keeps
    taking it, and an async node stays async.
    """
    takes_config = len(inspect.signature(node).parameters) >= 2

    def usage_of(state: dict[str, Any], counter: UsageCounter, started: float) -> Usage:
        question = question_id(state.get("messages") or [])
        seconds = time.perf_counter() - started
        return {"question": question, "calls": counter.calls, "tokens": counter.tokens, "seconds": seconds}

    if inspect.iscoroutinefunction(node):

        async def run_async(state: dict[str, Any], config: Any = None) -> dict[str, Any]:
            counter, started = UsageCounter(parent=_COUNTER.get()), time.perf_counter()
            token = _COUNTER.set(counter)
            try:
                update = await (node(state, config) if takes_config else node(state))
            finally:
                _COUNTER.reset(token)
            return {**(update or {}), "usage": usage_of(state, counter, started)}

        if takes_config:

            async def async_with_config(state: dict[str, Any], config: Any) -> dict[str, Any]:
                return await run_async(state, config)

            return functools.wraps(node)(async_with_config)

        async def async_state_only(state: dict[str, Any]) -> dict[str, Any]:
            return await run_async(state)

        return functools.wraps(node)(async_state_only)

    def run(state: dict[str, Any], config: Any = None) -> dict[str, Any]:
        counter, started = UsageCounter(parent=_COUNTER.get()), time.perf_counter()
        token = _COUNTER.set(counter)
        try:
            update = node(state, config) if takes_config else node(state)
        finally:
            _COUNTER.reset(token)
        return {**(update or {}), "usage": usage_of(state, counter, started)}

    if takes_config:
        return functools.wraps(node)(lambda state, config: run(state, config))
    return functools.wraps(node)(lambda state: run(state))
