"""The LLM critic: the model scores a draft against the question and the evidence, and says what is wrong.

The review is structured output (`ChatLocal` decodes it under a JSON grammar): a score from 1 to 5 and one
short sentence. A score below the threshold sends the draft back with that sentence as feedback, at most
`max_revisions` times per question; then the critic gives up. A review that cannot be read approves nothing:
it counts as a revision request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from ..errors import GraphSetupError
from ._messages import CRITIC, critiques, question_of, tool_evidence

JUDGE_PROMPT = (
    "You check answers. Score how well the answer answers the question and agrees with the evidence: "
    "5 correct and supported, 3 partly, 1 wrong or unsupported. Say in one short sentence what to fix."
)
"""The LLM critic's default instruction."""

LLM_CRITIC_WRITES = frozenset({"messages", "verdict", "score"})
"""The state keys an LLM critic node writes."""

REVIEW_SCHEMA: dict[str, Any] = {
    "title": "review",
    "description": "A score from 1 (wrong) to 5 (correct and supported) and what to fix.",
    "type": "object",
    "properties": {
        "score": {"type": "integer", "enum": [1, 2, 3, 4, 5]},
        "problem": {"type": "string", "maxLength": 160},
    },
    "required": ["score", "problem"],
    "additionalProperties": False,
}
"""The JSON schema of a review."""


def make_llm_critic(
    model: BaseChatModel,
    *,
    max_revisions: int = 1,
    min_score: int = 4,
    prompt: str = JUDGE_PROMPT,
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Return a critic node that asks `model` to score the draft answer against the question and evidence.

    Reads: `messages` (the question, tool results, earlier feedback), `answer`, optionally `context`
    (retrieved passages). Writes: `score` (1-5, 0 when the review could not be read), `verdict` ("approve",
    "revise" or "give_up") and, on "revise", a feedback message to `messages` (a human message named
    "critic", as `make_critic` writes).

    Args:
        model: a chat model with `with_structured_output`.
        max_revisions: times per question the draft may be sent back before the critic gives up.
        min_score: the lowest score approved.
        prompt: the instruction.

    Raises:
        GraphSetupError: `min_score` is not 1-5 or `max_revisions` is negative.
    """
    if not 1 <= min_score <= 5 or max_revisions < 0:
        raise GraphSetupError(f"min_score must be 1-5 and max_revisions >= 0, got {min_score}, {max_revisions}")
    reviewer = model.with_structured_output(REVIEW_SCHEMA)
    system = SystemMessage(prompt)

    def llm_critic(state: dict[str, Any]) -> dict[str, Any]:
        messages = state["messages"]
        answer = (state.get("answer") or "").strip()
        evidence = [*tool_evidence(messages), *(state.get("context") or [])]
        lines = "\n".join(f"- {line}" for line in evidence) or "- (none)"
        shown = answer or "(empty)"
        request = HumanMessage(f"Question: {question_of(messages)}\n\nEvidence:\n{lines}\n\nAnswer: {shown}")
        score, problem = 0, "The review could not be read. Answer again, briefly and from the evidence."
        if answer:
            try:
                raw = reviewer.invoke([system, request])
                value = raw if isinstance(raw, dict) else raw.model_dump() if raw is not None else {}
                score, problem = int(value["score"]), str(value.get("problem") or "").strip() or problem
            except (OutputParserException, ValueError, KeyError, TypeError):
                pass
        else:
            problem = "The answer was empty. Answer the question."
        if score >= min_score:
            return {"score": score, "verdict": "approve"}
        if critiques(messages) >= max_revisions:
            return {"score": score, "verdict": "give_up"}
        feedback = HumanMessage(f"{problem}\nQuestion: {question_of(messages)}", name=CRITIC)
        return {"score": score, "verdict": "revise", "messages": [feedback]}

    return llm_critic
