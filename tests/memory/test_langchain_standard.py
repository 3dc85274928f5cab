"""LangChain's standard suites against our vector memory (a VectorStore) and our packaged embeddings."""

from __future__ import annotations

import uuid

import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests, VectorStoreIntegrationTests

from graphwright.memory import PackagedEmbeddings, VectorMemory, open_vector_memory


class TestVectorMemoryStandard(VectorStoreIntegrationTests):
    """The whole VectorStore suite (sync and async) on an embedded Chroma in a fresh folder."""

    @pytest.fixture
    def vectorstore(self, tmp_path) -> VectorMemory:
        return open_vector_memory(tmp_path / "chroma", ("standard", uuid.uuid4().hex), embeddings=self.get_embeddings())


class TestPackagedEmbeddingsStandard(EmbeddingsIntegrationTests):
    """The embeddings suite on the packaged all-MiniLM-L6-v2."""

    @property
    def embeddings_class(self) -> type[PackagedEmbeddings]:
        return PackagedEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {}
