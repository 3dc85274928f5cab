"""LangChain's own standard test suites for chat models, run against `ChatLocal`."""

from __future__ import annotations

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from graphwright.models import ChatLocal


class ChatLocalCapabilities:
    """What `ChatLocal` offers, as the suites' documented properties read it."""

    @property
    def chat_model_class(self) -> type[ChatLocal]:
        return ChatLocal

    @property
    def chat_model_params(self) -> dict:
        return {"max_new_tokens": 48}

    @property
    def has_tool_calling(self) -> bool:
        return True

    @property
    def has_structured_output(self) -> bool:
        return True

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def supports_image_inputs(self) -> bool:
        return False  # a text-only model

    @property
    def returns_usage_metadata(self) -> bool:
        return True


class TestChatLocalUnit(ChatLocalCapabilities, ChatModelUnitTests):
    """The unit suite: construction, binding, serialization; no generation."""


@pytest.mark.model
class TestChatLocalIntegration(ChatLocalCapabilities, ChatModelIntegrationTests):
    """The integration suite on the real default model (generation included)."""
