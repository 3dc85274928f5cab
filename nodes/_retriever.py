"""The retriever node: puts what long-term memory knows about the question into the state, within a token budget.

It reads the question, asks the vector memory (passages most like the question, above a relevance threshold)
and/or the knowledge graph (facts around the entities the question names), and writes the best of them to
`context` until the budget is spent. Facts come first: they are short and name the answer's entities; passages
fill the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import CallbackManager
from langchain_core.documents import Document
from langchain_core.runnables import ensure_config

from ..errors import GraphSetupError
from ._messages import question_of

if TYPE_CHECKING:
    from ..memory import KnowledgeGraph, VectorMemory

RETRIEVER_WRITES = frozenset({"context"})
"""The state keys a retriever node writes."""

_TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class RetrieverOptions:
    """What a retriever looks for and how much of it it keeps."""

    k: int = 4
    """Passages asked of the vector memory."""
    score_threshold: float | None = 0.2
    """Passages less similar than this (cosine, 0..1) are dropped; None keeps all `k`."""
    filter: dict[str, Any] | None = None
    """A Chroma `where` filter on passage metadata, e.g. `{"kind": "doc"}`."""
    hops: int = 2
    """How far from the question's entities facts are taken (2 answers "the country of X's birthplace")."""
    max_facts: int = 12
    """Facts asked of the knowledge graph."""
    token_budget: int = 512
    """Most tokens (by `count_tokens`) of context written; items that do not fit are left out."""


def approx_tokens(text: str) -> int:
    """Count words and punctuation marks: a cheap stand-in for a tokenizer (subword models give ~1-1.5x more).

    Example:
        >>> approx_tokens("Marie Curie was born in Warsaw.")
        7
    """
    return len(_TOKEN.findall(text))


def make_retriever(
    memory: VectorMemory | None = None,
    graph: KnowledgeGraph | None = None,
    *,
    options: RetrieverOptions = RetrieverOptions(),
    count_tokens: Callable[[str], int] = approx_tokens,
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Return a retriever node over vector memory, a knowledge graph, or both.

    Reads: `messages` (the last human question). Writes: `context`, a list of strings, best first: facts as
    `subject relation object`, passages as `[source] text`. Their total `count_tokens` is at most
    `options.token_budget`; an empty question gives an empty list.

    Args:
        memory: vector memory to search (see `graphwright.memory.open_vector_memory`).
        graph: a knowledge graph to ask (see `graphwright.memory.KnowledgeGraph`).
        options: how many results, the threshold, the budget.
        count_tokens: how tokens are counted (pass the chat model's tokenizer length for an exact budget).

    Raises:
        GraphSetupError: neither `memory` nor `graph` is given, or an option is out of range.
    """
    if memory is None and graph is None:
        raise GraphSetupError("a retriever needs vector memory, a knowledge graph, or both")
    if options.k < 1 or options.hops < 1 or options.max_facts < 0 or options.token_budget < 1:
        raise GraphSetupError(f"retriever options out of range: {options}")

    def retriever(state: dict[str, Any]) -> dict[str, Any]:
        question = question_of(state["messages"]).strip()
        if not question:
            return {"context": []}
        # A retrieval run in LangChain's callbacks (those of the node running now), so tracers see it.
        config = ensure_config()
        manager = CallbackManager.configure(config.get("callbacks"), inheritable_metadata=config.get("metadata"))
        run = manager.on_retriever_start({"name": "memory"}, question, name="memory")
        try:
            candidates: list[str] = []
            if graph is not None and options.max_facts:
                facts = graph.about(question, hops=options.hops, limit=options.max_facts)
                candidates += [fact.sentence() for fact in facts]
            if memory is not None:
                hits = memory.recall(question, options.k, filter=options.filter, score_threshold=options.score_threshold)
                candidates += [f"[{doc.metadata.get('source', 'memory')}] {doc.page_content}" for doc, _ in hits]
            context = within_budget(candidates, options.token_budget, count_tokens)
        except BaseException as exc:
            run.on_retriever_error(exc)
            raise
        run.on_retriever_end([Document(text) for text in context])
        return {"context": context}

    return retriever


def within_budget(items: list[str], budget: int, count_tokens: Callable[[str], int] = approx_tokens) -> list[str]:
    """Return the items, in order, that fit in `budget` tokens together (one too big is skipped, not cut).

    Example:
        >>> within_budget(["one two", "three four five six", "seven"], 4)
        ['one two', 'seven']
    """
    kept: list[str] = []
    used = 0
    for item in dict.fromkeys(items):  # drop repeats, keep order
        cost = count_tokens(item)
        if used + cost <= budget:
            kept.append(item)
            used += cost
    return kept
