"""Declaring, compiling and running agent graphs; the prebuilt agents."""

from ._assistant import AssistantOptions, AssistantState, build_assistant
from ._compile import compile_graph
from ._registry import BUILTIN_GRAPHS, DEFAULT_GRAPH, load_graph
from ._threads import check_thread_id, new_thread_id, thread_config

__all__ = [
    "AssistantOptions",
    "AssistantState",
    "BUILTIN_GRAPHS",
    "DEFAULT_GRAPH",
    "build_assistant",
    "check_thread_id",
    "compile_graph",
    "load_graph",
    "new_thread_id",
    "thread_config",
]
