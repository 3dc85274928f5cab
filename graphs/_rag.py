"""The `rag` graph: retrieve, answer with citations, critique, and re-retrieve with a rewritten query.

With `RagOptions(sub_questions=N)` the question is first split into up to N independent sub-questions, and
each is sent to its own `retrieve` task at once (LangGraph `Send`); their passages are merged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AnyMessage, HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Send

from ..nodes import (
    SUB_QUESTION_PROMPT,
    Budget,
    RetrieverOptions,
    Usage,
    add_usage,
    cites_a_source,
    critiques,
    grounded_answer,
    make_cited_responder,
    make_critic,
    make_plan_writer,
    metered,
    question_of,
    spent,
)
from ._parts import Node, check_bounds, default_model, retriever_for, swap_nodes


def merge_context(left: list[str] | None, right: list[str] | None) -> list[str]:
    """Reducer of `context`: append new items, dropping repeats, keeping order.

    Example:
        >>> merge_context(["a", "b"], ["b", "c"])
        ['a', 'b', 'c']
    """
    return list(dict.fromkeys([*(left or []), *(right or [])]))


class RagState(TypedDict):
    """State of the rag graph. Start a run with `{"messages": [("human", question)]}` (one thread per topic:
    retrieved passages accumulate in `context` for the thread)."""

    messages: Annotated[list[AnyMessage], add_messages]
    """The conversation: the question, the answers, critic feedback."""
    context: NotRequired[Annotated[list[str], merge_context]]
    """Retrieved passages and facts, best first per retrieval; parallel retrievals merge here."""
    query: NotRequired[str | None]
    """The rewritten search text, used by retrievals after critic feedback on the current question."""
    sub_question: NotRequired[str]
    """The sub-question one fanned-out retrieval looks up (passed by `Send`, never stored)."""
    plan: NotRequired[list[str]]
    """Sub-questions, when the question is split for fan-out."""
    answer: NotRequired[str | None]
    """The latest answer."""
    citations: NotRequired[list[str]]
    """The context items the answer cites."""
    verdict: NotRequired[Literal["approve", "revise", "give_up"] | None]
    """The critic's verdict on `answer`."""
    score: NotRequired[int]
    """The LLM critic's score, when one is used."""
    usage: NotRequired[Annotated[Usage, add_usage]]
    """Model calls, tokens and node seconds spent on the question."""


@dataclass(frozen=True)
class RagOptions:
    """Bounds and retrieval settings of one rag run (per question)."""

    budget: Budget = Budget(model_calls=6, tokens=8000)
    """What one question may spend; no re-retrieval or revision once it is spent."""
    max_revisions: int = 1
    """Times the critic may send the answer back for another retrieval."""
    require_citation: bool = False
    """The default critic also sends back an answer that cites no source (`cites_a_source`); off by default,
    because a small model asked to add citations tends to repeat the feedback instead of answering."""
    sub_questions: int = 0
    """Split the question into up to this many sub-questions retrieved in parallel (0: do not split)."""
    retriever: RetrieverOptions = RetrieverOptions()
    """What each retrieval looks for and how much it keeps."""


REWRITE_PROMPT = (
    "Write a better search query for the question, using the feedback on the last answer. Reply with the "
    "query alone, a few words."
)


def build_rag(
    model: BaseChatModel | None = None,
    tools: Any = None,
    memory: Any = None,
    *,
    options: RagOptions = RagOptions(),
    nodes: Mapping[str, Node] | None = None,
) -> StateGraph:
    """Build the rag graph: `retrieve` → `answer` (cites sources) → `critic` → end, or `rewrite` → `retrieve`.

    Args:
        model: the chat model; None loads the packaged default model.
        tools: unused (the answer comes from memory); accepted so every builder takes the same arguments.
        memory: a `VectorMemory`, a `KnowledgeGraph`, a pair of them or a retriever node; None gives an empty
            knowledge graph (the graph then answers that it does not know).
        options: budgets, revisions, fan-out and retrieval settings.
        nodes: replacements for nodes by name (`split`, `retrieve`, `answer`, `critic`, `rewrite`); e.g.
            `{"critic": make_llm_critic(model)}` for a model's judgement instead of the deterministic check
            (`grounded_answer`, or `cites_a_source` with `options.require_citation`).

    Returns:
        An uncompiled `StateGraph` over `RagState`.

    Raises:
        GraphSetupError: a bound is out of range, `memory` is of no known kind, an unknown node override.
    """
    model = default_model(model)
    check_bounds(options)
    if options.sub_questions < 0:
        from ..errors import GraphSetupError

        raise GraphSetupError(f"sub_questions must be 0 or more, got {options.sub_questions}")
    if memory is None:
        from ..memory import KnowledgeGraph

        memory = KnowledgeGraph()
    recall = retriever_for(memory, options.retriever)
    assert recall is not None

    def retrieve(state: dict[str, Any]) -> dict[str, Any]:
        """Reads: `sub_question`, `query` (after feedback) or the question. Writes: `context` (merged)."""
        query = (state.get("sub_question") or "").strip()
        if not query and critiques(state["messages"]):
            query = (state.get("query") or "").strip()
        messages = [HumanMessage(query)] if query else state["messages"]
        return {"context": recall({**state, "messages": messages}).get("context", [])}

    rewrite_system = SystemMessage(REWRITE_PROMPT)

    def rewrite(state: dict[str, Any]) -> dict[str, Any]:
        """Reads: `messages`. Writes: `query` (the model's rewritten search text)."""
        feedback = [m.text for m in state["messages"] if isinstance(m, HumanMessage) and m.name == "critic"]
        prompt = f"Question: {question_of(state['messages'])}\nFeedback: {(feedback or [''])[-1].splitlines()[0]}"
        reply = model.invoke([rewrite_system, HumanMessage(prompt)])
        query = " ".join(reply.text.split())[:200] or question_of(state["messages"])
        return {"query": query}

    parts: dict[str, Node] = {
        "retrieve": retrieve,
        "answer": make_cited_responder(model),
        "critic": make_critic(
            cites_a_source if options.require_citation else grounded_answer, max_revisions=options.max_revisions
        ),
        "rewrite": rewrite,
    }
    if options.sub_questions:
        parts = {"split": make_plan_writer(model, max_steps=options.sub_questions, prompt=SUB_QUESTION_PROMPT), **parts}
    parts = swap_nodes(parts, nodes)

    def fan_out(state: RagState) -> list[Send]:
        questions = state.get("plan") or [question_of(state["messages"])]
        return [Send("retrieve", {"messages": state["messages"], "sub_question": q}) for q in questions]

    def after_critic(state: RagState) -> Literal["rewrite", "__end__"]:
        if state.get("verdict") == "revise" and options.budget.allows(spent(state)):
            return "rewrite"
        return END

    graph = StateGraph(RagState)
    for name, node in parts.items():
        graph.add_node(name, metered(node))
    if "split" in parts:
        graph.add_edge(START, "split")
        graph.add_conditional_edges("split", fan_out, ["retrieve"])
    else:
        graph.add_edge(START, "retrieve")
    graph.add_edge("retrieve", "answer")
    graph.add_edge("answer", "critic")
    graph.add_conditional_edges("critic", after_critic, {"rewrite": "rewrite", END: END})
    graph.add_edge("rewrite", "retrieve")
    return graph
