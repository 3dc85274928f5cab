"""The `assistant` graph on the default model with a knowledge graph as memory: the retriever recalls facts
two hops from the question's entities, and the planner answers from them (or calls the calculator).

Run: python examples/assistant_memory.py
"""

from __future__ import annotations

from _show import run_and_show

from graphwright.graphs import AssistantOptions, build_assistant, compile_graph
from graphwright.memory import KnowledgeGraph
from graphwright.models import ChatLocal
from graphwright.nodes import Budget
from graphwright.tools import calculator

QUESTION = "Who created the language NetworkX is written in?"
EXPECTED = "Guido"


def main(model=None) -> dict:
    """Build a small knowledge graph, then build, compile and run the assistant on `QUESTION`."""
    model = model or ChatLocal(max_new_tokens=48)
    memory = KnowledgeGraph()
    memory.add("NetworkX", "written in", "Python", source="networkx METADATA")
    memory.add("Python", "created by", "Guido van Rossum", source="python.org")
    # With tools the planner answers from what memory recalled (or calls them); without, it would write programs,
    # which suit computation more than recalling facts.
    options = AssistantOptions(budget=Budget(model_calls=3), max_revisions=1)
    graph = compile_graph(build_assistant(model, [calculator], memory=memory, options=options))
    return run_and_show(graph, QUESTION)


if __name__ == "__main__":
    main()
