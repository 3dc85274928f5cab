"""Which tools an agent may call: a policy the executor checks before anything runs.

It also holds the line against prompt injection: text a tool returns is data, never an instruction. Once
output of a tool marked `untrusted_output` (mail, web pages, MCP servers) is in the conversation, any
side-effecting call may be one that text asked for, so it is approved by a human, refused, or (only when
`after_untrusted="allow"`) let through.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import ToolMessage

from ._registry import UNDECLARED, ToolMeta


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
    after_untrusted: Literal["approve", "refuse", "allow"] = "approve"
    """A side-effecting call made once untrusted tool output is in the conversation: a human approves it
    (the run interrupts as for `needs_approval`), it is refused, or it runs (no defence against injection)."""

    @staticmethod
    def gates(meta: ToolMeta) -> bool:
        """True when a call of a tool with `meta`, made after untrusted output, goes through `after_untrusted`: it
        has side effects, or it was never registered (`UNDECLARED`), so nothing says it has none.

        Example:
            >>> from graphwright.tools import UNDECLARED
            >>> ToolPolicy.gates(ToolMeta()), ToolPolicy.gates(UNDECLARED), ToolPolicy.gates(ToolMeta(side_effects=False))
            (True, True, False)
        """
        return meta.side_effects or meta is UNDECLARED

    def refusal(self, name: str, meta: ToolMeta) -> str | None:
        """Return None if the agent may call tool `name` (with metadata `meta`), else the reason it may not."""
        if name in self.deny or (self.allow is not None and name not in self.allow):
            return f"tool {name!r} is not allowed for this agent"
        if meta.permission is not None and meta.permission not in self.grants:
            return f"tool {name!r} needs permission {meta.permission!r}, which this agent does not have"
        return None


UNTRUSTED_MARK = "graphwright_untrusted"
"""Key in a `ToolMessage`'s `response_metadata` the executor sets on output of an `untrusted_output` tool, so
the mark travels with the message (through checkpoints, to other agents' executors in the same thread)."""


def untrusted_source(messages: Sequence[Any], metas: Mapping[str, ToolMeta]) -> str | None:
    """Return the name of the first tool whose untrusted output is in `messages`, or None when there is none.

    A tool message is untrusted when it carries `UNTRUSTED_MARK` or its tool is one of `metas` marked
    `untrusted_output` (including error answers: a failing fetch may quote what the server sent).

    Example:
        >>> from langchain_core.messages import ToolMessage
        >>> metas = {"read_email": ToolMeta(side_effects=False, untrusted_output=True)}
        >>> untrusted_source([ToolMessage("hi", tool_call_id="1", name="read_email")], metas)
        'read_email'
        >>> marked = ToolMessage("hi", tool_call_id="2", name="web", response_metadata={UNTRUSTED_MARK: True})
        >>> untrusted_source([marked], {}), untrusted_source([], metas) is None
        ('web', True)
    """
    for message in messages:
        if not isinstance(message, ToolMessage):
            continue
        meta = metas.get(message.name or "")
        if (message.response_metadata or {}).get(UNTRUSTED_MARK) or (meta is not None and meta.untrusted_output):
            return message.name or "an unnamed tool"
    return None
