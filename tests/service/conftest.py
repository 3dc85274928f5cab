"""Fixtures for the service tests; the helpers they use live in `service_support` (a unique module name)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from service_support import LiveServer, make_app


@pytest.fixture(scope="module")
def live_server() -> Iterator[LiveServer]:
    """A live server over `make_app()` for the whole module."""
    os.environ.setdefault("GW_SLOW_SECONDS", "30")
    with LiveServer(make_app()) as server:
        yield server
