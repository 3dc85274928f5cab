"""Vector memory on a real Chroma with the real packaged MiniLM: retrieval, filters, namespaces, ingestion, errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from graphwright.errors import EmbeddingDimensionError, MemoryInputError, MemoryUnavailableError
from graphwright.memory import ChunkOptions, VectorMemory, open_vector_memory

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"
"""Real public text (PyPI long descriptions, see tests/data/CORPUS_SOURCES.md)."""


@pytest.mark.parametrize(
    ("question", "source", "phrase"),
    [
        ("How do I find the shortest path between two nodes in a weighted graph?", "networkx.txt", "shortest_path"),
        ("async interface to sqlite databases with context managers", "aiosqlite.txt", "sqlite3"),
        ("Which ASGI web server implementation should I run my app with?", "uvicorn.md", "ASGI"),
        ("How can I check that a JSON document is valid against a schema?", "jsonschema.txt", "validate("),
        ("Is there an HTTP client with a requests-compatible API and strict timeouts?", "httpx.md", "Strict timeouts everywhere"),
        ("structured concurrency with task groups on top of asyncio or trio", "anyio.txt", "Trio"),
    ],
)
def test_search_returns_the_right_chunk_of_a_real_corpus(corpus_memory, question, source, phrase) -> None:
    hits = corpus_memory.recall(question, k=3)
    best, score = hits[0]
    assert best.metadata["source"] == source, [(d.metadata["source"], round(s, 3)) for d, s in hits]
    assert phrase in best.page_content
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert 0.0 < score <= 1.0


def test_metadata_filter_and_score_threshold(corpus_memory) -> None:
    question = "How do I find the shortest path between two nodes in a weighted graph?"
    only_httpx = corpus_memory.recall(question, k=5, filter={"source": "httpx.md"})
    assert only_httpx and {d.metadata["source"] for d, _ in only_httpx} == {"httpx.md"}
    loose = corpus_memory.recall(question, k=8)
    cut = (loose[0][1] + loose[-1][1]) / 2
    strict = corpus_memory.recall(question, k=8, score_threshold=cut)
    assert 0 < len(strict) < len(loose)
    assert all(score >= cut for _, score in strict)
    both = corpus_memory.recall(question, k=5, filter={"$and": [{"source": "networkx.txt"}, {"chunk": {"$gte": 1}}]})
    assert both and all(d.metadata["source"] == "networkx.txt" and d.metadata["chunk"] >= 1 for d, _ in both)


def test_markdown_chunks_keep_their_section(corpus_memory) -> None:
    hits = corpus_memory.recall("How do I install HTTPX with pip?", k=2, filter={"source": "httpx.md"})
    assert hits[0][0].metadata.get("section") == "Installation"
    assert hits[0][0].page_content.startswith("## Installation")


def test_namespaces_isolate_users(memory_dir, embeddings) -> None:
    alice = open_vector_memory(memory_dir, ("user", "alice"), embeddings=embeddings)
    bob = alice.for_namespace("user", "bob")
    alice.add_texts(["My locker code is 4812."], metadatas=[{"kind": "secret"}])
    bob.add_texts(["I prefer window seats on trains."], metadatas=[{"kind": "preference"}])
    assert [d.page_content for d, _ in alice.recall("what is the locker code?", k=5)] == ["My locker code is 4812."]
    assert all("4812" not in d.page_content for d, _ in bob.recall("what is the locker code?", k=5))
    assert bob.recall("locker code", k=5, filter={"kind": "secret"}) == []
    assert alice.namespaces() == [("user", "alice"), ("user", "bob")]
    # a second client on the same folder sees the same separation
    again = open_vector_memory(memory_dir, ("user", "bob"), embeddings=embeddings)
    assert again.count() == 1


def test_metadata_filters_isolate_users_sharing_one_namespace(memory_dir, embeddings) -> None:
    shared = open_vector_memory(memory_dir, ("team",), embeddings=embeddings)
    shared.add_texts(["Alice's standup is at nine.", "Bob's standup is at ten."], metadatas=[{"user": "alice"}, {"user": "bob"}])
    hits = shared.recall("when is the standup?", k=5, filter={"user": "bob"})
    assert [d.page_content for d, _ in hits] == ["Bob's standup is at ten."]


def test_reingesting_is_idempotent_and_an_edit_replaces_only_changed_chunks(memory_dir, embeddings) -> None:
    memory = open_vector_memory(memory_dir, ("docs",), embeddings=embeddings, chunking=ChunkOptions(size=400, overlap=40))
    text = (CORPUS / "uvicorn.md").read_text()
    first = memory.ingest(text, "uvicorn.md", format="markdown")
    assert first.added == len(first.ids) > 3 and first.removed == 0
    second = memory.ingest(text, "uvicorn.md", format="markdown")
    assert (second.ids, second.added, second.removed) == (first.ids, 0, 0)
    assert memory.count() == len(first.ids)
    edited = text.replace("Uvicorn is an ASGI web server", "Uvicorn is a lightning-fast ASGI web server", 1)
    assert edited != text
    third = memory.ingest(edited, "uvicorn.md", format="markdown")
    assert 1 <= third.added == third.removed < len(first.ids)
    assert memory.count() == len(third.ids)
    assert len(memory.get(where_document={"$contains": "lightning-fast"})["ids"]) == 1
    assert memory.get(where_document={"$contains": "Uvicorn is an ASGI web server"})["ids"] == []


def test_upsert_and_delete(memory_dir, embeddings) -> None:
    memory = open_vector_memory(memory_dir, ("notes",), embeddings=embeddings)
    memory.add_texts(["The meeting is on Monday."], ids=["meeting"])
    memory.add_texts(["The meeting moved to Thursday."], ids=["meeting"])
    assert memory.count() == 1
    assert memory.get_by_ids(["meeting"])[0].page_content == "The meeting moved to Thursday."
    memory.delete(["meeting"])
    assert memory.count() == 0


def test_writes_survive_a_process_restart(memory_dir) -> None:
    write = f"""
        from graphwright.memory import open_vector_memory
        m = open_vector_memory({str(memory_dir)!r}, ("user", "carol"))
        m.add_texts(["Carol's cat is called Miso."], metadatas=[{{"kind": "fact"}}], ids=["cat"])
    """
    read = f"""
        from graphwright.memory import open_vector_memory
        m = open_vector_memory({str(memory_dir)!r}, ("user", "carol"))
        doc, score = m.recall("what is the name of Carol's cat?", k=1)[0]
        print(doc.id, doc.page_content, score > 0.5)
    """
    for code in (write, read):
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "cat Carol's cat is called Miso. True"


def test_chroma_server_by_url(chroma_server, embeddings) -> None:
    memory = open_vector_memory(chroma_server, ("svc", "agent"), embeddings=embeddings)
    memory.add_texts(["Servers keep vectors for many processes."], ids=["s1"])
    other = open_vector_memory(chroma_server, ("svc", "agent"), embeddings=embeddings)
    assert [d.id for d, _ in other.recall("who keeps the vectors?", k=1)] == ["s1"]


def test_bad_input_gives_typed_errors(memory_dir, embeddings) -> None:
    memory = open_vector_memory(memory_dir, ("x",), embeddings=embeddings)
    with pytest.raises(MemoryInputError, match="empty"):
        memory.add_texts(["fine", "   "])
    with pytest.raises(MemoryInputError, match="empty"):
        memory.ingest("\n\n", "blank.txt")
    with pytest.raises(MemoryInputError, match="query is empty"):
        memory.recall("")
    with pytest.raises(MemoryInputError, match="threshold"):
        memory.recall("q", score_threshold=1.5)
    with pytest.raises(MemoryInputError, match="cannot search"):
        memory.recall("q", filter={"$bogus": 1})
    with pytest.raises(MemoryInputError, match="namespace"):
        open_vector_memory(memory_dir, ())
    with pytest.raises(MemoryInputError, match="cannot read"):
        memory.ingest_file(memory_dir / "missing.txt")
    assert memory.count() == 0  # nothing half-written


def test_wrong_embedding_dimension_is_a_typed_error(memory_dir, embeddings) -> None:
    memory = open_vector_memory(memory_dir, ("dims",), embeddings=embeddings)
    memory.add_texts(["a 384-dimensional vector"])
    with pytest.raises(EmbeddingDimensionError, match="384"):
        memory.add_vectors([[0.1, 0.2, 0.3]], ["three numbers"], ids=["v"])
    with pytest.raises(EmbeddingDimensionError, match="6-d"):
        VectorMemory(memory._client, ("dims",), embeddings=DeterministicFakeEmbedding(size=6))
    assert memory.count() == 1


def test_unreachable_chroma_url_is_a_typed_error() -> None:
    with pytest.raises(MemoryUnavailableError, match="cannot reach the Chroma server at http://127.0.0.1:9"):
        open_vector_memory("http://127.0.0.1:9", ("x",), embeddings=DeterministicFakeEmbedding(size=6))


def test_a_file_where_the_folder_should_be_is_a_typed_error(tmp_path) -> None:
    (tmp_path / "f").write_text("not a folder")
    with pytest.raises(MemoryUnavailableError, match="is a file"):
        open_vector_memory(tmp_path / "f", ("x",), embeddings=DeterministicFakeEmbedding(size=6))
