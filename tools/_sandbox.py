"""The Python code tool: runs model-written code in a separate, confined process.

The code runs in its own mount, network, PID, IPC and UTS namespaces (a user namespace too when graphwright is
not root): no network interface but a downed loopback, a fresh /proc that shows only its own processes, every
mount read-only except its temporary folder (seen as /tmp), an unprivileged user without capabilities, limits on
CPU time, memory, file size, processes and open files, a wall-clock timeout, and an environment of four plain
variables (no secrets). Output is written to files inside the temporary folder, so the file-size limit bounds it.
If the namespaces cannot be created here, the tool refuses to run code rather than run it unconfined.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from langchain_core.tools import StructuredTool

from ..errors import SandboxUnavailableError
from ._registry import register_tool

_BOOT = Path(__file__).with_name("_sandbox_boot.py")
_NOBODY = 65534
_SETUP_FAILED = 125


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one sandboxed run."""

    cpu_seconds: int = 5
    """CPU seconds the code may use (RLIMIT_CPU); past it the process is killed with SIGXCPU."""
    wall_seconds: float = 10.0
    """Seconds of real time before the whole sandbox is killed (catches sleeping and blocked code)."""
    memory_bytes: int = 512 * 1024 * 1024
    """Address space of each process (RLIMIT_AS): 512 MiB."""
    file_bytes: int = 8 * 1024 * 1024
    """Largest file the code may write, its output included (RLIMIT_FSIZE): 8 MiB."""
    processes: int = 16
    """Processes and threads the sandbox user may have at once (RLIMIT_NPROC)."""
    output_chars: int = 8000
    """Characters of stdout and of stderr returned."""


@dataclass(frozen=True)
class SandboxResult:
    """What a sandboxed run produced."""

    exit_code: int
    """The code's exit status; 128+N when killed by signal N (e.g. 152 for SIGXCPU)."""
    stdout: str
    """Its standard output (cut to `SandboxLimits.output_chars`)."""
    stderr: str
    """Its standard error (cut the same way)."""
    timed_out: bool
    """True when the wall-clock limit killed it."""

    def describe(self) -> str:
        """Return the result as text for a model: status line, then stdout and stderr when not empty."""
        if self.timed_out:
            status = "killed: wall-clock time limit exceeded"
        elif self.exit_code > 128 and self.exit_code - 128 in _SIGNALS:
            status = f"killed: {_SIGNALS[self.exit_code - 128]}"
        else:
            status = f"exit code {self.exit_code}"
        parts = [status]
        if self.stdout:
            parts.append(f"stdout:\n{self.stdout}")
        if self.stderr:
            parts.append(f"stderr:\n{self.stderr}")
        return "\n".join(parts)


_SIGNALS = {
    signal.SIGXCPU: "CPU time limit exceeded",
    signal.SIGXFSZ: "file size limit exceeded",
    signal.SIGKILL: "killed (memory or time limit)",
    signal.SIGSEGV: "segmentation fault (memory limit?)",
}


def run_python(code: str, limits: SandboxLimits = SandboxLimits()) -> SandboxResult:
    """Run the Python source `code` in a fresh sandbox and return its exit status and output.

    Args:
        code: a Python program; it runs as a script with the standard library and the installed packages.
        limits: resource limits.

    Raises:
        SandboxUnavailableError: this machine cannot create the namespaces (nothing was run).

    Example:
        >>> run_python("print(6 * 7)").stdout
        '42\\n'
    """
    workdir = Path(tempfile.mkdtemp(prefix="gw-python-"))
    try:
        (workdir / "main.py").write_text(code)
        if os.geteuid() == 0:
            os.chown(workdir, _NOBODY, _NOBODY)
        os.chmod(workdir, 0o755)
        (workdir / "main.py").chmod(0o644)
        settings = json.dumps({**asdict(limits), "python": _interpreter()})
        with open(workdir / ".stdout", "wb+") as out, open(workdir / ".stderr", "wb+") as err:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(_BOOT), str(workdir), settings],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                cwd="/",
                start_new_session=True,
            )
            timed_out = _wait(proc, limits.wall_seconds)
            stdout, stderr = _read(out, limits.output_chars), _read(err, limits.output_chars)
        if proc.returncode == _SETUP_FAILED and stderr.startswith("graphwright-sandbox:"):
            raise SandboxUnavailableError(f"cannot confine Python code here: {stderr.strip()}")
        code_ = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
        return SandboxResult(code_, stdout, stderr, timed_out)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _interpreter() -> str:
    """The Python the sandbox user can run: ours if it can reach it, else the system's `python3`."""
    candidates = [os.path.realpath(sys.executable), "/usr/bin/python3", "/usr/local/bin/python3"]
    for path in candidates:
        if os.path.isfile(path) and (os.geteuid() != 0 or _world_runnable(path)):
            return os.path.realpath(path)
    raise SandboxUnavailableError(f"no Python interpreter the sandbox user may run among {candidates}")


def _world_runnable(path: str) -> bool:
    real = Path(os.path.realpath(path))
    return all(os.stat(p).st_mode & 0o001 for p in [real, *real.parents])


def _wait(proc: subprocess.Popen[bytes], seconds: float) -> bool:
    try:
        proc.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        time.sleep(0)  # the namespace's PID 1 dies with its parent (parent-death signal)
        return True


def _read(handle, limit: int) -> str:
    handle.seek(0)
    data = handle.read(limit * 4 + 4).decode("utf-8", "replace")
    return data if len(data) <= limit else data[:limit] + "\n… [output cut]"


def python_tool(limits: SandboxLimits = SandboxLimits(), *, permission: str | None = "code:execute") -> StructuredTool:
    """Return the `python` tool: it runs a program in the sandbox and returns its status and output.

    The tool needs `permission` (default "code:execute"), which a `ToolPolicy` must grant: code execution is
    off unless asked for. It is read-only as far as the world is concerned (its folder is thrown away).

    Example:
        >>> tool = python_tool()
        >>> print(tool.invoke({"code": "print(sum(range(10)))"}))
        exit code 0
        stdout:
        45
    """

    def python(code: str) -> str:
        """Run a Python program in an isolated sandbox (no network, no secrets) and return what it printed.

        Args:
            code: the complete program; print what you want to see.
        """
        return run_python(code, limits).describe()

    return register_tool(side_effects=False, permission=permission, timeout=limits.wall_seconds + 5)(python)
