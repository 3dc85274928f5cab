"""Tools agents act through: the registry, permissions, the side-effect ledger and the built-in tools."""

from ._calculator import calculator, evaluate
from ._http import check_url, http_get_tool
from ._ledger import LEDGER_TABLE, LedgerEntry, SqlLedger, ToolLedger, ledger_for
from ._mcp import mcp_server, open_mcp_tools, serve_mcp
from ._memory_tools import memory_tools
from ._policy import UNTRUSTED_MARK, ToolPolicy, untrusted_source
from ._registry import UNDECLARED, ToolMeta, register_tool, tool_meta, with_meta
from ._sandbox import SandboxLimits, SandboxResult, python_tool, run_python
from ._validation import validation_problem
from ._workspace import Workspace, workspace_tools

__all__ = [
    "LEDGER_TABLE",
    "LedgerEntry",
    "SandboxLimits",
    "SandboxResult",
    "SqlLedger",
    "ToolLedger",
    "ToolMeta",
    "ToolPolicy",
    "UNDECLARED",
    "UNTRUSTED_MARK",
    "Workspace",
    "calculator",
    "check_url",
    "evaluate",
    "http_get_tool",
    "ledger_for",
    "mcp_server",
    "memory_tools",
    "open_mcp_tools",
    "python_tool",
    "register_tool",
    "run_python",
    "serve_mcp",
    "tool_meta",
    "untrusted_source",
    "validation_problem",
    "with_meta",
    "workspace_tools",
]
