"""One memory and process budget for a whole sandbox: a control group of its own, v2 or v1, where one can be made.

`open_budget` makes a fresh group with a memory limit (swap off) and a process limit; the sandbox's first
process joins it before it forks, so everything the code starts, and the files it writes to its in-memory
/tmp, count against the same limits. Where no group can be made (no cgroup file system, no memory or pids
controller, no permission), it returns None and the sandbox falls back to limits per process (see `_sandbox`).
"""

from __future__ import annotations

import functools
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

_ROOT = Path("/sys/fs/cgroup")


@dataclass
class Budget:
    """A control group made for one sandboxed run."""

    kind: str
    """"cgroup v2" or "cgroup v1"."""
    folders: list[Path]
    """The group's folders (one in v2; the memory and the pids group in v1)."""

    @property
    def procs_files(self) -> list[str]:
        """The files a process writes its pid to, to join the group."""
        return [str(folder / "cgroup.procs") for folder in self.folders]

    def oom_killed(self) -> bool:
        """True when the memory limit made the kernel kill a process of the group."""
        for folder in self.folders:
            for name in ("memory.events", "memory.oom_control"):
                try:
                    text = (folder / name).read_text()
                except OSError:
                    continue
                for line in text.splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill" and value.strip() not in ("", "0"):
                        return True
        return False

    def close(self) -> None:
        """Kill what is left in the group and remove it."""
        for folder in self.folders:
            for _ in range(50):
                try:
                    pids = [int(p) for p in (folder / "cgroup.procs").read_text().split()]
                except OSError:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)  # the last processes are still exiting


def open_budget(memory_bytes: int, processes: int) -> Budget | None:
    """Make a control group limited to `memory_bytes` of memory (no swap) and `processes` tasks, or return None.

    Example:
        >>> budget = open_budget(64 * 2**20, 8)
        >>> budget is None or budget.kind in ("cgroup v2", "cgroup v1")
        True
        >>> budget is None or budget.close()
    """
    parents = _parents()
    if parents is None:
        return None
    kind, where = parents
    name = f"graphwright-sandbox-{uuid.uuid4().hex[:12]}"
    made: list[Path] = []
    try:
        if kind == "cgroup v2":
            folder = where["unified"] / name
            folder.mkdir()
            made.append(folder)
            _write(folder / "memory.max", memory_bytes)
            _write(folder / "memory.swap.max", 0, optional=True)
            _write(folder / "pids.max", processes)
        else:
            memory, pids = where["memory"] / name, where["pids"] / name
            memory.mkdir()
            made.append(memory)
            pids.mkdir()
            made.append(pids)
            _write(memory / "memory.limit_in_bytes", memory_bytes)
            _write(memory / "memory.memsw.limit_in_bytes", memory_bytes, optional=True)
            _write(pids / "pids.max", processes)
    except OSError:
        Budget(kind, made).close()
        return None
    return Budget(kind, made)


def _write(path: Path, value: int, *, optional: bool = False) -> None:
    try:
        path.write_text(str(value))
    except OSError:
        if not optional:
            raise


@functools.cache
def _parents() -> tuple[str, dict[str, Path]] | None:
    """Where this process may make groups: ("cgroup v2", {"unified": folder}) or ("cgroup v1", {...}), or None."""
    own = _own_groups()
    if (_ROOT / "cgroup.controllers").exists():  # a pure v2 hierarchy
        for parent in _candidates(_ROOT, own.get("")):
            if _v2_ready(parent):
                return "cgroup v2", {"unified": parent}
        return None
    found: dict[str, Path] = {}
    for controller in ("memory", "pids"):
        places = [p for p in _candidates(_ROOT / controller, own.get(controller)) if _writable(p)]
        if not places:
            return None
        found[controller] = places[0]
    return "cgroup v1", found


def _own_groups() -> dict[str, str]:
    """This process's group per controller ("" for the v2 hierarchy), from /proc/self/cgroup."""
    groups: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return groups
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            groups[controller] = path
    return groups


def _candidates(mount: Path, own: str | None) -> list[Path]:
    """This process's own group first (when the mount shows it), then the top of the mount."""
    places = []
    if own and own != "/" and (mount / own.lstrip("/")).is_dir():
        places.append(mount / own.lstrip("/"))
    if mount.is_dir():
        places.append(mount)
    return places


def _writable(folder: Path) -> bool:
    return (folder / "cgroup.procs").exists() and os.access(folder, os.W_OK)


def _v2_ready(parent: Path) -> bool:
    """True when groups made in `parent` get the memory and pids controllers (enabling them if allowed)."""
    if not _writable(parent):
        return False
    try:
        enabled = set((parent / "cgroup.subtree_control").read_text().split())
        if not {"memory", "pids"} <= enabled:
            (parent / "cgroup.subtree_control").write_text("+memory +pids")
        return {"memory", "pids"} <= set((parent / "cgroup.subtree_control").read_text().split())
    except OSError:
        return False
