"""Workspace file tools: read, write and list files inside one folder and nowhere else.

A path must be relative, may not contain `..`, and must resolve (following symlinks) inside the workspace:
that check gives a clear message. The kernel then enforces it when the file is opened, so a folder swapped for
a symlink between the check and the open cannot lead out: the path is opened relative to a handle on the
workspace with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` where the kernel has it (Linux 5.6+), else by
walking it one component at a time, each opened with `O_NOFOLLOW` relative to the folder before it. Folders a
write creates are made the same way. A regular file with more than one hard link is refused (a link planted in
the workspace to a file outside would otherwise read or overwrite that file), and so is anything that is not a
regular file (a FIFO or device); a write truncates only after these checks.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
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
        self.resolve(path)
        fd = self._open_file(path, os.O_RDONLY)
        with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as fh:
            text = fh.read(self.max_read_chars + 1)
        return text if len(text) <= self.max_read_chars else text[: self.max_read_chars] + "\n… [file cut]"

    def write(self, path: str, content: str) -> str:
        """Write `content` to the file `path` (replacing it; folders are created) and say what was written."""
        self.resolve(path)
        parts = PurePosixPath(path).parts
        root = _open_root(self.root)
        try:
            parent = _walk(root, parts[:-1], path, create=True)
        finally:
            os.close(root)
        try:
            fd = self._open_file(parts[-1], os.O_WRONLY | os.O_CREAT, base=parent, shown=path)
        finally:
            os.close(parent)
        os.ftruncate(fd, 0)  # only now: the checks above could still refuse the file
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        return f"wrote {len(content)} characters to {path}"

    def list(self, path: str = ".") -> str:
        """Return the entries of the folder `path`, one per line, folders ending in `/`."""
        if path not in ("", "."):
            self.resolve(path)
        root = _open_root(self.root)
        try:
            try:
                fd = _beneath(root, path if path not in ("", ".") else ".", os.O_RDONLY | os.O_DIRECTORY, path)
            except ToolPathError as exc:
                if "Not a directory" in str(exc):
                    raise ToolPathError(f"{path!r} is not a folder in the workspace") from exc
                raise
        finally:
            os.close(root)
        try:
            names = sorted(name + ("/" if _is_dir(fd, name) else "") for name in os.listdir(fd))
        finally:
            os.close(fd)
        return "\n".join(names) or "(empty)"

    def _open_file(self, path: str, flags: int, *, base: int | None = None, shown: str | None = None) -> int:
        """Open the regular file `path` beneath the workspace (or beneath folder handle `base`), refusing hard links."""
        shown = shown or path
        root = _open_root(self.root) if base is None else base
        try:
            fd = _beneath(root, path, flags | os.O_NONBLOCK, shown)  # O_NONBLOCK: a FIFO must not hang the open
        finally:
            if base is None:
                os.close(root)
        info = os.fstat(fd)
        problem = None
        if not stat.S_ISREG(info.st_mode):
            problem = f"path {shown!r} is not a regular file"
        elif info.st_nlink > 1:
            problem = f"path {shown!r} has {info.st_nlink} hard links; the workspace refuses files linked from elsewhere"
        if problem:
            os.close(fd)
            raise ToolPathError(problem)
        os.set_blocking(fd, True)
        return fd


_O_PATH = getattr(os, "O_PATH", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_RESOLVE_NO_MAGICLINKS, _RESOLVE_NO_SYMLINKS, _RESOLVE_BENEATH = 0x02, 0x04, 0x08
_SYS_OPENAT2 = 437  # the same number on every Linux architecture (added after the syscall tables were unified)


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def _load_openat2():
    """The openat2 system call through libc, or None where it cannot be reached (not Linux, old kernel)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
    except (OSError, AttributeError):
        return None

    def openat2(dirfd: int, path: str, flags: int, mode: int) -> int:
        how = _OpenHow(flags | _CLOEXEC, mode if flags & os.O_CREAT else 0, _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS)
        fd = libc.syscall(_SYS_OPENAT2, dirfd, os.fsencode(path), ctypes.byref(how), ctypes.sizeof(how))
        if fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), path)
        return fd

    try:  # probe once: ENOSYS on kernels before 5.6, EPERM under some seccomp filters
        os.close(openat2(os.open("/", os.O_RDONLY | os.O_DIRECTORY), ".", os.O_RDONLY | os.O_DIRECTORY, 0))
    except OSError:
        return None
    return openat2


_OPENAT2 = _load_openat2() if os.name == "posix" and hasattr(os, "O_NOFOLLOW") else None


def _open_root(root: Path) -> int:
    return os.open(root, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)


def _beneath(dirfd: int, path: str, flags: int, shown: str) -> int:
    """Open `path` relative to folder handle `dirfd`, never leaving it and never following a symlink."""
    try:
        if _OPENAT2 is not None:
            return _OPENAT2(dirfd, path, flags, 0o644)
        parts = PurePosixPath(path).parts or (".",)
        parent = _walk(dirfd, parts[:-1], shown, create=False)
        try:
            return os.open(parts[-1], flags | os.O_NOFOLLOW | _CLOEXEC, 0o644, dir_fd=parent)
        finally:
            os.close(parent)
    except OSError as exc:
        raise _path_error(exc, shown) from exc


def _walk(dirfd: int, parts: tuple[str, ...], shown: str, *, create: bool) -> int:
    """Return a new handle on folder `parts` beneath `dirfd`, one component at a time, making missing ones."""
    current = os.dup(dirfd)
    try:
        for part in parts:
            if create:
                try:
                    os.mkdir(part, 0o755, dir_fd=current)
                except FileExistsError:
                    pass
            try:
                following = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC, dir_fd=current)
            except OSError as exc:
                raise _path_error(exc, shown) from exc
            os.close(current)
            current = following
        return current
    except BaseException:
        os.close(current)
        raise


def _is_dir(fd: int, name: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=fd).st_mode)
    except OSError:
        return False


def _path_error(exc: OSError, shown: str) -> ToolPathError:
    if exc.errno in (errno.ELOOP, errno.EXDEV):  # a symlink on the way, or a path that would leave the folder
        return ToolPathError(f"path {shown!r} is a symlink or leads through one; the workspace does not follow them")
    return ToolPathError(f"cannot open {shown!r}: {exc.strerror}")


def workspace_tools(root: str | os.PathLike[str], *, write_permission: str | None = "workspace:write") -> list[StructuredTool]:
    """Return `read_file`, `list_files` and `write_file` tools confined to the folder `root`.

    `write_file` has side effects (recorded, never repeated on resume) and needs `write_permission` (default
    "workspace:write") granted by the agent's `ToolPolicy`; None lets any agent write. What `read_file` and
    `list_files` return (files and their names) may have been written by others, so both are `untrusted_output`:
    after them, side-effecting calls go through `ToolPolicy.after_untrusted`.

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
        register_tool(side_effects=False, untrusted_output=True)(read_file),
        register_tool(side_effects=False, untrusted_output=True)(list_files),
        register_tool(side_effects=True, permission=write_permission)(write_file),
    ]
