"""The Python tool's sandbox: each escape attempt has its own test, and each must fail inside the sandbox."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage

from graphwright.nodes import make_executor
from graphwright.tools import SandboxLimits, ToolPolicy, python_tool, run_python


def test_python_tool_runs_code_and_returns_its_output() -> None:
    result = run_python("import math\nprint(math.factorial(10))\nraise SystemExit(3)")
    assert (result.exit_code, result.stdout, result.timed_out) == (3, "3628800\n", False)


def test_python_tool_cannot_read_host_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_TEST_SECRET", "s3cr3t-value-42")
    code = (
        "import os, glob\n"
        "print(dict(os.environ))\n"
        "for path in glob.glob('/proc/*/environ'):\n"
        "    try:\n"
        "        print(path, open(path, 'rb').read())\n"
        "    except OSError as exc:\n"
        "        print(path, 'unreadable', exc.errno)\n"
        "print('ppid', os.getppid())\n"
    )
    result = run_python(code)
    assert result.exit_code == 0, result.stderr
    assert "s3cr3t-value-42" not in result.stdout + result.stderr
    assert "GW_TEST_SECRET" not in result.stdout
    assert "'HOME': '/tmp'" in result.stdout and "ppid 1" in result.stdout  # its own PID namespace


def test_python_tool_cannot_open_a_network_socket() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.setblocking(False)
    port = server.getsockname()[1]
    code = (
        "import socket\n"
        f"for host in ('127.0.0.1', '10.255.255.1'):\n"
        "    s = socket.socket(); s.settimeout(2)\n"
        "    try:\n"
        f"        s.connect((host, {port})); print('CONNECTED', host)\n"
        "    except OSError as exc:\n"
        "        print('refused', host, exc.errno)\n"
    )
    try:
        result = run_python(code)
        with pytest.raises(BlockingIOError):
            server.accept()  # nothing ever reached the host's listener
    finally:
        server.close()
    assert "CONNECTED" not in result.stdout
    assert result.stdout.count("refused") == 2, result.stdout + result.stderr


def test_python_tool_cannot_write_outside_its_temp_dir(tmp_path: Path) -> None:
    open_dir = tmp_path / "world-writable"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    targets = [open_dir / "escape.txt", Path("/var/tmp/gw-escape.txt"), Path("/dev/shm/gw-escape.txt")]
    code = (
        "import os\n"
        f"for path in {[str(t) for t in targets]!r} + ['/tmp/inside.txt', os.path.expanduser('~/inside2.txt')]:\n"
        "    try:\n"
        "        with open(path, 'w') as fh: fh.write('x')\n"
        "        print('wrote', path)\n"
        "    except OSError as exc:\n"
        "        print('denied', path, exc.errno)\n"
    )
    result = run_python(code)
    for target in targets:
        assert f"denied {target}" in result.stdout, result.stdout + result.stderr
        assert not target.exists()
    assert "wrote /tmp/inside.txt" in result.stdout and "wrote /tmp/inside2.txt" in result.stdout


def test_python_tool_cannot_run_past_its_time_limit() -> None:
    start = time.monotonic()
    spinning = run_python("while True:\n    pass\n", SandboxLimits(cpu_seconds=1, wall_seconds=20))
    assert spinning.exit_code == 128 + 24 and "CPU time limit exceeded" in spinning.describe()  # SIGXCPU
    sleeping = run_python("import time\ntime.sleep(60)\nprint('woke')", SandboxLimits(wall_seconds=1.5))
    assert sleeping.timed_out and "woke" not in sleeping.stdout
    assert "wall-clock time limit exceeded" in sleeping.describe()
    assert time.monotonic() - start < 15


def test_python_tool_memory_file_size_and_process_limits() -> None:
    memory = run_python("b = bytearray(400 * 1024 * 1024)\nprint('allocated')", SandboxLimits(memory_bytes=256 * 2**20))
    assert "MemoryError" in memory.stderr and "allocated" not in memory.stdout
    big = run_python("open('/tmp/big', 'wb').write(b'x' * 4_000_000)\nprint('written')", SandboxLimits(file_bytes=2**20))
    assert "written" not in big.stdout and big.exit_code != 0
    forks = run_python(
        "import os, time\nn = 0\ntry:\n    for _ in range(50):\n        if os.fork() == 0:\n            time.sleep(5); os._exit(0)\n"
        "        n += 1\nexcept OSError as exc:\n    print('fork failed after', n, exc.errno)\n",
        SandboxLimits(processes=6),
    )
    assert "fork failed after" in forks.stdout, forks.stdout + forks.stderr
    assert int(forks.stdout.split("after")[1].split()[0]) <= 6


def test_python_tool_needs_a_granted_permission() -> None:
    tool = python_tool()
    call = {"name": "python", "args": {"code": "print('ran')"}, "id": "p", "type": "tool_call"}
    refused = make_executor([tool])({"messages": [AIMessage("", tool_calls=[call])]}, {})["messages"][0]
    assert refused.status == "error" and "needs permission 'code:execute'" in refused.text
    allowed = make_executor([tool], policy=ToolPolicy(grants=frozenset({"code:execute"})))
    message = allowed({"messages": [AIMessage("", tool_calls=[call])]}, {})["messages"][0]
    assert message.status == "success" and message.text == "exit code 0\nstdout:\nran\n"
    assert os.environ.get("HOME") != "/tmp"
