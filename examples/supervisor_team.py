"""The `supervisor` graph on the default model: the router picks a sub-agent (a compiled react graph with the
calculator, or one without tools), which answers; the supervisor merges.

Run: python examples/supervisor_team.py
"""

from __future__ import annotations

from _show import run_and_show

from graphwright.graphs import SupervisorOptions, build_supervisor, compile_graph
from graphwright.models import ChatLocal

QUESTION = "What is 25 * 4?"
EXPECTED = "100"


def main(model=None) -> dict:
    """Build, compile and run the supervisor graph on `QUESTION`; return the final state."""
    model = model or ChatLocal(max_new_tokens=48)
    graph = compile_graph(build_supervisor(model, options=SupervisorOptions(max_delegations=1)))
    return run_and_show(graph, QUESTION)


if __name__ == "__main__":
    main()
