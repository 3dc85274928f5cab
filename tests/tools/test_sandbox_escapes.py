"""The sandbox's escape corpus: one test per technique, each must fail inside the sandbox (smolagents-style).

The programs are what a hostile or confused model might write; each test also checks the host is unchanged.
Normal programs (GSM8K-style arithmetic printing a number, what the code agent runs) must still work.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
from pathlib import Path

import pytest

from graphwright.tools import SandboxLimits, run_python
from graphwright.tools._sandbox import sandbox_budget

PROJECT = Path(__file__).resolve().parents[2]


def _probe_files(paths: list[str]) -> str:
    return (
        "import os\n"
        f"for path in {paths!r}:\n"
        "    try:\n"
        "        with open(path, 'rb') as fh: print('READ', path, len(fh.read()))\n"
        "    except OSError as exc:\n"
        "        print('denied', path, exc.errno)\n"
    )


def test_a_gsm8k_style_program_runs_and_prints_its_number() -> None:
    program = "eggs = 16 - 3 - 4\nprint(eggs * 2)\n"
    assert run_python(program).stdout == "18\n"
    fractions = "from fractions import Fraction\nimport math, statistics, decimal\nprint(Fraction(3, 4) * 48 + math.sqrt(16))\n"
    assert run_python(fractions).stdout == "40.0\n"


def test_the_projects_checkpoint_database_is_not_there(tmp_path: Path) -> None:
    db = tmp_path / ".graphwright" / "checkpoints.sqlite"
    db.parent.mkdir()
    sqlite3.connect(db).execute("create table secret (x)").connection.close()
    targets = [str(db), str(PROJECT / ".graphwright" / "checkpoints.sqlite"), str(PROJECT / "pyproject.toml")]
    result = run_python(_probe_files(targets))
    assert "READ" not in result.stdout and result.stdout.count("denied") == 3, result.stdout + result.stderr


def test_host_files_outside_the_minimal_root_are_not_there() -> None:
    targets = ["/etc/passwd", "/etc/hostname", "/etc/shadow", "/root/.bashrc", "/home", "/proc/1/environ", "/var/log"]
    result = run_python(_probe_files(targets) + "print(sorted(os.listdir('/')))\n")
    assert "READ" not in result.stdout, result.stdout
    listed = result.stdout.strip().splitlines()[-1]
    assert listed == "['bin', 'dev', 'lib', 'lib64', 'proc', 'sbin', 'tmp', 'usr']" or "etc" not in listed, listed


def test_installed_packages_are_not_importable() -> None:
    result = run_python("import langgraph\n")
    assert result.exit_code == 1 and "ModuleNotFoundError" in result.stderr


def test_the_minimal_root_is_read_only() -> None:
    code = _probe_files([]) + (
        "import sys\n"
        "for path in ['/usr/evil', sys.executable, '/newfile', '/dev/evil']:\n"
        "    try:\n"
        "        open(path, 'w').write('x'); print('WROTE', path)\n"
        "    except OSError as exc:\n"
        "        print('denied', path, exc.errno)\n"
    )
    result = run_python(code)
    assert "WROTE" not in result.stdout and result.stdout.count("denied") == 4, result.stdout + result.stderr


def test_unix_sockets_of_host_services_cannot_be_reached(tmp_path: Path) -> None:
    listener = socket.socket(socket.AF_UNIX)
    path = str(tmp_path / "service.sock")
    listener.bind(path)
    listener.listen()
    listener.setblocking(False)
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind(b"\0graphwright-escape-test")
    abstract.listen()
    abstract.setblocking(False)
    targets = [path, "/var/run/postgresql/.s.PGSQL.5432", "/run/mysqld/mysqld.sock", "/run/dbus/system_bus_socket"]
    code = (
        "import socket\n"
        f"for target in {targets!r} + [b'\\0graphwright-escape-test']:\n"
        "    s = socket.socket(socket.AF_UNIX)\n"
        "    try:\n"
        "        s.connect(target); print('CONNECTED', target)\n"
        "    except OSError as exc:\n"
        "        print('refused', target, exc.errno)\n"
    )
    try:
        result = run_python(code)
        for server in (listener, abstract):
            with pytest.raises(BlockingIOError):
                server.accept()
    finally:
        listener.close()
        abstract.close()
    assert "CONNECTED" not in result.stdout and result.stdout.count("refused") == 5, result.stdout + result.stderr


def test_tcp_and_udp_to_the_host_cannot_be_reached() -> None:
    code = (
        "import socket\n"
        "for port in (5432, 3306, 6379, 4317):\n"
        "    s = socket.socket(); s.settimeout(2)\n"
        "    try:\n"
        "        s.connect(('127.0.0.1', port)); print('CONNECTED', port)\n"
        "    except OSError as exc:\n"
        "        print('refused', port, exc.errno)\n"
        "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "try:\n"
        "    u.sendto(b'x', ('8.8.8.8', 53)); print('SENT')\n"
        "except OSError as exc:\n"
        "    print('refused udp', exc.errno)\n"
        "try:\n"
        "    socket.socket(socket.AF_INET6).connect(('::1', 5432)); print('CONNECTED6')\n"
        "except OSError as exc:\n"
        "    print('refused v6', exc.errno)\n"
    )
    result = run_python(code)
    assert "CONNECTED" not in result.stdout and "SENT" not in result.stdout, result.stdout
    assert result.stdout.count("refused") == 6, result.stdout + result.stderr


def test_tmp_is_its_own_and_bounded() -> None:
    before = shutil.disk_usage("/tmp").used
    code = (
        "import os\n"
        "written = 0\n"
        "try:\n"
        "    for i in range(100):\n"
        "        with open(f'/tmp/fill{i}', 'wb') as fh:\n"
        "            fh.write(b'x' * (4 << 20)); written += 4 << 20\n"
        "except OSError as exc:\n"
        "    print('full after', written >> 20, 'MiB', exc.errno)\n"
        "print(sorted(n for n in os.listdir('/tmp') if not n.startswith('fill')))\n"
    )
    result = run_python(code, SandboxLimits(tmp_bytes=32 << 20))
    assert "full after" in result.stdout, result.stdout + result.stderr
    assert int(result.stdout.split("after")[1].split()[0]) <= 32
    assert result.stdout.strip().endswith("['main.py']")  # not the host's /tmp
    assert shutil.disk_usage("/tmp").used - before < 16 << 20


def test_three_processes_share_one_memory_budget() -> None:
    code = (
        "import os, time\n"
        "kids = []\n"
        "for i in range(3):\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError as exc:\n"
        "        print('fork refused', exc.errno); break\n"
        "    if pid == 0:\n"
        "        block = b'x' * (400 << 20)\n"
        "        print('holding', i, flush=True)\n"
        "        time.sleep(3)\n"
        "        print('still holding', i, flush=True)\n"
        "        os._exit(0)\n"
        "    kids.append(pid)\n"
        "for pid in kids:\n"
        "    os.waitpid(pid, 0)\n"
    )
    result = run_python(code, SandboxLimits(memory_bytes=512 << 20, wall_seconds=20))
    assert result.stdout.count("still holding") <= 1, result.stdout + result.stderr


def test_a_fork_bomb_is_contained() -> None:
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    result = run_python(code, SandboxLimits(wall_seconds=3, cpu_seconds=2))
    assert result.timed_out or result.exit_code != 0
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _uid(p) >= 1 << 30]  # nothing left behind


def test_without_a_control_group_a_run_is_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import graphwright.tools._sandbox as sandbox

    monkeypatch.setattr(sandbox, "open_budget", lambda *_: None)  # the documented fallback
    result = run_python("import os\ntry:\n    os.fork(); print('FORKED')\nexcept OSError as exc:\n    print('refused', exc.errno)\nprint(6 * 7)\n")
    assert result.stdout.count("FORKED") == 0 and "refused" in result.stdout and result.stdout.endswith("42\n")
    assert sandbox_budget() in ("cgroup v2", "cgroup v1", "one process")


def _uid(pid: str) -> int:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return 0
