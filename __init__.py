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
    "ApiKeyAuth": "graphwright.service",
    "AssistantOptions": "graphwright.graphs",
    "AssistantState": "graphwright.graphs",
    "BatchingOptions": "graphwright.models",
    "Budget": "graphwright.nodes",
    "ChatLocal": "graphwright.models",
    "CheckpointerError": "graphwright.errors",
    "ChromaStore": "graphwright.memory",
    "ContextLengthError": "graphwright.errors",
    "GraphNotFoundError": "graphwright.errors",
    "GraphSetupError": "graphwright.errors",
    "GraphwrightError": "graphwright.errors",
    "InvalidThreadIdError": "graphwright.errors",
    "KnowledgeGraph": "graphwright.memory",
    "ModelLoadError": "graphwright.errors",
    "ModelNotFoundError": "graphwright.errors",
    "ServiceOptions": "graphwright.service",
    "ThreadStateError": "graphwright.errors",
    "ToolPolicy": "graphwright.tools",
    "VectorMemory": "graphwright.memory",
    "build_assistant": "graphwright.graphs",
    "build_plan_execute": "graphwright.graphs",
    "build_rag": "graphwright.graphs",
    "build_react": "graphwright.graphs",
    "build_supervisor": "graphwright.graphs",
    "calculator": "graphwright.tools",
    "check_thread_id": "graphwright.graphs",
    "compile_graph": "graphwright.graphs",
    "create_app": "graphwright.service",
    "load_graph": "graphwright.graphs",
    "make_executor": "graphwright.nodes",
    "open_checkpointer": "graphwright.memory",
    "open_vector_memory": "graphwright.memory",
    "register_tool": "graphwright.tools",
    "thread_config": "graphwright.graphs",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from .errors import (
        CheckpointerError,
        ContextLengthError,
        GraphNotFoundError,
        GraphSetupError,
        GraphwrightError,
        InvalidThreadIdError,
        ModelLoadError,
        ModelNotFoundError,
        ThreadStateError,
    )
    from .graphs import (
        AssistantOptions,
        AssistantState,
        build_assistant,
        build_plan_execute,
        build_rag,
        build_react,
        build_supervisor,
        check_thread_id,
        compile_graph,
        load_graph,
        thread_config,
    )
    from .memory import (
        ChromaStore,
        KnowledgeGraph,
        VectorMemory,
        open_checkpointer,
        open_vector_memory,
    )
    from .models import (
        BatchingOptions,
        ChatLocal,
    )
    from .nodes import (
        Budget,
        make_executor,
    )
    from .service import (
        ApiKeyAuth,
        ServiceOptions,
        create_app,
    )
    from .tools import (
        ToolPolicy,
        calculator,
        register_tool,
    )


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
