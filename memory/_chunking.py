"""Splitting documents into chunks with stable ids, so that ingesting the same text twice changes nothing.

Plain text is split by langchain-text-splitters' recursive splitter (paragraphs, then lines, then words);
Markdown is first cut at its headers (each chunk remembers the header path it sits under) and then split the
same way. A chunk's id is a hash of its namespace, source, position and text: the same input always gives the
same ids, and an edited document gives new ids only where it changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import MemoryInputError

Format = Literal["text", "markdown"]
"""How a document is split: `"markdown"` cuts at headers first."""

_MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".mdx"})
_HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3")]


@dataclass(frozen=True)
class ChunkOptions:
    """How documents are cut into chunks before they are embedded."""

    size: int = 800
    """Most characters in a chunk (all-MiniLM-L6-v2 reads 256 word pieces, about 1,000 characters)."""
    overlap: int = 100
    """Characters repeated between neighbouring chunks, so a sentence cut in two is still found."""


@dataclass(frozen=True)
class Chunk:
    """One piece of a document, ready to embed."""

    id: str
    """Stable id: a hash of namespace, source, position and text."""
    text: str
    """The chunk's text."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """`source`, `chunk` (its position), `section` (Markdown header path, if any) and the caller's metadata."""


def format_of(path: str | Path) -> Format:
    """Return `"markdown"` for `.md`/`.markdown`/`.mdx` files, else `"text"`.

    Example:
        >>> format_of("README.md"), format_of("notes.txt")
        ('markdown', 'text')
    """
    return "markdown" if Path(path).suffix.lower() in _MARKDOWN_SUFFIXES else "text"


def chunk_document(
    text: str,
    source: str,
    *,
    format: Format = "text",
    metadata: dict[str, Any] | None = None,
    namespace: tuple[str, ...] = (),
    options: ChunkOptions = ChunkOptions(),
) -> list[Chunk]:
    """Split `text` into chunks whose ids depend only on the inputs.

    Args:
        text: the document.
        source: where it came from (a path, a URL, a name); part of every id and of every chunk's metadata.
        format: `"markdown"` to cut at headers first, `"text"` otherwise.
        metadata: extra metadata copied to every chunk (str, int, float or bool values).
        namespace: the memory namespace the chunks go to (part of the id).
        options: chunk size and overlap.

    Returns:
        The chunks, in document order.

    Raises:
        MemoryInputError: the text or the source is empty, or the options are inconsistent.

    Example:
        >>> chunks = chunk_document("# Title\\n\\nFirst part.\\n\\n## Sub\\n\\nSecond part.", "doc.md", format="markdown")
        >>> [(c.text.splitlines()[-1], c.metadata["section"]) for c in chunks]
        [('First part.', 'Title'), ('Second part.', 'Title > Sub')]
        >>> chunks == chunk_document("# Title\\n\\nFirst part.\\n\\n## Sub\\n\\nSecond part.", "doc.md", format="markdown")
        True
    """
    from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

    if not isinstance(text, str) or not text.strip():
        raise MemoryInputError(f"document {source!r} is empty; there is nothing to ingest")
    if not source:
        raise MemoryInputError("a document needs a non-empty source (a path or a name) to give its chunks stable ids")
    if options.size < 1 or not 0 <= options.overlap < options.size:
        raise MemoryInputError(f"chunk options need size >= 1 and 0 <= overlap < size, got {options}")
    splitter = RecursiveCharacterTextSplitter(chunk_size=options.size, chunk_overlap=options.overlap)
    sections: list[tuple[str, str]]
    if format == "markdown":
        headers = MarkdownHeaderTextSplitter(_HEADERS, strip_headers=False).split_text(text)
        sections = [(d.page_content, " > ".join(d.metadata[k] for _, k in _HEADERS if k in d.metadata)) for d in headers]
    elif format == "text":
        sections = [(text, "")]
    else:
        raise MemoryInputError(f"unknown document format {format!r}; use 'text' or 'markdown'")
    chunks: list[Chunk] = []
    for body, section in sections:
        for piece in splitter.split_text(body):
            if not piece.strip():
                continue
            index = len(chunks)
            meta = {**(metadata or {}), "source": source, "chunk": index}
            if section:
                meta["section"] = section
            chunks.append(Chunk(chunk_id(namespace, source, index, piece), piece, meta))
    return chunks


def chunk_id(namespace: tuple[str, ...], source: str, index: int, text: str) -> str:
    """Return the stable id of chunk `index` of `source` in `namespace` with content `text`.

    Example:
        >>> chunk_id(("agent",), "a.txt", 0, "hello") == chunk_id(("agent",), "a.txt", 0, "hello")
        True
    """
    digest = hashlib.sha256("\x1f".join([*namespace, "", source, str(index), text]).encode()).hexdigest()
    return digest[:32]
