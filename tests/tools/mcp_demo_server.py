"""An MCP server for the tests, run as a subprocess: graphwright tools served with `serve_mcp` over stdio.

`multiply` is read-only; `record` appends a line to the file named by GW_EFFECTS (a side effect); `fail` raises.
"""

from __future__ import annotations

import os
from pathlib import Path

from graphwright.tools import calculator, register_tool, serve_mcp


@register_tool(side_effects=False)
def multiply(a: int, b: int) -> int:
    """Multiply two integers.

    Args:
        a: first factor.
        b: second factor.
    """
    return a * b


@register_tool(side_effects=True)
def record(note: str) -> str:
    """Write a note down.

    Args:
        note: the note.
    """
    with Path(os.environ["GW_EFFECTS"]).open("a") as fh:
        fh.write(note + "\n")
    return f"recorded {note!r} (pid {os.getpid()})"


@register_tool(side_effects=False)
def fail(reason: str) -> str:
    """Always fail.

    Args:
        reason: what to say.
    """
    raise RuntimeError(reason)


if __name__ == "__main__":
    serve_mcp([calculator, multiply, record, fail], name="graphwright-test")
