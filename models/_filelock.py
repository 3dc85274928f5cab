"""One builder per cache entry: an exclusive lock on a file beside the entry, across threads and processes.

Model caches are built on first use (the default GGUF assembled, converted to a dense folder, packed for the
kernels), and a first use is often many at once: an eval's concurrent tasks in one process, service workers
and Ray actors on one machine. Each build holds the whole model in memory several times over, so N builders at
once can exhaust the machine's memory where one would not. Every writer still renames a finished temporary
into place, so the lock is about memory and wasted work, not correctness: where it cannot be taken (a
read-only cache folder, no `fcntl`), the build goes on without it, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: threads of this process are still kept apart
    fcntl = None  # type: ignore[assignment]

_GUARD = threading.Lock()
_THREADS: dict[str, threading.Lock] = {}  # per lock file: keeps this process's threads apart without flock


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file `path` (created if missing) for the block, waiting for any holder.

    A second caller, in this process or another, waits until the first leaves the block; it should then look
    again for what the first built. The lock goes with the process, so a killed holder releases it.

    Example:
        >>> import tempfile
        >>> with exclusive(Path(tempfile.mkdtemp()) / ".build.lock"):
        ...     print("only one builder here")
        only one builder here
    """
    with _GUARD:
        threads = _THREADS.setdefault(str(path), threading.Lock())
    with threads:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a+b")  # noqa: SIM115 - closed below; the lock lives as long as the handle
        except OSError:  # a cache folder that cannot be written: the build in the block finds out and says so
            handle = None
        if handle is None:
            yield
            return
        with handle:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_EX)
            yield
