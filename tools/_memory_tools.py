"""Memory as tools: the model searches and saves notes in a `VectorMemory` (Chroma, packaged MiniLM)."""

from __future__ import annotations

import hashlib
from typing import Any

from langchain_core.tools import StructuredTool

from ._registry import register_tool


def memory_tools(memory: Any, *, k: int = 4, max_chars: int = 2000) -> list[StructuredTool]:
    """Return `[search_memory, save_memory]` tools over `memory` (a `graphwright.memory.VectorMemory`).

    `search_memory` is read-only, and `untrusted_output`: memory holds documents others wrote, so after a search
    side-effecting calls go through `ToolPolicy.after_untrusted`; `save_memory` has side effects and needs the permission `memory:write`
    (so a `ToolPolicy` must grant it), and saving the same note twice stores it once.

    Args:
        memory: the vector memory to search and write (its namespace isolates users and agents).
        k: passages `search_memory` returns at most.
        max_chars: characters of passages `search_memory` returns at most.
    """

    @register_tool(side_effects=False, timeout=30.0, untrusted_output=True)
    def search_memory(query: str) -> str:
        """Search long-term memory for passages about the query.

        Args:
            query: what to look for, in a few words.
        """
        hits = memory.recall(query, k=k)
        if not hits:
            return "Nothing relevant in memory."
        lines = [f"[{doc.metadata.get('source', 'memory')}] {doc.page_content}" for doc, _score in hits]
        return "\n".join(lines)[:max_chars]

    @register_tool(side_effects=True, permission="memory:write", timeout=30.0)
    def save_memory(note: str) -> str:
        """Save a short note to long-term memory for later conversations.

        Args:
            note: the fact or note to remember, in one or two sentences.
        """
        source = "note:" + hashlib.sha256(note.strip().encode()).hexdigest()[:16]
        report = memory.ingest(note, source)
        return f"saved as {source} ({report.added} new chunk(s))"

    return [search_memory, save_memory]
