"""The memory-writer node: after the critic approves an answer, it keeps what the run learned.

Only an approved answer is remembered (a revised or abandoned draft may be wrong). The run's outcome goes to
vector memory as one "episode" passage (question and answer; its id is a hash of both, so running the same
question to the same answer again stores nothing new), and facts go to the knowledge graph: the ones the state
lists under `facts`, plus the ones an extractor model reads out of the answer.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig

from ..errors import GraphSetupError
from ._messages import question_of

if TYPE_CHECKING:
    from ..memory import KnowledgeGraph, VectorMemory

MEMORY_WRITER_WRITES = frozenset({"remembered"})
"""The state keys a memory-writer node writes."""

EPISODE = "episode"
"""The `kind` metadata of the passages a memory writer stores (filter on it to recall past runs)."""


def make_memory_writer(
    memory: VectorMemory | None = None,
    graph: KnowledgeGraph | None = None,
    *,
    extractor: BaseChatModel | None = None,
    graph_path: str | os.PathLike[str] | None = None,
) -> Callable[[dict[str, Any], RunnableConfig], dict[str, Any]]:
    """Return a node that stores an approved run's outcome and facts.

    Reads: `verdict` (only "approve" writes anything), `messages` (the question), `answer`, and optionally
    `facts` (a list of `Fact`s or `{"subject", "relation", "object"}` dicts the run learned). Writes:
    `remembered`, what was stored: the episode's id and each fact as a sentence (an empty list when the
    verdict is not "approve").

    Args:
        memory: vector memory for the episode passage (metadata: `kind="episode"`, `source`, `thread_id`).
        graph: a knowledge graph for the facts.
        extractor: a chat model with structured output that reads facts out of the question and answer.
        graph_path: where to save `graph` after each write (atomically); None keeps it in memory.

    Raises:
        GraphSetupError: neither `memory` nor `graph` is given, or `extractor`/`graph_path` without a `graph`.
    """
    from ..memory import Fact, extract_facts

    if memory is None and graph is None:
        raise GraphSetupError("a memory writer needs vector memory, a knowledge graph, or both")
    if graph is None and (extractor is not None or graph_path is not None):
        raise GraphSetupError("an extractor or graph_path needs a knowledge graph to write to")

    def memory_writer(state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        answer = (state.get("answer") or "").strip()
        if state.get("verdict") != "approve" or not answer:
            return {"remembered": []}
        question = question_of(state["messages"]).strip()
        thread = str((config.get("configurable") or {}).get("thread_id") or "")
        source = f"thread:{thread}" if thread else "run"
        remembered: list[str] = []
        if memory is not None:
            episode_id = hashlib.sha256(f"{question}\x1f{answer}".encode()).hexdigest()[:32]
            text = f"Question: {question}\nAnswer: {answer}" if question else answer
            memory.add_texts([text], metadatas=[{"kind": EPISODE, "source": source, "thread_id": thread}], ids=[episode_id])
            remembered.append(episode_id)
        if graph is not None:
            facts = [f if isinstance(f, Fact) else Fact(f.get("subject", ""), f.get("relation", ""), f.get("object", ""), (source,)) for f in state.get("facts") or []]
            if extractor is not None:
                facts += extract_facts(extractor, f"{question}\n{answer}", source=source)
            remembered += [fact.sentence() for fact in graph.add_facts(facts)]
            if graph_path is not None and facts:
                graph.save(graph_path)
        return {"remembered": remembered}

    return memory_writer
