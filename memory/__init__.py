"""Memory: checkpointers for short-term (thread) memory."""

from ._checkpoint import MEMORY, check_sqlite_path, is_postgres_url, open_checkpointer, strict_serializer

__all__ = [
    "MEMORY",
    "check_sqlite_path",
    "is_postgres_url",
    "open_checkpointer",
    "strict_serializer",
]
