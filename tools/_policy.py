"""Which tools an agent may call: a policy the executor checks before anything runs."""

from __future__ import annotations

from dataclasses import dataclass

from ._registry import ToolMeta


@dataclass(frozen=True)
class ToolPolicy:
    """The tools an agent may call. A call the policy refuses is answered with an error and never executed.

    Example:
        >>> from graphwright.tools import ToolMeta
        >>> policy = ToolPolicy(allow=frozenset({"calculator", "write_file"}))
        >>> policy.refusal("calculator", ToolMeta(side_effects=False)) is None
        True
        >>> policy.refusal("delete_all", ToolMeta())
        "tool 'delete_all' is not allowed for this agent"
        >>> policy.refusal("write_file", ToolMeta(permission="files:write"))
        "tool 'write_file' needs permission 'files:write', which this agent does not have"
    """

    allow: frozenset[str] | None = None
    """Names of the tools the agent may call; None allows every tool the executor was given."""
    deny: frozenset[str] = frozenset()
    """Names refused even when `allow` lists them."""
    grants: frozenset[str] = frozenset()
    """Permissions the agent holds; a tool that declares a permission is refused unless it is granted here."""

    def refusal(self, name: str, meta: ToolMeta) -> str | None:
        """Return None if the agent may call tool `name` (with metadata `meta`), else the reason it may not."""
        if name in self.deny or (self.allow is not None and name not in self.allow):
            return f"tool {name!r} is not allowed for this agent"
        if meta.permission is not None and meta.permission not in self.grants:
            return f"tool {name!r} needs permission {meta.permission!r}, which this agent does not have"
        return None
