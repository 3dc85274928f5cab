"""The workspace file tools stay inside their folder: no absolute paths, no `..`, no symlink escapes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage

from graphwright.errors import ToolPathError
from graphwright.nodes import make_executor
from graphwright.tools import ToolPolicy, Workspace, tool_meta, workspace_tools


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Workspace, Path]:
    root = tmp_path / "ws"
    root.mkdir()
    outside = tmp_path / "secret.txt"
    outside.write_text("top secret")
    (root / "inner").mkdir()
    (root / "inner" / "ok.txt").write_text("fine")
    os.symlink(outside, root / "link-to-secret.txt")
    os.symlink(tmp_path, root / "link-to-parent")
    os.symlink(root / "inner" / "ok.txt", root / "inner-link.txt")
    return Workspace(root), tmp_path


def test_reads_writes_and_lists_inside(setup) -> None:
    ws, _ = setup
    assert ws.read("inner/ok.txt") == "fine"
    assert ws.write("new/deep/file.txt", "data") == "wrote 4 characters to new/deep/file.txt"
    assert (ws.root / "new" / "deep" / "file.txt").read_text() == "data"
    assert ws.list(".").splitlines() == ["inner-link.txt", "inner/", "link-to-parent/", "link-to-secret.txt", "new/"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/etc/passwd", "is absolute"),
        ("~/notes", "is absolute"),
        ("../secret.txt", "climbs out with '..'"),
        ("inner/../../secret.txt", "climbs out with '..'"),
        ("link-to-secret.txt", "outside the workspace"),
        ("link-to-parent/secret.txt", "outside the workspace"),
        ("inner-link.txt", "is a symlink"),
        ("", "invalid path"),
        ("a\x00b", "invalid path"),
    ],
)
def test_escapes_are_refused_for_read_and_write(setup, path: str, message: str) -> None:
    ws, tmp = setup
    with pytest.raises(ToolPathError, match=message):
        ws.read(path)
    with pytest.raises(ToolPathError, match=message):
        ws.write(path, "overwritten")
    assert (tmp / "secret.txt").read_text() == "top secret"
    assert not (tmp / "overwritten").exists()


def test_a_workspace_must_be_an_existing_folder(tmp_path: Path) -> None:
    with pytest.raises(ToolPathError, match="not an existing folder"):
        Workspace(tmp_path / "missing")


def test_tools_through_the_executor_write_only_with_permission(tmp_path: Path) -> None:
    read_file, list_files, write_file = workspace_tools(tmp_path)
    assert not tool_meta(read_file).side_effects and tool_meta(write_file).side_effects
    calls = [
        {"name": "write_file", "args": {"path": "a.txt", "content": "hi"}, "id": "w", "type": "tool_call"},
        {"name": "read_file", "args": {"path": "../etc/passwd"}, "id": "r", "type": "tool_call"},
    ]
    state = {"messages": [AIMessage("", tool_calls=calls)]}
    denied = make_executor([read_file, list_files, write_file])(state, {})["messages"]
    assert "needs permission 'workspace:write'" in denied[0].text and not (tmp_path / "a.txt").exists()
    assert denied[1].status == "error" and "ToolPathError" in denied[1].text and "climbs out" in denied[1].text
    policy = ToolPolicy(grants=frozenset({"workspace:write"}))
    allowed = make_executor([read_file, list_files, write_file], policy=policy)(state, {})["messages"]
    assert allowed[0].text == "wrote 2 characters to a.txt" and (tmp_path / "a.txt").read_text() == "hi"


@pytest.fixture(params=["openat2", "fd walk"])
def beneath(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each kernel-enforced technique in turn: openat2(RESOLVE_BENEATH), and the O_NOFOLLOW walk it falls back to."""
    import graphwright.tools._workspace as workspace

    if request.param == "openat2" and workspace._OPENAT2 is None:
        pytest.fail("openat2 is not available on this kernel")  # it is on every machine this suite runs on
    if request.param == "fd walk":
        monkeypatch.setattr(workspace, "_OPENAT2", None)
    return request.param


def test_a_hard_link_to_an_outside_file_is_neither_read_nor_overwritten(setup, beneath: str) -> None:
    ws, tmp = setup
    os.link(tmp / "secret.txt", ws.root / "planted.txt")
    with pytest.raises(ToolPathError, match="hard links"):
        ws.read("planted.txt")
    with pytest.raises(ToolPathError, match="hard links"):
        ws.write("planted.txt", "overwritten")
    assert (tmp / "secret.txt").read_text() == "top secret"


def test_a_fifo_is_refused_without_hanging(setup, beneath: str) -> None:
    ws, _ = setup
    os.mkfifo(ws.root / "pipe")
    with pytest.raises(ToolPathError, match="not a regular file"):
        ws.read("pipe")


def test_swapping_a_folder_for_a_symlink_during_3000_writes_lands_none_outside(
    tmp_path: Path, beneath: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    root, outside = tmp_path / "ws", tmp_path / "outside"
    (root / "a" / "b").mkdir(parents=True)
    outside.mkdir()
    ws = Workspace(root)
    monkeypatch.setattr(Workspace, "resolve", lambda self, path: self.root / path)  # the kernel alone must hold
    swap = (  # in another process, so the swaps run truly alongside the writes: renameat2(RENAME_EXCHANGE)
        "import ctypes, sys\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "a, evil = (p.encode() for p in sys.argv[1:3])\n"
        "while True:\n"
        "    libc.renameat2(-100, a, -100, evil, 2)\n"
    )
    (outside / "b").mkdir()
    os.symlink(outside, root / "a-evil")  # swapped with the real folder `a`, atomically, again and again
    args = [str(root / "a"), str(root / "a-evil")]
    swapper = subprocess.Popen([sys.executable, "-c", swap, *args])
    written = refused = 0
    try:
        for i in range(3000):
            try:
                ws.write(f"a/b/f{i}.txt", "x")
                written += 1
            except ToolPathError:
                refused += 1
    finally:
        swapper.kill()
        swapper.wait()
    assert [p for p in outside.rglob("*") if not p.is_dir()] == []
    assert written > 0 and refused > 0, (written, refused)  # the race was really run both ways
