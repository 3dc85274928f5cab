"""Reading and writing the evaluation's files: JSON lines that name the bad line, appends that reach the disk,
and whole files replaced atomically."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import TaskFileError


def read_jsonl(path: Path, *, skip_partial: bool = False) -> Iterator[tuple[int, Any]]:
    """Yield `(line number, parsed value)` for every non-blank line of the JSON-lines file `path`.

    With `skip_partial`, a last line without its newline (a write cut off by a crash) is skipped.

    Raises:
        TaskFileError: the file cannot be read, or a line is not JSON (the error names the line).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.jsonl"
        >>> _ = p.write_text('{"a": 1}\\n\\n[2]\\n')
        >>> list(read_jsonl(p))
        [(1, {'a': 1}), (3, [2])]
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskFileError(str(path), None, f"cannot read: {exc}") from exc
    if skip_partial and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise TaskFileError(str(path), number, f"not valid JSON: {exc.msg} (column {exc.colno})") from exc


class JsonlAppender:
    """Appends JSON lines to a file from many threads; each line is flushed and fsynced before `append` returns.

    A line cut short by a crash is dropped when the appender opens the file again, so the next line starts
    on a line of its own.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        _drop_partial_last_line(path)
        self._file = path.open("a", encoding="utf-8")

    def append(self, value: Any) -> None:
        """Write `value` as one JSON line and make it durable."""
        line = json.dumps(value, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._file.close()


def _drop_partial_last_line(path: Path) -> None:
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)


def write_text_atomic(path: Path, text: str | bytes) -> None:
    """Write `text` (UTF-8; or bytes as they are) to `path` through a temporary file and `os.replace`, so
    readers never see half a file."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644  # mkstemp's 0600 would hide reports
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8") if isinstance(text, str) else text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
