"""The in-process Transformers chat model: loading, chat templates, tool-call parsing."""

from ._chat import ChatLocal
from ._local import Generation, LocalModel
from ._toolcalls import ParsedOutput, parse_tool_calls
from ._weights import DEFAULT_MODEL, ResolvedModel, cache_dir, default_gguf_path, resolve

__all__ = [
    "ChatLocal",
    "DEFAULT_MODEL",
    "Generation",
    "LocalModel",
    "ParsedOutput",
    "ResolvedModel",
    "cache_dir",
    "default_gguf_path",
    "parse_tool_calls",
    "resolve",
]
