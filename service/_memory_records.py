"""Thread and run records in this process's memory: one worker, lost on restart (see `Records`)."""

from __future__ import annotations

import copy
from typing import Any

from ._records import matches_metadata, now


class MemoryRecords:
    """Thread and run records in this process's memory (one worker; lost on restart)."""

    shared = False

    def __init__(self) -> None:
        self._threads: dict[str, dict[str, Any]] = {}
        self._runs: dict[str, dict[str, Any]] = {}
        self._cancel: set[str] = set()

    async def setup(self) -> None:
        """Nothing to create."""

    async def create_thread(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """Insert `row`; return None (and change nothing) when the thread id is taken."""
        if row["thread_id"] in self._threads:
            return None
        self._threads[row["thread_id"]] = copy.deepcopy(row)
        return copy.deepcopy(row)

    async def get_thread(self, thread_id: str, owner: str) -> dict[str, Any] | None:
        """The thread, or None when it does not exist or belongs to another owner."""
        row = self._threads.get(thread_id)
        return copy.deepcopy(row) if row and row["owner"] == owner else None

    async def thread_exists(self, thread_id: str) -> bool:
        """True when any owner has a thread with this id."""
        return thread_id in self._threads

    async def patch_thread(self, thread_id: str, owner: str, metadata: dict[str, Any]) -> dict[str, Any] | None:
        """Merge `metadata` into the thread's; return the thread or None when not found."""
        row = self._threads.get(thread_id)
        if not row or row["owner"] != owner:
            return None
        row["metadata"] = {**row["metadata"], **metadata}
        row["updated_at"] = now()
        return copy.deepcopy(row)

    async def set_graph(self, thread_id: str, graph_id: str) -> None:
        """Record which graph runs on the thread."""
        if thread_id in self._threads:
            self._threads[thread_id]["graph_id"] = graph_id

    async def search_threads(
        self, owner: str, *, metadata: dict | None, status: str | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        """The owner's threads matching `metadata` and `status`, newest first."""
        rows = [
            r
            for r in self._threads.values()
            if r["owner"] == owner
            and matches_metadata(r["metadata"], metadata)
            and (status is None or r["status"] == status)
        ]
        rows.sort(key=lambda r: r["created_at"], reverse=True)
        return copy.deepcopy(rows[offset : offset + limit])

    async def delete_thread(self, thread_id: str, owner: str) -> bool:
        """Delete the thread and its runs; False when not found."""
        row = self._threads.get(thread_id)
        if not row or row["owner"] != owner:
            return False
        del self._threads[thread_id]
        for run_id in [k for k, r in self._runs.items() if r["thread_id"] == thread_id]:
            del self._runs[run_id]
        return True

    async def claim_thread(self, thread_id: str, owner: str) -> bool:
        """Mark the thread busy unless it already is; True when this call claimed it."""
        row = self._threads.get(thread_id)
        if not row or row["owner"] != owner or row["status"] == "busy":
            return False
        row["status"] = "busy"
        row["updated_at"] = now()
        return True

    async def renew(self, thread_ids: list[str], run_ids: list[str]) -> None:
        """Nothing to renew: one process holds every claim."""

    async def adopt_orphans(self, assistant_ids: list[str]) -> list[dict[str, Any]]:
        """None: these records die with the process that ran their runs."""
        return []

    async def release_thread(self, thread_id: str, status: str) -> None:
        """Set a claimed thread's status to `status` (`idle`, `interrupted` or `error`)."""
        if thread_id in self._threads:
            self._threads[thread_id]["status"] = status
            self._threads[thread_id]["updated_at"] = now()

    async def create_run(self, row: dict[str, Any]) -> None:
        """Insert a run record."""
        self._runs[row["run_id"]] = copy.deepcopy(row)

    async def get_run(self, run_id: str, thread_id: str, owner: str) -> dict[str, Any] | None:
        """The run, or None when it is not on this thread of this owner."""
        row = self._runs.get(run_id)
        if not row or row["thread_id"] != thread_id or row["owner"] != owner:
            return None
        return copy.deepcopy(row)

    async def list_runs(
        self, thread_id: str, owner: str, *, status: str | None, limit: int, offset: int
    ) -> list[dict[str, Any]]:
        """The thread's runs, newest first."""
        rows = [
            r
            for r in self._runs.values()
            if r["thread_id"] == thread_id and r["owner"] == owner and (status is None or r["status"] == status)
        ]
        rows.sort(key=lambda r: r["created_at"], reverse=True)
        return copy.deepcopy(rows[offset : offset + limit])

    async def set_run_status(self, run_id: str, status: str) -> None:
        """Set a run's status (and its `updated_at`)."""
        if run_id in self._runs:
            self._runs[run_id]["status"] = status
            self._runs[run_id]["updated_at"] = now()

    async def delete_run(self, run_id: str) -> None:
        """Forget a run."""
        self._runs.pop(run_id, None)

    async def request_cancel(self, run_id: str) -> None:
        """Flag a run for cancellation (read by whichever worker runs it)."""
        self._cancel.add(run_id)

    async def cancel_requested(self, run_ids: list[str]) -> set[str]:
        """Which of `run_ids` have been flagged for cancellation."""
        return {r for r in run_ids if r in self._cancel}

    async def close(self) -> None:
        """Nothing to close."""
