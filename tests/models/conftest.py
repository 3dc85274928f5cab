"""Fixtures of the model tests: Transformers' model of the default model, the reference graphwright's decoder
(models/_qwen2.py) is held to."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def transformers_model():
    """Transformers' Qwen2 model of the default model, with the int8 layers and fast path `LocalModel` gives its
    own decoder (read from the model's folder, not the load cache), loaded once per session."""
    from graphwright.models import resolve
    from graphwright.models._packed import read_model

    return read_model(resolve(None).folder, "bfloat16", "int8")
