"""Tools agents act through: the registry, permissions, the side-effect ledger and the built-in tools."""

from ._calculator import calculator, evaluate
from ._ledger import LEDGER_TABLE, LedgerEntry, SqlLedger, ToolLedger, ledger_for
from ._policy import ToolPolicy
from ._sandbox import SandboxLimits, SandboxResult, python_tool, run_python
from ._registry import UNDECLARED, ToolMeta, register_tool, tool_meta, with_meta

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
    "calculator",
    "evaluate",
    "ledger_for",
    "python_tool",
    "register_tool",
    "run_python",
    "tool_meta",
    "with_meta",
]
