"""The in-process Transformers chat model: loading, chat templates, constrained decoding, routing."""

from ._batching import BatchingOptions, RequestCancelled
from ._chat import ChatLocal
from ._grammar import Grammar, GrammarError, bound_strings, compile_grammar, json_grammar, tool_call_grammar
from ._local import Generation, LocalModel
from ._routing import RouteChoice, choose_route, legal_successors, model_router
from ._toolcalls import ParsedOutput, parse_tool_calls
from ._weights import DEFAULT_MODEL, ResolvedModel, cache_dir, default_gguf_path, resolve

__all__ = [
    "BatchingOptions",
    "ChatLocal",
    "DEFAULT_MODEL",
    "Generation",
    "Grammar",
    "GrammarError",
    "LocalModel",
    "ParsedOutput",
    "RequestCancelled",
    "ResolvedModel",
    "RouteChoice",
    "bound_strings",
    "cache_dir",
    "choose_route",
    "compile_grammar",
    "default_gguf_path",
    "json_grammar",
    "legal_successors",
    "model_router",
    "parse_tool_calls",
    "resolve",
    "tool_call_grammar",
]
