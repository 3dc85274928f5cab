"""A LangGraph `BaseStore` on Chroma, so `runtime.store` and LangGraph's memory patterns keep data in Chroma.

Items live in one Chroma collection (their value as JSON in the metadata, with their namespace spelled out label
by label so a prefix is a `where` filter); the texts picked out of each value for semantic search live in a
second collection, one vector per text, pointing back at their item. `search(prefix, query=...)` ranks items by
their best-matching text (cosine similarity); without a query it lists items newest first. Value filters use
LangGraph's own matching rules (equality, nested dicts, `$eq/$ne/$gt/$gte/$lt/$lte`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    get_text_at_path,
    tokenize_path,
)

# LangGraph's own filter and namespace-matching rules, so this store answers exactly as its stores do.
from langgraph.store.memory import _compare_values, _does_match

from ..errors import MemoryInputError
from ._embeddings import embedding_dimension, packaged_embeddings
from ._vector import _chroma_errors, open_chroma_client

_ITEMS = "gw-store-items"
_VECTORS = "gw-store-vectors"
_PLACEHOLDER = [1.0]  # items need some vector in Chroma; they are never searched by it


class ChromaStore(BaseStore):
    """A LangGraph store whose items and search vectors live in Chroma (embedded folder, server or in-memory).

    Example:
        >>> store = ChromaStore(":memory:", index_fields=None, prefix="doc-")  # no semantic search, no model
        >>> store.put(("user", "ada"), "prefs", {"theme": "dark"})
        >>> store.get(("user", "ada"), "prefs").value
        {'theme': 'dark'}
        >>> [item.key for item in store.search(("user",), filter={"theme": "dark"})]
        ['prefs']
        >>> store.list_namespaces()
        [('user', 'ada')]
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | Any = ":memory:",
        *,
        embeddings: Embeddings | None = None,
        index_fields: Sequence[str] | None = ("$",),
        prefix: str = "",
    ) -> None:
        """Open the store.

        Args:
            target: a folder (embedded Chroma), an `http(s)://` URL (Chroma server), `":memory:"` (Chroma's
                in-process system, shared by the whole process: tell stores apart with `prefix`), or a chromadb
                client.
            embeddings: what embeds texts for `search(query=...)`; default the packaged all-MiniLM-L6-v2.
            index_fields: JSON paths of the value embedded on `put` (`"$"` is the whole value); None turns
                semantic search off (and loads no model).
            prefix: prepended to the two collection names, to keep several stores on one Chroma.

        Raises:
            MemoryUnavailableError: the folder or server cannot be used.
        """
        client = open_chroma_client(target) if isinstance(target, (str, os.PathLike)) else target
        self.index_fields = tuple(index_fields) if index_fields else ()
        self.embeddings = (embeddings or packaged_embeddings()) if self.index_fields else None
        self._lock = threading.RLock()
        with _chroma_errors("open the store"):
            self._items = client.get_or_create_collection(prefix + _ITEMS, metadata={"gw_kind": "store-items"})
            self._vectors = None
            if self.embeddings is not None:
                self._vectors = client.get_or_create_collection(
                    prefix + _VECTORS,
                    metadata={"gw_kind": "store-vectors", "gw_dimension": embedding_dimension(self.embeddings)},
                    configuration={"hnsw": {"space": "cosine"}},
                )

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run `ops` in order (a put is seen by the ops after it) and return one result per op."""
        results: list[Result] = []
        with self._lock:
            for op in ops:
                if isinstance(op, GetOp):
                    results.append(self._get(op.namespace, op.key))
                elif isinstance(op, PutOp):
                    self._put(op)
                    results.append(None)
                elif isinstance(op, SearchOp):
                    results.append(self._search(op))
                elif isinstance(op, ListNamespacesOp):
                    results.append(self._list_namespaces(op))
                else:
                    raise MemoryInputError(f"unknown store operation {type(op).__name__}")
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Async `batch`: runs it in a worker thread (Chroma and the embedding model are synchronous)."""
        return await asyncio.to_thread(self.batch, list(ops))

    # Operations ---------------------------------------------------------------------------------------------

    def _get(self, namespace: tuple[str, ...], key: str) -> Item | None:
        with _chroma_errors("get"):
            found = self._items.get(ids=[_item_id(namespace, key)], include=["metadatas"])
        return _to_item(found["metadatas"][0]) if found["ids"] else None

    def _put(self, op: PutOp) -> None:
        item_id = _item_id(op.namespace, op.key)
        with _chroma_errors("put"):
            if self._vectors is not None:
                self._vectors.delete(where={"item": item_id})
            if op.value is None:
                self._items.delete(ids=[item_id])
                return
            if not isinstance(op.value, dict):
                raise MemoryInputError(f"a store value must be a dict, got {type(op.value).__name__}")
            now = datetime.now(timezone.utc).isoformat()
            previous = self._items.get(ids=[item_id], include=["metadatas"])
            created = previous["metadatas"][0]["created_at"] if previous["ids"] else now
            meta = {
                **_namespace_meta(op.namespace),
                "key": op.key,
                "value": json.dumps(op.value, ensure_ascii=False),
                "created_at": created,
                "updated_at": now,
            }
            self._items.upsert(ids=[item_id], embeddings=[_PLACEHOLDER], documents=[op.key], metadatas=[meta])
            texts = self._texts_to_index(op)
            if texts and self._vectors is not None and self.embeddings is not None:
                vectors = self.embeddings.embed_documents([text for _, text in texts])
                self._vectors.upsert(
                    ids=[f"{item_id}:{path}" for path, _ in texts],
                    embeddings=vectors,
                    documents=[text for _, text in texts],
                    metadatas=[{**_namespace_meta(op.namespace), "item": item_id, "path": path} for path, _ in texts],
                )

    def _texts_to_index(self, op: PutOp) -> list[tuple[str, str]]:
        if op.index is False or self._vectors is None:
            return []
        paths = list(op.index) if op.index else list(self.index_fields)
        texts: list[tuple[str, str]] = []
        for path in paths:
            found = [t for t in get_text_at_path(op.value, path if path == "$" else tokenize_path(path)) if t.strip()]
            texts.extend((f"{path}.{i}" if len(found) > 1 else path, text) for i, text in enumerate(found))
        return texts

    def _search(self, op: SearchOp) -> list[SearchItem]:
        if op.limit < 0 or op.offset < 0:
            raise MemoryInputError(f"limit and offset must not be negative, got {op.limit} and {op.offset}")
        where = _prefix_where(op.namespace_prefix)
        if op.query and self._vectors is not None:
            return self._semantic(op, where)
        with _chroma_errors("search"):
            found = self._items.get(where=where, include=["metadatas"])
        items = [_to_item(meta) for meta in found["metadatas"]]
        items = [item for item in items if _matches(item, op.filter)]
        items.sort(key=lambda item: (item.updated_at, item.namespace, item.key), reverse=True)
        return [_scored(item, None) for item in items[op.offset : op.offset + op.limit]]

    def _semantic(self, op: SearchOp, where: dict[str, Any] | None) -> list[SearchItem]:
        assert self._vectors is not None and self.embeddings is not None and op.query
        query = self.embeddings.embed_query(op.query)
        wanted = op.offset + op.limit
        total = self._vectors.count()
        fetch = min(total, max(4 * wanted, 16))
        ranked: list[tuple[float, Item]] = []
        while True:
            seen: dict[str, float] = {}
            if fetch:
                with _chroma_errors("search"):
                    hits = self._vectors.query(query_embeddings=[query], n_results=fetch, where=where, include=["metadatas", "distances"])
                for meta, distance in zip(hits["metadatas"][0], hits["distances"][0]):
                    seen.setdefault(meta["item"], 1.0 - float(distance))  # best text first: max pooling
            items = self._items.get(ids=list(seen), include=["metadatas"]) if seen else {"ids": [], "metadatas": []}
            by_id = {i: _to_item(m) for i, m in zip(items["ids"], items["metadatas"])}
            ranked = [(score, by_id[i]) for i, score in seen.items() if i in by_id and _matches(by_id[i], op.filter)]
            if len(ranked) >= wanted or fetch >= total:
                break
            fetch = min(total, fetch * 4)
        page = [_scored(item, score) for score, item in ranked[op.offset : wanted]]
        if len(page) < op.limit:  # items stored with index=False have no vector: they come last, unscored
            plain = self._search(op._replace(query=None, offset=0, limit=wanted + len(seen)))
            scored_keys = {(item.namespace, item.key) for _, item in ranked}
            rest = [item for item in plain if (item.namespace, item.key) not in scored_keys]
            skip = max(0, op.offset - len(ranked))
            page += rest[skip : skip + op.limit - len(page)]
        return page

    def _list_namespaces(self, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        with _chroma_errors("list namespaces"):
            found = self._items.get(include=["metadatas"])
        namespaces = {tuple(json.loads(meta["ns"])) for meta in found["metadatas"]}
        if op.match_conditions:
            namespaces = {ns for ns in namespaces if all(_does_match(c, ns) for c in op.match_conditions)}
        if op.max_depth is not None:
            namespaces = {ns[: op.max_depth] for ns in namespaces}
        return sorted(namespaces)[op.offset : op.offset + op.limit]


def _item_id(namespace: tuple[str, ...], key: str) -> str:
    return hashlib.sha256(json.dumps([list(namespace), key]).encode()).hexdigest()[:40]


def _namespace_meta(namespace: tuple[str, ...]) -> dict[str, Any]:
    return {"ns": json.dumps(list(namespace)), "depth": len(namespace), **{f"ns{i}": label for i, label in enumerate(namespace)}}


def _prefix_where(prefix: tuple[str, ...]) -> dict[str, Any] | None:
    conditions: list[dict[str, Any]] = [{f"ns{i}": label} for i, label in enumerate(prefix)]
    if prefix:
        conditions.append({"depth": {"$gte": len(prefix)}})
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}


def _to_item(meta: dict[str, Any]) -> Item:
    return Item(
        namespace=tuple(json.loads(meta["ns"])),
        key=meta["key"],
        value=json.loads(meta["value"]),
        created_at=datetime.fromisoformat(meta["created_at"]),
        updated_at=datetime.fromisoformat(meta["updated_at"]),
    )


def _scored(item: Item, score: float | None) -> SearchItem:
    return SearchItem(item.namespace, item.key, item.value, item.created_at, item.updated_at, score=score)


def _matches(item: Item, filter: dict[str, Any] | None) -> bool:
    if not filter:
        return True
    try:
        return all(_compare_values(item.value.get(key), wanted) for key, wanted in filter.items())
    except (ValueError, TypeError) as exc:
        raise MemoryInputError(f"bad store filter {filter!r}: {exc}") from exc
