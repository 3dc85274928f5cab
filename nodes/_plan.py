"""The plan writer: the model breaks the question into a few short steps (or independent sub-questions).

The plan is decoded as structured output (`model.with_structured_output`; `ChatLocal` decodes it under a JSON
grammar, so it always parses). A reply that still does not parse gives a one-step plan: the question itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from ..errors import GraphSetupError
from ._messages import question_of

PLAN_PROMPT = (
    "Break the question into the fewest short steps that answer it, in order. Each step is one action, such "
    "as one calculation. Do not answer the question."
)
"""The plan writer's default instruction."""

SUB_QUESTION_PROMPT = (
    "Split the question into a few short, independent questions that can be looked up separately. If it "
    "asks one thing, give it back as the only question."
)
"""An instruction for fan-out: independent sub-questions instead of ordered steps."""

PLAN_WRITES = frozenset({"plan"})
"""The state keys a plan writer writes."""

STEP_LENGTH = 120  # characters per step: small models pad unbounded strings


def plan_schema(max_steps: int) -> dict[str, Any]:
    """Return the JSON schema of a plan of 1 to `max_steps` short steps.

    Example:
        >>> plan_schema(3)["properties"]["steps"]["maxItems"]
        3
    """
    return {
        "title": "plan",
        "description": "The steps, in order.",
        "type": "object",
        "properties": {
            "steps": {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": STEP_LENGTH},
                "minItems": 1,
                "maxItems": max_steps,
            }
        },
        "required": ["steps"],
        "additionalProperties": False,
    }


def make_plan_writer(
    model: BaseChatModel,
    *,
    max_steps: int = 4,
    prompt: str = PLAN_PROMPT,
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Return a node that writes a plan for the question: a list of at most `max_steps` short steps.

    When the state says a step failed (`failure`) or lists results so far (`context`), they are shown to the
    model, so the same node re-plans the rest of the work.

    Reads: `messages` (the question), optionally `context` and `failure`. Writes: `plan` (a list of strings).

    Args:
        model: a chat model with `with_structured_output`.
        max_steps: the most steps a plan may have.
        prompt: the instruction (`SUB_QUESTION_PROMPT` for independent sub-questions).

    Raises:
        GraphSetupError: `max_steps` is not positive.
    """
    if max_steps < 1:
        raise GraphSetupError(f"max_steps must be positive, got {max_steps}")
    planner = model.with_structured_output(plan_schema(max_steps))
    system = SystemMessage(prompt)

    def plan_writer(state: dict[str, Any]) -> dict[str, Any]:
        question = question_of(state["messages"])
        parts = [f"Question: {question}"]
        if state.get("context"):
            parts.append("Done so far:\n" + "\n".join(f"- {line}" for line in state["context"]))
        if state.get("failure"):
            parts.append(f"This step failed: {state['failure']}\nPlan the remaining steps another way.")
        try:
            raw = planner.invoke([system, HumanMessage("\n\n".join(parts))])
        except (OutputParserException, ValueError):
            return {"plan": [question]}
        value = raw if isinstance(raw, dict) else getattr(raw, "model_dump", lambda: {})()
        steps = [str(step).strip() for step in (value or {}).get("steps", []) if str(step).strip()]
        return {"plan": steps[:max_steps] or [question]}

    return plan_writer
