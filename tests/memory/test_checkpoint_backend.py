"""`checkpointer_backend` names what every opener opened, so callers never compare class names."""

from __future__ import annotations

from pathlib import Path

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver, empty_checkpoint
from langgraph.checkpoint.memory import InMemorySaver

from graphwright.memory import (
    CheckpointerBackend,
    checkpointer_backend,
    open_async_checkpointer,
    open_checkpointer,
    open_postgres_checkpointer,
)


def test_the_sync_openers_report_their_backend(tmp_path: Path, postgres_url: str) -> None:
    with open_checkpointer(":memory:") as saver:
        assert checkpointer_backend(saver) == CheckpointerBackend("memory", "both")
    with open_checkpointer(tmp_path / "cp.sqlite") as saver:
        assert checkpointer_backend(saver) == CheckpointerBackend("sqlite", "sync")
    with open_checkpointer(postgres_url) as saver:
        assert checkpointer_backend(saver) == CheckpointerBackend("postgres", "sync")
    with open_postgres_checkpointer(postgres_url, pool_size=2) as saver:
        assert checkpointer_backend(saver) == CheckpointerBackend("postgres", "sync")


async def test_the_async_opener_reports_its_backend(tmp_path: Path, postgres_url: str) -> None:
    async with open_async_checkpointer(tmp_path / "cp.sqlite") as saver:
        assert checkpointer_backend(saver) == CheckpointerBackend("sqlite", "async")
    async with open_async_checkpointer(postgres_url, pool_size=2) as saver:
        assert checkpointer_backend(saver) == CheckpointerBackend("postgres", "async")


def test_subclasses_count_and_anything_else_is_none() -> None:
    class Mine(InMemorySaver):
        pass

    class Wrapper(BaseCheckpointSaver):  # a saver that only holds another one
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

    assert checkpointer_backend(Mine()).name == "memory"
    assert checkpointer_backend(Wrapper(Mine())) is None
    with pytest.raises(AttributeError):
        checkpointer_backend(Mine()).name = "sqlite"  # frozen


def test_state_files_are_created_readable_by_their_owner_only(tmp_path: Path) -> None:
    import stat

    from graphwright.learning import ExperienceStore

    db = tmp_path / "checkpoints.sqlite"
    with open_checkpointer(db) as saver:  # opening creates the file and its WAL
        saver.put({"configurable": {"thread_id": "t", "checkpoint_ns": ""}}, empty_checkpoint(), {}, {})
    old = tmp_path / "old.sqlite"
    old.touch(mode=0o644)
    old.chmod(0o644)
    with open_checkpointer(old):
        pass
    ExperienceStore(tmp_path / "experience.sqlite").close()
    for path in [*tmp_path.glob("*.sqlite*")]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
