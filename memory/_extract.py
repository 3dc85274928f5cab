"""Fact extraction: a chat model reads text and returns (subject, relation, object) triples as structured output.

Works with any LangChain `BaseChatModel` that implements `with_structured_output` (the local model does, through
constrained decoding; hosted models do through tool calling). The schema bounds every string so a small model
cannot run on forever inside one.
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from ..errors import MemoryInputError
from ._graph import Fact

EXTRACT_PROMPT = (
    "Extract the facts stated in the user's text as (subject, relation, object) triples. "
    "Use short entity names as they appear in the text, and a short verb phrase as the relation. "
    "Only include facts the text states; return an empty list if it states none."
)


class Triple(BaseModel):
    """One fact stated in the text."""

    subject: str = Field(min_length=1, max_length=80, description="The entity the fact is about.")
    relation: str = Field(min_length=1, max_length=40, description="A short verb phrase, e.g. 'born in'.")
    object: str = Field(min_length=1, max_length=80, description="The other entity or value.")


class Triples(BaseModel):
    """The facts stated in a text."""

    facts: list[Triple] = Field(max_length=16, description="Every fact the text states, at most 16.")


def extract_facts(
    model: BaseChatModel,
    text: str,
    *,
    source: str | None = None,
    confidence: float = 0.8,
    prompt: str = EXTRACT_PROMPT,
) -> list[Fact]:
    """Ask `model` for the facts `text` states and return them as `Fact`s carrying `source` as provenance.

    Args:
        model: a chat model with `with_structured_output`.
        text: the text to read.
        source: where the text came from (kept on every fact).
        confidence: the confidence given to extracted facts (model-extracted facts are less sure than given
            ones).
        prompt: the system instruction.

    Returns:
        The facts, with blank or duplicate triples dropped, in the model's order.

    Raises:
        MemoryInputError: the text is empty.
    """
    if not isinstance(text, str) or not text.strip():
        raise MemoryInputError("cannot extract facts from empty text")
    structured = model.with_structured_output(Triples)
    result = structured.invoke([SystemMessage(prompt), HumanMessage(text)])
    if isinstance(result, dict):  # some models return the parsed JSON rather than the pydantic object
        result = Triples.model_validate(result)
    facts: list[Fact] = []
    seen: set[tuple[str, str, str]] = set()
    for triple in result.facts if result is not None else []:
        parts = (triple.subject.strip(), triple.relation.strip(), triple.object.strip())
        key = tuple(p.casefold() for p in parts)
        if all(parts) and key not in seen:
            seen.add(key)
            facts.append(Fact(*parts, sources=(source,) if source else (), confidence=confidence))
    return facts
