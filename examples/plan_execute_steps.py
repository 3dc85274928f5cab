"""The `plan_execute` graph on the default model: it writes a short plan and does each step with the calculator.

Run: python examples/plan_execute_steps.py
"""

from __future__ import annotations

from _show import run_and_show

from graphwright.graphs import PlanExecuteOptions, build_plan_execute, compile_graph
from graphwright.models import ChatLocal

QUESTION = "What is 12 * 7?"
EXPECTED = "84"


def main(model=None) -> dict:
    """Build, compile and run the plan_execute graph on `QUESTION`; return the final state."""
    model = model or ChatLocal(max_new_tokens=48)
    graph = compile_graph(build_plan_execute(model, options=PlanExecuteOptions(max_steps=2, max_replans=0)))
    return run_and_show(graph, QUESTION)


if __name__ == "__main__":
    main()
