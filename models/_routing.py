"""Routing under the graph: the model picks the next node among the legal ones, decoded under an enum.

The legal successors come from the graph itself (its conditional edges' declared destinations and its fixed
edges), not from a list typed by hand, so the model can never route to a node that does not follow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AnyMessage, HumanMessage, SystemMessage
from langgraph.graph import END, StateGraph
from pydantic import BaseModel

from ..errors import GraphSetupError

_END_LABEL = "finish"  # what the model sees for END; "__end__" reads like noise to a small model
REASON_LENGTH = 160


class RouteChoice(BaseModel):
    """The model's routing decision: the next node and a short reason."""

    next: str
    reason: str = ""


def legal_successors(graph: Any, node: str) -> list[str]:
    """Return the nodes that may follow `node` in `graph` (a `StateGraph` or a compiled graph), in order.

    Conditional edges contribute their declared destinations (declare them, or this cannot know them);
    fixed edges contribute their target. `END` appears as `"__end__"`.

    Raises:
        GraphSetupError: `node` is not in the graph, or its conditional edges declare no destinations.

    Example:
        >>> from graphwright.graphs import load_graph
        >>> legal_successors(load_graph("assistant"), "planner")
        ['tools', 'critic', '__end__']
    """
    builder: StateGraph = getattr(graph, "builder", graph)
    if node not in builder.nodes:
        raise GraphSetupError(f"graph has no node {node!r}; nodes: {', '.join(builder.nodes)}")
    found: list[str] = []
    for name, branch in builder.branches.get(node, {}).items():
        if not branch.ends:
            raise GraphSetupError(f"conditional edge {name!r} from {node!r} declares no destinations")
        found.extend(branch.ends.values())
    found.extend(target for source, target in sorted(builder.edges) if source == node)
    return list(dict.fromkeys(found))


def choose_route(
    model: BaseChatModel,
    messages: Sequence[AnyMessage],
    options: Sequence[str],
    *,
    instruction: str = "Decide which step comes next.",
    descriptions: dict[str, str] | None = None,
) -> RouteChoice:
    """Ask `model` to pick one of `options` for the conversation `messages`; return its choice and reason.

    With `ChatLocal` the reply is decoded under an enum grammar, so `next` is always one of `options`
    (`"__end__"` is shown to the model as "finish" and mapped back). Other chat models go through their
    own `with_structured_output`; an answer outside `options` raises.

    Raises:
        GraphSetupError: `options` is empty.
        ValueError: the model chose something outside `options`.
    """
    if not options:
        raise GraphSetupError("choose_route needs at least one option")
    labels = {(_END_LABEL if o == END else o): o for o in options}
    lines = [f"- {label}: {(descriptions or {}).get(node, '')}".rstrip(": ") for label, node in labels.items()]
    schema = {
        "title": "route",
        "description": "The next step and why.",
        "type": "object",
        "properties": {
            "next": {"type": "string", "enum": list(labels)},
            "reason": {"type": "string", "maxLength": REASON_LENGTH},
        },
        "required": ["next", "reason"],
        "additionalProperties": False,
    }
    prompt = [
        SystemMessage(f"{instruction}\nThe possible next steps are:\n" + "\n".join(lines)),
        *messages,
        HumanMessage("Which step comes next? Answer with the step and a short reason."),
    ]
    raw = model.with_structured_output(schema).invoke(prompt)
    choice = raw if isinstance(raw, dict) else raw.model_dump()
    if choice.get("next") not in labels:
        raise ValueError(f"model chose {choice.get('next')!r}, not one of {list(labels)}")
    return RouteChoice(next=labels[choice["next"]], reason=str(choice.get("reason", "")))


def model_router(
    model: BaseChatModel,
    options: Sequence[str],
    *,
    instruction: str = "Decide which step comes next.",
) -> Callable[[dict[str, Any]], str]:
    """Return a routing function for `add_conditional_edges` that lets `model` choose among `options`.

    Pass the same `options` as the edge's destinations (for example `legal_successors(graph, node)` of a
    draft graph), so the diagram and the model's choices agree. The function reads `messages`.
    """
    chosen = list(options)

    def route(state: dict[str, Any]) -> str:
        return choose_route(model, state["messages"], chosen, instruction=instruction).next

    return route
