"""What a test does when a service it needs (Postgres, Redis, a collector) cannot be reached.

A plain module rather than a conftest name: `from conftest import ...` finds whichever conftest.py pytest
imported first under that name, which depends on which tests are collected.
"""

from __future__ import annotations

import os

import pytest


def require_service(name: str, reason: str) -> None:
    """Skip the test because service `name` is unreachable, or fail when CI requires services
    (GRAPHWRIGHT_REQUIRE_SERVICES=1)."""
    if os.environ.get("GRAPHWRIGHT_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{name} is required (GRAPHWRIGHT_REQUIRE_SERVICES=1) but unreachable: {reason}")
    pytest.skip(f"{name} unreachable: {reason}")
