"""Workspace file tools: read, write and list files inside one folder and nowhere else.

A path must be relative, may not contain `..`, and must resolve (following symlinks) inside the workspace;
the last component is opened with `O_NOFOLLOW`, so a symlink swapped in after the check is not followed.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from langchain_core.tools import StructuredTool

from ..errors import ToolPathError
from ._registry import register_tool


class Workspace:
    """One folder the file tools are confined to.

    Example:
        >>> import tempfile
        >>> ws = Workspace(tempfile.mkdtemp())
        >>> ws.write("notes/a.txt", "hello")
        'wrote 5 characters to notes/a.txt'
        >>> ws.read("notes/a.txt")
        'hello'
        >>> ws.read("../etc/passwd")
        Traceback (most recent call last):
        ...
        graphwright.errors.ToolPathError: path '../etc/passwd' climbs out with '..'; use a path inside the workspace
    """

    def __init__(self, root: str | os.PathLike[str], *, max_read_chars: int = 100_000) -> None:
        """Confine file access to the existing folder `root`; reads return at most `max_read_chars`."""
        real = Path(os.path.realpath(root))
        if not real.is_dir():
            raise ToolPathError(f"workspace {str(root)!r} is not an existing folder")
        self.root = real
        self.max_read_chars = max_read_chars

    def resolve(self, path: str) -> Path:
        """Return the absolute path `path` names inside the workspace.

        Raises:
            ToolPathError: `path` is empty, absolute, contains `..` or a NUL, or resolves outside the workspace.
        """
        if not isinstance(path, str) or not path.strip() or "\x00" in path:
            raise ToolPathError(f"invalid path {path!r}")
        pure = PurePosixPath(path)
        if pure.is_absolute() or path.startswith(("~", "\\")):
            raise ToolPathError(f"path {path!r} is absolute; use a path relative to the workspace")
        if ".." in pure.parts:
            raise ToolPathError(f"path {path!r} climbs out with '..'; use a path inside the workspace")
        target = self.root / pure
        real = Path(os.path.realpath(target))
        if real != self.root and self.root not in real.parents:
            raise ToolPathError(f"path {path!r} leads outside the workspace (through a symlink)")
        return target

    def read(self, path: str) -> str:
        """Return the text of the file `path` (cut to `max_read_chars`)."""
        target = self.resolve(path)
        fd = _open(target, os.O_RDONLY, path)
        with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as fh:
            text = fh.read(self.max_read_chars + 1)
        return text if len(text) <= self.max_read_chars else text[: self.max_read_chars] + "\n… [file cut]"

    def write(self, path: str, content: str) -> str:
        """Write `content` to the file `path` (replacing it; folders are created) and say what was written."""
        target = self.resolve(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        self.resolve(path)  # the folders just made may not be symlinks out either
        fd = _open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, path)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        return f"wrote {len(content)} characters to {path}"

    def list(self, path: str = ".") -> str:
        """Return the entries of the folder `path`, one per line, folders ending in `/`."""
        target = self.resolve(path) if path not in ("", ".") else self.root
        if not target.is_dir():
            raise ToolPathError(f"{path!r} is not a folder in the workspace")
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in target.iterdir())
        return "\n".join(names) or "(empty)"


def _open(target: Path, flags: int, shown: str) -> int:
    try:
        return os.open(target, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as exc:
        if exc.errno == 40:  # ELOOP: the last component is a symlink
            raise ToolPathError(f"path {shown!r} is a symlink; the workspace does not follow them") from exc
        raise ToolPathError(f"cannot open {shown!r}: {exc.strerror}") from exc


def workspace_tools(root: str | os.PathLike[str], *, write_permission: str | None = "workspace:write") -> list[StructuredTool]:
    """Return `read_file`, `list_files` and `write_file` tools confined to the folder `root`.

    `write_file` has side effects (recorded, never repeated on resume) and needs `write_permission` (default
    "workspace:write") granted by the agent's `ToolPolicy`; None lets any agent write.

    Example:
        >>> import tempfile
        >>> [t.name for t in workspace_tools(tempfile.mkdtemp())]
        ['read_file', 'list_files', 'write_file']
    """
    workspace = Workspace(root)

    def read_file(path: str) -> str:
        """Read a text file in the workspace.

        Args:
            path: the file's path relative to the workspace, e.g. "notes/todo.txt".
        """
        return workspace.read(path)

    def list_files(path: str = ".") -> str:
        """List a folder in the workspace.

        Args:
            path: the folder's path relative to the workspace ("." for its top).
        """
        return workspace.list(path)

    def write_file(path: str, content: str) -> str:
        """Write a text file in the workspace, replacing it if it exists.

        Args:
            path: the file's path relative to the workspace.
            content: the complete new text of the file.
        """
        return workspace.write(path, content)

    return [
        register_tool(side_effects=False)(read_file),
        register_tool(side_effects=False)(list_files),
        register_tool(side_effects=True, permission=write_permission)(write_file),
    ]
