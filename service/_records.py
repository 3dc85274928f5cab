"""Who owns which thread and what each run is doing: the `Records` interface, which three backends implement.

Checkpoints (the graph state) live in the checkpointer; these records hold what the API adds on top: a thread's
owner, metadata and status (`idle`, `busy`, `interrupted`, `error`), and each run's status. The backends are
`MemoryRecords` (one process), `SqliteRecords` (beside a SQLite checkpoint file, one process) and
`PostgresRecords` (shared by every worker on one database).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

TERMINAL = frozenset({"success", "error", "timeout", "interrupted"})
"""Run statuses after which a run no longer changes."""


def now() -> str:
    """The current UTC time as an ISO 8601 string."""
    return datetime.now(UTC).isoformat()


def matches_metadata(metadata: dict, wanted: dict | None) -> bool:
    """True when `metadata` holds every key of `wanted` with the same value (no filter matches everything)."""
    return all(metadata.get(k) == v for k, v in (wanted or {}).items())


def new_thread_row(thread_id: str, owner: str, graph_id: str | None, metadata: dict[str, Any]) -> dict[str, Any]:
    """A thread row for `Records.create_thread`: idle, created and updated now."""
    stamp = now()
    return {
        "thread_id": thread_id,
        "owner": owner,
        "graph_id": graph_id,
        "status": "idle",
        "metadata": metadata,
        "created_at": stamp,
        "updated_at": stamp,
    }


@runtime_checkable
class Records(Protocol):
    """Where the service keeps its thread and run records; every backend implements exactly these methods.

    A thread row is a dict with `thread_id`, `owner` (the tenant), `graph_id` (or None), `status`, `metadata`
    (a JSON object), `created_at` and `updated_at` (ISO 8601 strings, see `now`). A run row has `run_id`,
    `thread_id`, `owner`, `assistant_id`, `status` (`pending`, `running`, then one of `TERMINAL`), `metadata`,
    `kwargs` (the JSON request, enough to run it again after a restart), `multitask_strategy`, `created_at` and `updated_at`. Rows come back as fresh
    dicts: changing one changes no record.

    Every method that takes an `owner` treats another owner's thread or run as missing, so a tenant cannot
    tell it exists. Claiming a thread for a run is one atomic conditional update, so two runs (in one worker
    or several sharing a backend) never hold the same thread at once.
    """

    shared: bool
    """True when several worker processes share these records (cancellations then go through them)."""

    async def setup(self) -> None:
        """Prepare the backend once before first use (connect, create missing tables); idempotent."""
        ...

    async def close(self) -> None:
        """Release what `setup` acquired; connections the backend was given stay open."""
        ...

    async def create_thread(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """Insert `row`; return None (and change nothing) when the thread id is taken."""
        ...

    async def get_thread(self, thread_id: str, owner: str) -> dict[str, Any] | None:
        """The thread, or None when it does not exist or belongs to another owner."""
        ...

    async def thread_exists(self, thread_id: str) -> bool:
        """True when any owner has a thread with this id."""
        ...

    async def patch_thread(self, thread_id: str, owner: str, metadata: dict[str, Any]) -> dict[str, Any] | None:
        """Merge `metadata` into the thread's; return the thread or None when not found."""
        ...

    async def set_graph(self, thread_id: str, graph_id: str) -> None:
        """Record which graph runs on the thread."""
        ...

    async def search_threads(
        self, owner: str, *, metadata: dict | None, status: str | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        """The owner's threads matching `metadata` and `status`, newest first."""
        ...

    async def delete_thread(self, thread_id: str, owner: str) -> bool:
        """Delete the thread and its runs; False when not found."""
        ...

    async def claim_thread(self, thread_id: str, owner: str) -> bool:
        """Mark the thread busy unless it already is; True when this call claimed it (atomically)."""
        ...

    async def renew(self, thread_ids: list[str], run_ids: list[str]) -> None:
        """Renew this worker's claims on `thread_ids` and its leases on `run_ids`, so other workers do not take
        them over as abandoned."""
        ...

    async def adopt_orphans(self, assistant_ids: list[str]) -> list[dict[str, Any]]:
        """Take over runs of `assistant_ids` left `pending` or `running` by a worker that is gone; return them.

        A gone worker is one whose leases expired (shared records) or, for one-process records, the process that
        had the records before `setup`. Each orphan is adopted by one caller only (atomically): it renews the
        run's lease and must execute the run or record how it ended. Runs of other assistants are left for a
        worker that serves them.
        """
        ...

    async def release_thread(self, thread_id: str, status: str) -> None:
        """Set a claimed thread's status to `status` (`idle`, `interrupted` or `error`)."""
        ...

    async def create_run(self, row: dict[str, Any]) -> None:
        """Insert a run record."""
        ...

    async def get_run(self, run_id: str, thread_id: str, owner: str) -> dict[str, Any] | None:
        """The run, or None when it is not on this thread of this owner."""
        ...

    async def list_runs(
        self, thread_id: str, owner: str, *, status: str | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        """The thread's runs, newest first."""
        ...

    async def set_run_status(self, run_id: str, status: str) -> None:
        """Set a run's status (and its `updated_at`)."""
        ...

    async def delete_run(self, run_id: str) -> None:
        """Forget a run."""
        ...

    async def request_cancel(self, run_id: str) -> None:
        """Flag a run for cancellation (read by whichever worker runs it)."""
        ...

    async def cancel_requested(self, run_ids: list[str]) -> set[str]:
        """Which of `run_ids` have been flagged for cancellation."""
        ...
