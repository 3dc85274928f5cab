"""graphwright: multi-step LLM agents as LangGraph state graphs, on a Transformers model in this process.

The public names load lazily, so `import graphwright` (and the CLI) start fast: torch and transformers are
imported only when a model is built.

Example:
    >>> import graphwright
    >>> graphwright.check_thread_id("demo-1")
    'demo-1'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "AssistantOptions": "graphwright.graphs",
    "AssistantState": "graphwright.graphs",
    "ChatLocal": "graphwright.models",
    "CheckpointerError": "graphwright._errors",
    "ContextLengthError": "graphwright._errors",
    "GraphNotFoundError": "graphwright._errors",
    "GraphRunError": "graphwright._errors",
    "GraphSetupError": "graphwright._errors",
    "GraphwrightError": "graphwright._errors",
    "InvalidThreadIdError": "graphwright._errors",
    "ModelLoadError": "graphwright._errors",
    "ModelNotFoundError": "graphwright._errors",
    "ThreadStateError": "graphwright._errors",
    "build_assistant": "graphwright.graphs",
    "calculator": "graphwright.tools",
    "check_thread_id": "graphwright.graphs",
    "compile_graph": "graphwright.graphs",
    "load_graph": "graphwright.graphs",
    "open_checkpointer": "graphwright.memory",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from ._errors import (
        CheckpointerError,
        ContextLengthError,
        GraphNotFoundError,
        GraphRunError,
        GraphSetupError,
        GraphwrightError,
        InvalidThreadIdError,
        ModelLoadError,
        ModelNotFoundError,
        ThreadStateError,
    )
    from .graphs import AssistantOptions, AssistantState, build_assistant, check_thread_id, compile_graph, load_graph
    from .memory import open_checkpointer
    from .models import ChatLocal
    from .tools import calculator


def __getattr__(name: str) -> Any:
    """Import the module that defines public name `name` on first use and return the name."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'graphwright' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
