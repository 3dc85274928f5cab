"""The `rag` graph on the default model, over a real document: Uvicorn's package description (BSD-3-Clause,
read from the installed package's metadata), chunked into a Chroma collection in a temporary folder.

Run: python examples/rag_package_docs.py
"""

from __future__ import annotations

import importlib.metadata
import tempfile
from pathlib import Path

from _show import run_and_show

from graphwright.graphs import RagOptions, build_rag, compile_graph
from graphwright.memory import open_vector_memory, packaged_embeddings
from graphwright.models import ChatLocal
from graphwright.nodes import RetrieverOptions

QUESTION = "What kind of web server is Uvicorn?"
EXPECTED = "ASGI"


def main(model=None) -> dict:
    """Ingest the document, then build, compile and run the rag graph on `QUESTION`; return the final state."""
    model = model or ChatLocal(max_new_tokens=48)
    with tempfile.TemporaryDirectory() as folder:
        document = Path(folder) / "uvicorn.md"
        document.write_text(importlib.metadata.metadata("uvicorn").get_payload())
        memory = open_vector_memory(Path(folder) / "chroma", ("docs",), embeddings=packaged_embeddings())
        memory.ingest_file(document, source="uvicorn")
        options = RagOptions(max_revisions=0, retriever=RetrieverOptions(k=2, token_budget=200))
        graph = compile_graph(build_rag(model, memory=memory, options=options))
        return run_and_show(graph, QUESTION)


if __name__ == "__main__":
    main()
