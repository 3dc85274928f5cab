"""The `react` graph on the default model: it calls the calculator, then answers.

Run: python examples/react_calculator.py
"""

from __future__ import annotations

from _show import run_and_show

from graphwright.graphs import ReactOptions, build_react, compile_graph
from graphwright.models import ChatLocal
from graphwright.nodes import Budget

QUESTION = "What is 17 * 23?"
EXPECTED = "391"


def main(model=None) -> dict:
    """Build, compile and run the react graph on `QUESTION`; return the final state."""
    model = model or ChatLocal(max_new_tokens=48)
    graph = compile_graph(build_react(model, options=ReactOptions(budget=Budget(model_calls=3))))
    return run_and_show(graph, QUESTION)


if __name__ == "__main__":
    main()
