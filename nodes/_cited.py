"""The citing responder: answers from retrieved passages and tool results, citing passages as [1], [2], ...

It lists the state's `context` items numbered, asks the model for a short answer that cites them, and records
which items the answer cited. `cites_a_source` is the deterministic check that goes with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AnyMessage, HumanMessage, SystemMessage

from ._critic import grounded_answer
from ._messages import critiques, question_of, tool_evidence

CITED_PROMPT = (
    "Answer the question from the numbered sources. Reply in one short sentence and cite the sources you "
    "used like [1]. If the sources do not say, reply that you do not know."
)
"""The citing responder's default instruction."""

CITED_RESPONDER_WRITES = frozenset({"messages", "answer", "citations"})
"""The state keys a citing responder writes."""

_CITE = re.compile(r"\[(\d{1,3})\]")


def cited(answer: str, context: Sequence[str]) -> list[str]:
    """Return the `context` items `answer` cites as `[n]` (1-based), in order of first citation.

    Example:
        >>> cited("Paris [2], as [2] and [9] say.", ["a", "Paris is in France"])
        ['Paris is in France']
    """
    numbers = dict.fromkeys(int(n) for n in _CITE.findall(answer))
    return [context[n - 1] for n in numbers if 1 <= n <= len(context)]


def cites_a_source(answer: str, messages: Sequence[AnyMessage]) -> str | None:
    """A critic check: `grounded_answer`, and the answer cites at least one numbered source as `[n]`."""
    problem = grounded_answer(answer, messages)
    if problem is None and not _CITE.search(answer):
        return "The answer cites no source. Answer from the sources and cite them like [1]."
    return problem


def make_cited_responder(
    model: BaseChatModel, *, prompt: str = CITED_PROMPT
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Return a responder node that answers from `context` and tool results, citing context items.

    The prompt is built fresh from the state (as `make_responder` does): the question, the numbered sources,
    the tool results and the critic's latest feedback, so the conversation itself is not changed.

    Reads: `messages`, `context` (a list of strings, e.g. from a retriever). Writes: `messages` (the answer
    as an AI message), `answer`, and `citations` (the context items the answer cites).

    Example:
        >>> from langchain_core.language_models import FakeListChatModel
        >>> node = make_cited_responder(FakeListChatModel(responses=["It is Paris [1]."]))
        >>> update = node({"messages": [HumanMessage("Capital of France?")], "context": ["Paris is the capital."]})
        >>> update["answer"], update["citations"]
        ('It is Paris [1].', ['Paris is the capital.'])
    """
    system = SystemMessage(prompt)

    def cited_responder(state: dict[str, Any]) -> dict[str, Any]:
        messages = state["messages"]
        context = list(state.get("context") or [])
        parts = [f"Question: {question_of(messages)}"]
        parts.append("Sources:\n" + ("\n".join(f"[{i}] {item}" for i, item in enumerate(context, 1)) or "(none)"))
        evidence = tool_evidence(messages)
        if evidence:
            parts.append("Tool results:\n" + "\n".join(f"- {line}" for line in evidence))
        if critiques(messages):
            feedback = [m for m in messages if isinstance(m, HumanMessage) and m.name == "critic"][-1]
            parts.append(f"Fix this in your answer: {feedback.text.splitlines()[0]}")
        reply = model.invoke([system, HumanMessage("\n\n".join(parts))])
        text = reply.text.strip()
        return {"messages": [reply], "answer": text, "citations": cited(text, context)}

    return cited_responder
