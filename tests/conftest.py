"""Shared fixtures: the real default model (loaded once per session), Postgres, and service policy.

Set GRAPHWRIGHT_REQUIRE_SERVICES=1 (CI does) to turn "Postgres unreachable" skips into failures.
"""

from __future__ import annotations

import os
import signal
import uuid

import pytest
from services import require_service

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

# A shell starts a background job (`cmd &` without job control) with SIGINT ignored, and an ignored signal stays
# ignored across exec: the Ctrl-C tests' `graphwright` subprocesses would never see their SIGINT. Catching it
# here gives every child the default disposition, which Python turns into KeyboardInterrupt, as at a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

POSTGRES_URL = os.environ.get("GRAPHWRIGHT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("GRAPHWRIGHT_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The URL of the test Postgres database; skips (or fails under CI) when it is unreachable."""
    import psycopg

    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            conn.execute("select 1")
    except psycopg.Error as exc:
        require_service("Postgres", str(exc).strip())
    return POSTGRES_URL


@pytest.fixture(scope="session")
def local_chat_model():
    """The real default chat model, loaded once for the whole session."""
    from graphwright.models import ChatLocal

    model = ChatLocal(max_new_tokens=64)
    model.load()
    return model


@pytest.fixture
def thread_id() -> str:
    """A thread id unique to this test (Postgres is shared between runs)."""
    return f"test-{uuid.uuid4().hex[:12]}"
