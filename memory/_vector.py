"""Vector memory on Chroma: one collection per namespace, embeddings from the packaged MiniLM.

`open_vector_memory("memdir")` keeps vectors in an embedded Chroma (`PersistentClient`) in that folder;
`open_vector_memory("http://host:8000")` talks to a Chroma server (`HttpClient`); `":memory:"` keeps them in
the process. A `VectorMemory` is a LangChain `VectorStore` (it is `langchain_chroma.Chroma` with guards), so
retrievers and the standard LangChain tooling work on it; on top it adds namespaces (one collection each, so
users and agents never see each other's vectors), searches with a relevance threshold, and idempotent
document ingestion.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from ..errors import EmbeddingDimensionError, GraphwrightError, MemoryInputError, MemoryUnavailableError
from ._chunking import ChunkOptions, Format, chunk_document, format_of
from ._embeddings import check_texts, embedding_dimension, packaged_embeddings

DEFAULT_NAMESPACE = ("default",)
"""The namespace a `VectorMemory` uses when none is given."""

_NAMESPACE_KEY = "gw_namespace"
_DIMENSION_KEY = "gw_dimension"
_LABEL = re.compile(r"^[^\x00-\x1f/]{1,128}$")


@dataclass(frozen=True)
class IngestReport:
    """What one `ingest` call changed."""

    ids: tuple[str, ...]
    """Ids of the document's chunks now in memory, in document order."""
    added: int
    """Chunks embedded and written by this call (0 when the document was already there unchanged)."""
    removed: int
    """Chunks of an earlier version of the document deleted by this call."""


def open_chroma_client(target: str | os.PathLike[str]) -> Any:
    """Return a chromadb client for `target`: a folder (embedded), an `http(s)://` URL (server) or `":memory:"`.

    Telemetry is off. A folder is created if its parent exists. Every `":memory:"` client in a process shares
    one in-process Chroma (namespaces still keep their data apart).

    Raises:
        MemoryUnavailableError: the Chroma server does not answer, or the folder cannot be used.
    """
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    target = os.fspath(target)
    if target == ":memory:":
        return chromadb.EphemeralClient(settings=settings)
    if target.startswith(("http://", "https://")):
        from urllib.parse import urlsplit

        url = urlsplit(target)
        if not url.hostname:
            raise MemoryInputError(f"Chroma URL {target!r} has no host")
        ssl = url.scheme == "https"
        try:
            return chromadb.HttpClient(host=url.hostname, port=url.port or (443 if ssl else 8000), ssl=ssl, settings=settings)
        except Exception as exc:  # chromadb raises bare ValueError / httpx errors for a dead server
            raise MemoryUnavailableError(f"cannot reach the Chroma server at {target}: {exc}") from exc
    path = Path(target)
    if path.exists() and not path.is_dir():
        raise MemoryUnavailableError(f"vector memory folder {target!r} is a file")
    if not path.exists() and not path.parent.is_dir():
        raise MemoryUnavailableError(f"cannot create vector memory folder {target!r}: its parent does not exist")
    try:
        return chromadb.PersistentClient(path=str(path), settings=settings)
    except Exception as exc:
        raise MemoryUnavailableError(f"cannot open vector memory folder {target!r}: {exc}") from exc


def collection_name(namespace: tuple[str, ...]) -> str:
    """Return the Chroma collection name for `namespace`: readable, valid for Chroma, unique per namespace.

    Example:
        >>> collection_name(("agent", "alice"))
        'gw-agent-alice-...'
    """
    slug = re.sub(r"[^A-Za-z0-9_]+", "-", "-".join(namespace)).strip("-_")[:48].strip("-_") or "ns"
    digest = hashlib.sha256(json.dumps(list(namespace)).encode()).hexdigest()[:12]
    return f"gw-{slug}-{digest}"


def check_namespace(namespace: Sequence[str]) -> tuple[str, ...]:
    """Return `namespace` as a tuple, or raise `MemoryInputError` if it is empty or has a bad label.

    Labels are non-empty strings of at most 128 characters, without `/` or control characters.
    """
    if isinstance(namespace, str):
        namespace = (namespace,)
    namespace = tuple(namespace)
    if not namespace:
        raise MemoryInputError("a namespace needs at least one label, e.g. ('user', 'alice')")
    for label in namespace:
        if not isinstance(label, str) or not _LABEL.match(label):
            raise MemoryInputError(f"bad namespace label {label!r}: use 1-128 characters without '/' or control characters")
    return namespace


class VectorMemory(Chroma):
    """A namespace of vector memory: a LangChain `VectorStore` over one Chroma collection.

    Build it with `open_vector_memory`; `for_namespace` gives another namespace on the same client. Vectors are
    compared by cosine similarity; relevance scores are that similarity (1 is identical, 0 unrelated).
    """

    def __init__(
        self,
        client: Any,
        namespace: Sequence[str] = DEFAULT_NAMESPACE,
        *,
        embeddings: Embeddings | None = None,
        chunking: ChunkOptions = ChunkOptions(),
    ) -> None:
        """Open (or create) the collection of `namespace` on `client`.

        Raises:
            MemoryInputError: the namespace is malformed.
            EmbeddingDimensionError: the collection exists and holds vectors of another length.
        """
        self.namespace = check_namespace(namespace)
        self.chunking = chunking
        embeddings = embeddings if embeddings is not None else packaged_embeddings()
        self.dimension = embedding_dimension(embeddings)
        name = collection_name(self.namespace)
        from chromadb.errors import NotFoundError

        with _chroma_errors(f"open namespace {self.namespace}"):
            try:
                stored = (client.get_collection(name).metadata or {}).get(_DIMENSION_KEY)
            except NotFoundError:
                stored = None
            if stored is not None and int(stored) != self.dimension:
                raise EmbeddingDimensionError(
                    f"namespace {self.namespace} holds {stored}-d vectors but the embeddings give "
                    f"{self.dimension}-d ones; use the model it was built with or another namespace"
                )
            super().__init__(
                collection_name=name,
                embedding_function=embeddings,
                client=client,
                collection_metadata={_NAMESPACE_KEY: json.dumps(list(self.namespace)), _DIMENSION_KEY: self.dimension},
                collection_configuration={"hnsw": {"space": "cosine"}},
            )

    # Namespaces ---------------------------------------------------------------------------------------------

    def for_namespace(self, *namespace: str) -> VectorMemory:
        """Return the memory of another namespace on the same Chroma client and embeddings."""
        return VectorMemory(self._client, namespace, embeddings=self.embeddings, chunking=self.chunking)

    def namespaces(self) -> list[tuple[str, ...]]:
        """Return every namespace that has a collection on this client, sorted."""
        found = []
        for collection in self._client.list_collections():
            raw = (collection.metadata or {}).get(_NAMESPACE_KEY)
            if raw:
                found.append(tuple(json.loads(raw)))
        return sorted(found)

    def count(self) -> int:
        """Return how many vectors this namespace holds."""
        return self._collection.count()

    # Writing ------------------------------------------------------------------------------------------------

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict] | None = None,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed `texts` and upsert them (an existing id is overwritten). Returns their ids.

        Raises:
            MemoryInputError: a text is empty, or metadata holds a value Chroma cannot store (use str, int,
                float or bool).
            EmbeddingDimensionError: the embeddings do not match the collection.
        """
        texts = list(texts)
        check_texts(texts)
        if ids is not None and len(ids) != len(texts):
            raise MemoryInputError(f"got {len(ids)} ids for {len(texts)} texts")
        with _chroma_errors("add texts"):
            return super().add_texts(texts, metadatas=metadatas, ids=ids, **kwargs)

    def add_vectors(
        self,
        vectors: Sequence[Sequence[float]],
        texts: Sequence[str],
        *,
        ids: Sequence[str],
        metadatas: Sequence[dict[str, Any]] | None = None,
    ) -> list[str]:
        """Upsert precomputed vectors with their texts (no embedding is run). Returns the ids.

        Raises:
            EmbeddingDimensionError: a vector's length is not this memory's dimension.
            MemoryInputError: lengths differ or a text is empty.
        """
        texts = list(texts)
        check_texts(texts)
        if not len(vectors) == len(texts) == len(ids) or (metadatas is not None and len(metadatas) != len(texts)):
            raise MemoryInputError("vectors, texts, ids (and metadatas) must have the same length")
        for index, vector in enumerate(vectors):
            if len(vector) != self.dimension:
                raise EmbeddingDimensionError(f"vector {index} has {len(vector)} dimensions; this memory holds {self.dimension}")
        step = self._client.get_max_batch_size()
        with _chroma_errors("add vectors"):
            for start in range(0, len(texts), step):
                end = start + step
                self._collection.upsert(
                    ids=list(ids[start:end]),
                    embeddings=[list(map(float, v)) for v in vectors[start:end]],
                    documents=texts[start:end],
                    metadatas=list(metadatas[start:end]) if metadatas is not None else None,
                )
        return list(ids)

    def ingest(
        self,
        text: str,
        source: str,
        *,
        format: Format = "text",
        metadata: dict[str, Any] | None = None,
    ) -> IngestReport:
        """Chunk a document and store its chunks; ingesting the same document again changes nothing.

        Chunks already stored (same id: same source, position and text) are not embedded again; chunks of an
        earlier version of `source` that are gone are deleted after the new ones are written.

        Args:
            text: the document.
            source: its stable name (a path or URL); it identifies the document across ingests.
            format: `"markdown"` to cut at headers first, `"text"` otherwise.
            metadata: extra metadata for every chunk.

        Raises:
            MemoryInputError: the text or source is empty.
        """
        chunks = chunk_document(text, source, format=format, metadata=metadata, namespace=self.namespace, options=self.chunking)
        with _chroma_errors("ingest"):
            stored = set(self._collection.get(where={"source": source}, include=[])["ids"])
        fresh = [c for c in chunks if c.id not in stored]
        if fresh:
            self.add_texts([c.text for c in fresh], metadatas=[c.metadata for c in fresh], ids=[c.id for c in fresh])
        stale = sorted(stored - {c.id for c in chunks})
        if stale:
            self.delete(stale)
        return IngestReport(ids=tuple(c.id for c in chunks), added=len(fresh), removed=len(stale))

    def ingest_file(self, path: str | os.PathLike[str], *, source: str | None = None, metadata: dict[str, Any] | None = None) -> IngestReport:
        """Ingest a UTF-8 text or Markdown file (Markdown by suffix); `source` defaults to the path as given.

        Raises:
            MemoryInputError: the file cannot be read as UTF-8 text, or is empty.
        """
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise MemoryInputError(f"cannot read {os.fspath(path)!r} as UTF-8 text: {exc}") from exc
        return self.ingest(text, source or os.fspath(path), format=format_of(path), metadata=metadata)

    # Reading ------------------------------------------------------------------------------------------------

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Return the documents with these ids (missing ids are skipped; order is not guaranteed)."""
        found = self.get(ids=list(ids))
        return [
            Document(page_content=text, metadata=meta or {}, id=doc_id)
            for text, meta, doc_id in zip(found["documents"], found["metadatas"], found["ids"])
            if text is not None
        ]

    def recall(
        self,
        query: str,
        k: int = 4,
        *,
        filter: dict[str, Any] | None = None,
        score_threshold: float | None = None,
    ) -> list[tuple[Document, float]]:
        """Return up to `k` (document, relevance) pairs most like `query`, best first.

        Args:
            query: the text to look for.
            k: at most this many results.
            filter: a Chroma `where` filter on metadata, e.g. `{"source": "a.md"}` or
                `{"$and": [{"kind": "fact"}, {"year": {"$gte": 2020}}]}`.
            score_threshold: drop results whose cosine similarity is below this (0..1).

        Raises:
            MemoryInputError: the query is empty, `k` < 1, the threshold is outside 0..1, or the filter is
                malformed.
        """
        check_texts([query], what="query")
        if k < 1:
            raise MemoryInputError(f"k must be at least 1, got {k}")
        if score_threshold is not None and not 0.0 <= score_threshold <= 1.0:
            raise MemoryInputError(f"score_threshold must be within 0..1, got {score_threshold}")
        if filter is not None and (not isinstance(filter, dict) or not filter):
            raise MemoryInputError(f"filter must be a non-empty dict (a Chroma where clause), got {filter!r}")
        with _chroma_errors("search"):
            pairs = self.similarity_search_with_score(query, k=k, filter=filter)
        scored = [(doc, 1.0 - float(distance)) for doc, distance in pairs]
        if score_threshold is not None:
            scored = [(doc, score) for doc, score in scored if score >= score_threshold]
        return scored


def open_vector_memory(
    target: str | os.PathLike[str],
    namespace: Sequence[str] = DEFAULT_NAMESPACE,
    *,
    embeddings: Embeddings | None = None,
    chunking: ChunkOptions = ChunkOptions(),
) -> VectorMemory:
    """Open vector memory at `target` in `namespace`.

    Args:
        target: a folder for an embedded Chroma (created if its parent exists), an `http(s)://host:port` URL
            of a Chroma server, or `":memory:"`.
        namespace: whose memory, e.g. `("agent", "planner")` or `("user", "alice")`.
        embeddings: LangChain embeddings; default the packaged all-MiniLM-L6-v2, loaded once per process.
        chunking: how `ingest` cuts documents.

    Raises:
        MemoryUnavailableError: the server does not answer or the folder cannot be used.
        MemoryInputError: the namespace is malformed.
        EmbeddingDimensionError: the namespace was built with embeddings of another length.
    """
    namespace = check_namespace(namespace)
    return VectorMemory(open_chroma_client(target), namespace, embeddings=embeddings, chunking=chunking)


@contextmanager
def _chroma_errors(action: str) -> Iterator[None]:
    """Turn chromadb's errors into typed ones; ours pass through."""
    from chromadb.errors import ChromaError, InvalidArgumentError

    try:
        yield
    except GraphwrightError:
        raise
    except (InvalidArgumentError, ValueError, TypeError) as exc:
        text = str(exc)
        if "dimension" in text:
            raise EmbeddingDimensionError(f"cannot {action}: {text}") from exc
        if "connect" in text.lower():
            raise MemoryUnavailableError(f"cannot {action}: {text}") from exc
        raise MemoryInputError(f"cannot {action}: {text}") from exc
    except (ChromaError, ConnectionError, OSError) as exc:
        raise MemoryUnavailableError(f"cannot {action}: {exc}") from exc
    except Exception as exc:
        if type(exc).__module__.startswith(("httpx", "httpcore")):
            raise MemoryUnavailableError(f"cannot {action}: Chroma server unreachable ({exc})") from exc
        raise
