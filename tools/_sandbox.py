"""The Python code tool: runs model-written code in a separate, confined process.

What the code sees: a root file system of its own, built in memory for the run and read-only, holding the
interpreter, its standard library (installed packages hidden) and the shared libraries they load; /dev/null and
the random devices; a fresh /proc that shows only its own processes; and its own /tmp, an in-memory file system
bounded by `SandboxLimits.tmp_bytes`, which is its working folder. Nothing else of the host is there: no /etc,
no home folders, no project files or checkpoint databases, no Unix sockets (Postgres', MariaDB's or any other),
and, in a network namespace of its own with only a downed loopback, no TCP, UDP or abstract sockets either.
It runs in its own mount, network, PID, IPC and UTS namespaces (a user namespace too when graphwright is not
root), as an unprivileged user id of its own without capabilities (`no_new_privs` set), with a wall-clock
timeout and an environment of four plain variables (no secrets). Output goes to files opened before the
sandbox starts, bounded by the file-size limit.

One budget for the whole sandbox: where this machine lets graphwright make a control group (cgroup v2, or the
v1 memory and pids controllers), every process of a run joins one group limited to `memory_bytes` (the files
in /tmp count, being memory) and `processes`, so three processes cannot each take the memory limit. Where no
group can be made, the documented fallback is one process: RLIMIT_NPROC of 1 under the run's own user id (no
fork, no threads), so the per-process address-space limit (RLIMIT_AS) is the whole sandbox's budget. Per process
there are also limits on CPU time, address space, file size and open files.
If the namespaces cannot be created here, the tool refuses to run code rather than run it unconfined.
"""

from __future__ import annotations

import functools
import json
import os
import random
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
from ._cgroup import open_budget
from ._registry import register_tool

_BOOT = Path(__file__).with_name("_sandbox_boot.py")
_SETUP_FAILED = 125
_PROBE = (  # run once with the sandbox's interpreter: where its library is, and which shared libraries it loads
    "import sys, sysconfig, json, math, cmath, decimal, fractions, statistics, random, hashlib, json, re, datetime\n"
    "libs = sorted({l.split()[-1] for l in open('/proc/self/maps') if l.split()[-1].startswith('/')})\n"
    "print(json.dumps({'stdlib': sysconfig.get_paths(), 'libs': libs}))\n"
)
_LIB_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib")
"""Folders of shared libraries bound whole when a library the interpreter loads is in one (extension modules
load more of them later); a library elsewhere is bound alone."""


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one sandboxed run."""

    cpu_seconds: int = 5
    """CPU seconds the code may use (RLIMIT_CPU); past it the process is killed with SIGXCPU."""
    wall_seconds: float = 10.0
    """Seconds of real time before the whole sandbox is killed (catches sleeping and blocked code)."""
    memory_bytes: int = 512 * 1024 * 1024
    """Memory of the whole sandbox, its /tmp files included (a control group's limit), and the address space of
    each process (RLIMIT_AS): 512 MiB."""
    file_bytes: int = 8 * 1024 * 1024
    """Largest file the code may write, its output included (RLIMIT_FSIZE): 8 MiB."""
    processes: int = 16
    """Processes and threads the sandbox may have at once (its control group's and its user's limit); 1 where no
    control group can be made."""
    tmp_bytes: int = 64 * 1024 * 1024
    """Size of the sandbox's /tmp, an in-memory file system: 64 MiB."""
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
        code: a Python program; it runs as the script /tmp/main.py with the standard library only (no installed packages).
        limits: resource limits.

    Raises:
        SandboxUnavailableError: this machine cannot create the namespaces (nothing was run).

    Example:
        >>> run_python("print(6 * 7)").stdout
        '42\\n'
    """
    workdir = Path(tempfile.mkdtemp(prefix="gw-python-"))  # 0700: only graphwright reads the code and output
    budget = open_budget(limits.memory_bytes, limits.processes)
    try:
        (workdir / "main.py").write_text(code)
        (workdir / "root").mkdir()
        settings = json.dumps(
            {
                **asdict(limits),
                **_root_plan(),  # with "python", the interpreter it runs
                "processes": limits.processes if budget is not None else 1,
                "tmp_files": 4096,
                "cgroups": budget.procs_files if budget is not None else [],
                "uid": random.randrange(1 << 30, (1 << 31) - 2),
            }
        )
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
        if budget is not None and budget.oom_killed() and "memory" not in stderr:
            stderr += "\n[the sandbox's memory budget was exhausted: a process was killed]"
        return SandboxResult(code_, stdout, stderr, timed_out)
    finally:
        if budget is not None:
            budget.close()
        shutil.rmtree(workdir, ignore_errors=True)


def sandbox_budget() -> str:
    """Return how this machine bounds a whole sandbox: "cgroup v2", "cgroup v1", or "one process" (the fallback).

    Example:
        >>> sandbox_budget() in ("cgroup v2", "cgroup v1", "one process")
        True
    """
    budget = open_budget(1 << 26, 4)
    if budget is None:
        return "one process"
    budget.close()
    return budget.kind


@functools.cache
def _root_plan() -> dict[str, list]:
    """What the sandbox's root holds: host paths bound read-only, folders hidden, top-level symlinks."""
    python = _interpreter()
    probe = subprocess.run([python, "-I", "-S", "-c", _PROBE], capture_output=True, text=True, timeout=60, env={})
    if probe.returncode != 0:
        raise SandboxUnavailableError(f"the sandbox's interpreter {python} does not start: {probe.stderr.strip()}")
    found = json.loads(probe.stdout)
    paths = found["stdlib"]
    binds = {python, os.path.realpath(paths["stdlib"]), os.path.realpath(paths["platstdlib"])}
    for lib in found["libs"]:
        real = os.path.realpath(lib)
        folder = next((d for d in _LIB_DIRS if os.path.dirname(real) == d), None)
        binds.add(folder or real)
    binds = {b for b in binds if not any(b != o and b.startswith(o + "/") for o in binds)}  # inside another bind
    masks = sorted(
        {
            os.path.realpath(paths[key])
            for key in ("purelib", "platlib")
            if os.path.isdir(paths[key]) and any(os.path.realpath(paths[key]).startswith(b + "/") for b in binds)
        }
    )
    links = [(f"/{name}", os.readlink(f"/{name}")) for name in sorted(os.listdir("/")) if os.path.islink(f"/{name}")]
    loader = _elf_interpreter(python)
    while loader and os.path.islink(loader):  # e.g. /usr/lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/...
        loader = os.path.join(os.path.realpath(os.path.dirname(loader)), os.path.basename(loader))
        if os.path.islink(loader):
            target = os.readlink(loader)
            links.append((loader, target))
            loader = os.path.join(os.path.dirname(loader), target)
    if loader:
        real = os.path.realpath(loader)
        if not any(real.startswith(b + "/") for b in binds):
            binds.add(real)
    return {"python": python, "binds": sorted(binds), "masks": masks, "links": links}


def _elf_interpreter(path: str) -> str | None:
    """The dynamic loader an ELF executable names (its PT_INTERP), or None for a static one."""
    with open(path, "rb") as fh:
        head = fh.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:  # only 64-bit ELF is read; others get no loader bound
            return None
        order = "little" if head[5] == 1 else "big"
        phoff, phentsize, phnum = int.from_bytes(head[32:40], order), int.from_bytes(head[54:56], order), int.from_bytes(head[56:58], order)
        for i in range(phnum):
            fh.seek(phoff + i * phentsize)
            entry = fh.read(phentsize)
            if int.from_bytes(entry[0:4], order) == 3:  # PT_INTERP
                offset, size = int.from_bytes(entry[8:16], order), int.from_bytes(entry[32:40], order)
                fh.seek(offset)
                return fh.read(size).rstrip(b"\0").decode()
    return None


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
