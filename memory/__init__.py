"""Memory: checkpointers for short-term (thread) memory; vector memory, a store and a knowledge graph for long-term.

Names load lazily, so importing this package (as the CLI does for `open_checkpointer`) does not import
chromadb, sentence-transformers or networkx until a long-term memory is actually built.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "CheckpointerBackend": "._checkpoint",
    "Chunk": "._chunking",
    "ChunkOptions": "._chunking",
    "ChromaStore": "._store",
    "DEFAULT_NAMESPACE": "._vector",
    "EXTRACT_PROMPT": "._extract",
    "Fact": "._graph",
    "IngestReport": "._vector",
    "KnowledgeGraph": "._graph",
    "MEMORY": "._checkpoint",
    "MINILM_DIMENSION": "._embeddings",
    "PackagedEmbeddings": "._embeddings",
    "Triple": "._extract",
    "Triples": "._extract",
    "VectorMemory": "._vector",
    "check_sqlite_path": "._checkpoint",
    "checkpoint_problem": "._corrupt",
    "checkpointer_backend": "._checkpoint",
    "chunk_document": "._chunking",
    "corrupt_checkpoints": "._corrupt",
    "forking_past_corruption": "._corrupt",
    "embedding_dimension": "._embeddings",
    "entity_key": "._graph",
    "extract_facts": "._extract",
    "is_postgres_url": "._checkpoint",
    "minilm_path": "._embeddings",
    "open_async_checkpointer": "._checkpoint",
    "open_checkpointer": "._checkpoint",
    "open_chroma_client": "._vector",
    "open_postgres_checkpointer": "._checkpoint",
    "open_vector_memory": "._vector",
    "packaged_embeddings": "._embeddings",
    "private_file": "._checkpoint",
    "strict_serializer": "._checkpoint",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from ._checkpoint import (
        MEMORY,
        CheckpointerBackend,
        check_sqlite_path,
        checkpointer_backend,
        is_postgres_url,
        open_async_checkpointer,
        open_checkpointer,
        open_postgres_checkpointer,
        private_file,
        strict_serializer,
    )
    from ._chunking import Chunk, ChunkOptions, chunk_document
    from ._corrupt import checkpoint_problem, corrupt_checkpoints, forking_past_corruption
    from ._embeddings import MINILM_DIMENSION, PackagedEmbeddings, embedding_dimension, minilm_path, packaged_embeddings
    from ._extract import EXTRACT_PROMPT, Triple, Triples, extract_facts
    from ._graph import Fact, KnowledgeGraph, entity_key
    from ._store import ChromaStore
    from ._vector import DEFAULT_NAMESPACE, IngestReport, VectorMemory, open_chroma_client, open_vector_memory


def __getattr__(name: str) -> Any:
    """Import the module that defines public name `name` on first use and return the name."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
