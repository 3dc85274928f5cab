"""Threads: validating their ids and reading where a thread's run stands."""

from __future__ import annotations

import re
import uuid

from langchain_core.runnables import RunnableConfig

from ..errors import InvalidThreadIdError

_THREAD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def check_thread_id(thread_id: str) -> str:
    """Return `thread_id` if it is 1-128 characters of `[A-Za-z0-9._:-]` starting with a letter or digit.

    Raises:
        InvalidThreadIdError: it is not.

    Example:
        >>> check_thread_id("user-42.chat:7")
        'user-42.chat:7'
    """
    if not isinstance(thread_id, str) or not _THREAD_ID.fullmatch(thread_id):
        raise InvalidThreadIdError(
            f"invalid thread id {thread_id!r}: use 1-128 letters, digits, '.', '_', ':' or '-', "
            "starting with a letter or digit"
        )
    return thread_id


def new_thread_id() -> str:
    """Return a fresh random thread id."""
    return uuid.uuid4().hex


def thread_config(thread_id: str, *, recursion_limit: int = 50) -> RunnableConfig:
    """Return the run config for `thread_id` (checked) with a bound on super-steps."""
    return {"configurable": {"thread_id": check_thread_id(thread_id)}, "recursion_limit": recursion_limit}
