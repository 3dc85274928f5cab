"""The sandbox when graphwright does not run as root: the escape corpus's key cases, as user 65534 (nobody).

The suite runs as root, where the sandbox takes its root path (no user namespace, a control group, a user id of
its own). Here graphwright itself runs as nobody (`setpriv`), in a mount namespace where /root is an empty
folder holding only the Python installation, so nobody can start our interpreter; then the sandbox must build
its user namespace, and fall back to one process where no control group can be made. Each case is first shown
possible for nobody outside the sandbox (the file is readable, the sockets accept), then impossible inside.
Where user namespaces are refused (emulated with a seccomp filter that fails `unshare` with EPERM, as
`kernel.unprivileged_userns_clone=0` does), `run_python` raises `SandboxUnavailableError` and runs nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
PYTHON_HOME = Path(os.path.realpath(sys.executable)).parents[1]  # the installation the venv runs on

DRIVER = r'''
import ctypes, json, os, socket, sys
from graphwright.errors import SandboxUnavailableError
from graphwright.tools import SandboxLimits, run_python
from graphwright.tools._sandbox import sandbox_budget

folder, unix_path, port, pyproject = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
out = {"uid": os.geteuid()}

def outside():
    """What nobody can reach without the sandbox: the case must be possible, or the test proves nothing."""
    can = {"file": len(open(pyproject).read()) > 0}
    for name, family, target in (("unix", socket.AF_UNIX, unix_path), ("tcp", socket.AF_INET, ("127.0.0.1", port))):
        s = socket.socket(family); s.settimeout(2)
        try:
            s.connect(target); can[name] = True
        except OSError:
            can[name] = False
        s.close()
    return can

if sys.argv[5] == "confined":
    out["outside"] = outside()
    out["budget"] = sandbox_budget()
    probe = (
        "import os, socket\n"
        f"for path in ({pyproject!r}, '/etc/passwd', '/work'):\n"
        "    try:\n"
        "        open(path, 'rb').read(); print('READ', path)\n"
        "    except OSError as exc:\n"
        "        print('denied', path, exc.errno)\n"
        f"for family, target in ((socket.AF_UNIX, {unix_path!r}), (socket.AF_UNIX, '/var/run/postgresql/.s.PGSQL.5432'),"
        f" (socket.AF_INET, ('127.0.0.1', {port}))):\n"
        "    s = socket.socket(family); s.settimeout(2)\n"
        "    try:\n"
        "        s.connect(target); print('CONNECTED', target)\n"
        "    except OSError as exc:\n"
        "        print('refused', target, exc.errno)\n"
        "print('uid', os.getuid())\n"
    )
    out["probe"] = run_python(probe).stdout
    fill = (
        "written = 0\n"
        "try:\n"
        "    for i in range(64):\n"
        "        open(f'/tmp/fill{i}', 'wb').write(b'x' * (1 << 20)); written += 1\n"
        "except OSError as exc:\n"
        "    print('full after', written, 'MiB')\n"
    )
    out["tmp"] = run_python(fill, SandboxLimits(tmp_bytes=16 << 20)).stdout
    hog = (
        "import os\n"
        "try:\n"
        "    pid = os.fork()\n"
        "    if pid == 0: os._exit(0)\n"
        "    os.waitpid(pid, 0); print('forked')\n"
        "except OSError as exc:\n"
        "    print('fork refused', exc.errno)\n"
        "try:\n"
        "    block = b'x' * (400 << 20); print('HELD 400 MiB')\n"
        "except MemoryError:\n"
        "    print('memory refused')\n"
    )
    out["memory"] = run_python(hog, SandboxLimits(memory_bytes=256 << 20)).stdout
else:  # user namespaces refused: unshare fails with EPERM, as where the kernel disables them for users
    nr = {"x86_64": 272, "aarch64": 97}[os.uname().machine]
    code = [(0x20, 0, 0, 0), (0x15, 0, 1, nr), (0x06, 0, 0, 0x00050000 | 1), (0x06, 0, 0, 0x7FFF0000)]
    class SockFilter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]
    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]
    program = (SockFilter * len(code))(*[SockFilter(*c) for c in code])
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(38, 1, 0, 0, 0) == 0  # no_new_privs, which an unprivileged seccomp filter needs
    assert libc.prctl(22, 2, ctypes.byref(SockFprog(len(code), program)), 0, 0) == 0
    marker = os.path.join(folder, "ran")
    try:
        run_python(f"open({marker!r}, 'w').write('unconfined')")
        out["error"] = None
    except SandboxUnavailableError as exc:
        out["error"] = str(exc)
    out["ran"] = os.path.exists(marker)
print(json.dumps(out))
'''


def _as_nobody(folder: Path, listeners: tuple[str, int], mode: str) -> dict:
    """Run DRIVER as uid/gid 65534 with no capabilities, our interpreter reachable through a private /root."""
    stage = folder / "pyenv"
    stage.mkdir()
    script = (
        f"mount --bind {PYTHON_HOME} {stage} && mount -t tmpfs -o mode=755,size=1m tmpfs /root && "
        f"mkdir -p {PYTHON_HOME} && mount --bind {stage} {PYTHON_HOME} && cd / && "
        "exec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "
        "env -i PATH=/usr/bin:/bin HOME=/tmp PYTHONDONTWRITEBYTECODE=1 HF_HUB_OFFLINE=1 "
        f'{sys.executable} -c "$0" "$@"'
    )
    argv = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, DRIVER]
    unix_path, port = listeners
    args = [str(folder), unix_path, str(port), str(PROJECT / "pyproject.toml"), mode]
    done = subprocess.run([*argv, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def shared_folder() -> Path:
    """A folder nobody can use (pytest's own temporary folders are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="gw-nobody-"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def listeners(shared_folder: Path) -> tuple[str, int]:
    """A Unix socket anyone may connect to and a TCP port on the host's loopback, both listening."""
    path = str(shared_folder / "service.sock")
    unix, tcp = socket.socket(socket.AF_UNIX), socket.socket()
    unix.bind(path)
    os.chmod(path, 0o777)
    tcp.bind(("127.0.0.1", 0))
    for listener in (unix, tcp):
        listener.listen(8)
    yield path, tcp.getsockname()[1]
    unix.close()
    tcp.close()


pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv") or not shutil.which("unshare"),
    reason="needs root to become nobody (setpriv, unshare); an unprivileged suite runs this path in the escape corpus",
)


def test_key_escapes_fail_when_graphwright_is_not_root(shared_folder: Path, listeners: tuple[str, int]) -> None:
    out = _as_nobody(shared_folder, listeners, "confined")
    assert out["uid"] == 65534
    assert out["outside"] == {"file": True, "unix": True, "tcp": True}, out  # each is possible for nobody outside
    probe = out["probe"]
    assert "READ" not in probe and "CONNECTED" not in probe and probe.count("denied") == 3, probe
    assert probe.count("refused") == 3 and probe.strip().endswith("uid 1000"), probe  # uid inside its namespace
    assert "full after" in out["tmp"] and int(out["tmp"].split("after")[1].split()[0]) <= 16, out["tmp"]
    assert "memory refused" in out["memory"] and "HELD" not in out["memory"], out["memory"]
    if out["budget"] == "one process":  # no control group for nobody: the documented one-process fallback
        assert "fork refused" in out["memory"], out["memory"]


def test_without_user_namespaces_nothing_runs_and_the_error_says_why(shared_folder: Path, listeners: tuple[str, int]) -> None:
    out = _as_nobody(shared_folder, listeners, "refused")
    assert out["ran"] is False  # the program never ran unconfined
    assert out["error"] and out["error"].startswith("cannot confine Python code here"), out
    assert "creating namespaces" in out["error"] and "Operation not permitted" in out["error"], out
