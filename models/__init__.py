"""The in-process chat model: loading, chat templates, constrained decoding, routing.

The public names load lazily: `from graphwright.models import LocalModel` imports the model's own modules (torch,
tokenizers), not LangChain's chat-model stack, which only `ChatLocal` and the routing helpers need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "BatchingOptions": "graphwright.models._batching",
    "ChatLocal": "graphwright.models._chat",
    "DEFAULT_MODEL": "graphwright.models._weights",
    "Generation": "graphwright.models._local",
    "Grammar": "graphwright.models._grammar",
    "GrammarError": "graphwright.models._grammar",
    "LocalModel": "graphwright.models._local",
    "ParsedOutput": "graphwright.models._toolcalls",
    "RequestCancelled": "graphwright.models._batching",
    "ResolvedModel": "graphwright.models._weights",
    "RouteChoice": "graphwright.models._routing",
    "bound_strings": "graphwright.models._grammar",
    "cache_dir": "graphwright.models._weights",
    "choose_route": "graphwright.models._routing",
    "compile_grammar": "graphwright.models._grammar",
    "default_gguf_path": "graphwright.models._weights",
    "json_grammar": "graphwright.models._grammar",
    "legal_successors": "graphwright.models._routing",
    "model_router": "graphwright.models._routing",
    "parse_tool_calls": "graphwright.models._toolcalls",
    "resolve": "graphwright.models._weights",
    "tool_call_grammar": "graphwright.models._grammar",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from ._batching import BatchingOptions, RequestCancelled
    from ._chat import ChatLocal
    from ._grammar import Grammar, GrammarError, bound_strings, compile_grammar, json_grammar, tool_call_grammar
    from ._local import Generation, LocalModel
    from ._routing import RouteChoice, choose_route, legal_successors, model_router
    from ._toolcalls import ParsedOutput, parse_tool_calls
    from ._weights import DEFAULT_MODEL, ResolvedModel, cache_dir, default_gguf_path, resolve


def __getattr__(name: str) -> Any:
    """Import the module that defines public name `name` on first use and return the name."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'graphwright.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
