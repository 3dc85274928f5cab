"""Printing a run's steps for the examples: one line per tool call, tool result, answer and verdict."""

from __future__ import annotations

from typing import Any

from graphwright.cli import describe_update


def run_and_show(graph: Any, question: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Stream `graph` on `question`, print each node's update as `[node] ...`, then the answer; return the state."""
    print(f"question: {question}")
    state: dict[str, Any] = {}
    for chunk in graph.stream({"messages": [("human", question)]}, config, stream_mode=["updates", "values"]):
        mode, payload = chunk
        if mode == "values":
            state = payload
            continue
        for node, update in payload.items():
            for line in describe_update(node, update or {}):
                if line != "(no change)":
                    print(f"[{node}] {line}")
            for key in ("plan", "context", "route", "citations"):
                if isinstance(update, dict) and update.get(key):
                    print(f"[{node}] {key}: {update[key]}")
    print(f"answer: {state.get('answer') or '(no answer)'}")
    return state
