"""Declaring tools: a typed, documented Python function plus what the executor must know to run it safely.

`register_tool` turns a function into a langchain-core `StructuredTool` whose argument schema comes from the
type hints and the docstring's `Args:` section, and attaches a `ToolMeta`: whether the tool has side effects,
the permission it needs, its timeout, and whether a human must approve each call. A function that is not fully
typed or documented fails here, at registration, not when the model first calls it.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, overload

from langchain_core.tools import BaseTool, StructuredTool

from ..errors import ToolDefinitionError

META_KEY = "graphwright"
"""The key under which a tool's `ToolMeta` is kept in `BaseTool.metadata`."""


@dataclass(frozen=True)
class ToolMeta:
    """What the executor needs to know about a tool beyond its schema."""

    side_effects: bool = True
    """True if a call changes the world (so it is recorded and never repeated); False for read-only tools."""
    permission: str | None = None
    """A permission a `ToolPolicy` must grant before the tool may be called (None: no special permission)."""
    timeout: float = 30.0
    """Seconds a call may run before the executor gives up on it and reports a timeout to the model."""
    needs_approval: bool = False
    """True if every call waits for a human to approve, edit or reject it."""
    trace_content: bool = True
    """True if traces may record a call's arguments and result; False keeps them out (a tool that sees secrets)."""
    untrusted_output: bool = False
    """True if what the tool returns was written by others (mail, web pages, outside files, MCP servers): text
    that may carry instructions; after it, side-effecting calls go through `ToolPolicy.after_untrusted`."""

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise ToolDefinitionError(f"a tool timeout must be positive, got {self.timeout}")


UNDECLARED = ToolMeta(side_effects=False)
"""The metadata assumed for a plain langchain tool that was not registered here: re-run freely, no permission.

Its effects are unknown, so once untrusted output is in the conversation its calls go through
`ToolPolicy.after_untrusted` like side-effecting ones (see `ToolPolicy.gates`); its own output is trusted. Register a
tool to say what it is: `side_effects=False` for one that only reads, `side_effects=True` to have its calls
recorded and never repeated, `untrusted_output=True` for one that returns others' text (a web search).
"""


def tool_meta(tool: BaseTool) -> ToolMeta:
    """Return the `ToolMeta` of `tool` (`UNDECLARED` for a tool that carries none).

    Example:
        >>> from graphwright.tools import calculator
        >>> tool_meta(calculator).side_effects
        False
    """
    meta = (tool.metadata or {}).get(META_KEY)
    return meta if isinstance(meta, ToolMeta) else UNDECLARED


def with_meta(tool: BaseTool, meta: ToolMeta) -> BaseTool:
    """Return a copy of `tool` carrying `meta` (the original is unchanged).

    Example:
        >>> from graphwright.tools import calculator
        >>> with_meta(calculator, ToolMeta(needs_approval=True)).name
        'calculator'
    """
    return tool.model_copy(update={"metadata": {**(tool.metadata or {}), META_KEY: meta}})


@overload
def register_tool(fn: Callable[..., Any], /) -> StructuredTool: ...


@overload
def register_tool(
    *,
    name: str | None = None,
    side_effects: bool = True,
    permission: str | None = None,
    timeout: float = 30.0,
    needs_approval: bool = False,
    trace_content: bool = True,
    untrusted_output: bool = False,
) -> Callable[[Callable[..., Any]], StructuredTool]: ...


def register_tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    side_effects: bool = True,
    permission: str | None = None,
    timeout: float = 30.0,
    needs_approval: bool = False,
    trace_content: bool = True,
    untrusted_output: bool = False,
) -> StructuredTool | Callable[[Callable[..., Any]], StructuredTool]:
    """Make a typed, documented function a tool; use bare (`@register_tool`) or with options.

    The schema comes from the parameters' type hints and the docstring's `Args:` section (one line per
    parameter); the docstring's first paragraph is the description the model sees. Tools are assumed to have
    side effects unless declared read-only: the safe default. A parameter typed `RunnableConfig` is not part
    of the schema: it receives the run config, whose `configurable["idempotency_key"]` is the call's key when
    the executor runs a side-effecting tool (pass it on to an API that deduplicates, e.g. a payment service).

    Args:
        fn: the function (when used bare).
        name: the tool's name (default: the function's name).
        side_effects: False for a read-only tool; True records each call so a resumed run never repeats it.
        permission: a permission a `ToolPolicy` must grant for the tool to be called.
        timeout: seconds a call may run.
        needs_approval: every call waits for a human to approve, edit or reject it.
        trace_content: False keeps the call's arguments and result out of traces (only its name and time).
        untrusted_output: True when the tool returns text others wrote (see `ToolMeta.untrusted_output`).

    Returns:
        A `StructuredTool` (or a decorator making one) with its `ToolMeta` in `metadata`.

    Raises:
        ToolDefinitionError: a parameter has no type hint, `*args`/`**kwargs` are used, the docstring is
            missing, or a parameter is not described under `Args:`.

    Example:
        >>> @register_tool(side_effects=False)
        ... def shout(text: str) -> str:
        ...     '''Return `text` in capitals.
        ...
        ...     Args:
        ...         text: what to shout.
        ...     '''
        ...     return text.upper()
        >>> shout.invoke({"text": "hi"}), tool_meta(shout).side_effects
        ('HI', False)
    """
    meta = ToolMeta(
        side_effects=side_effects,
        permission=permission,
        timeout=timeout,
        needs_approval=needs_approval,
        trace_content=trace_content,
        untrusted_output=untrusted_output,
    )

    def decorate(function: Callable[..., Any]) -> StructuredTool:
        _check_signature(function)
        try:
            tool = StructuredTool.from_function(
                function if not inspect.iscoroutinefunction(function) else None,
                coroutine=function if inspect.iscoroutinefunction(function) else None,
                name=name or function.__name__,
                parse_docstring=True,
                error_on_invalid_docstring=True,
            )
        except ValueError as exc:
            raise ToolDefinitionError(f"tool {function.__name__!r}: {exc}") from exc
        tool.metadata = {**(tool.metadata or {}), META_KEY: meta}
        return tool

    return decorate(fn) if fn is not None else decorate


def _check_signature(function: Callable[..., Any]) -> None:
    label = getattr(function, "__name__", repr(function))
    if not callable(function):
        raise ToolDefinitionError(f"a tool must be a function, got {type(function).__name__}")
    doc = inspect.getdoc(function) or ""
    if not doc.strip():
        raise ToolDefinitionError(f"tool {label!r} has no docstring: the model needs a description")
    documented = _documented_args(doc)
    injected = _injected_config_params(function)
    for parameter in inspect.signature(function).parameters.values():
        if parameter.name in injected:
            continue
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise ToolDefinitionError(f"tool {label!r}: *args/**kwargs have no schema; name each parameter")
        if parameter.annotation is inspect.Parameter.empty:
            raise ToolDefinitionError(f"tool {label!r}: parameter {parameter.name!r} has no type hint")
        if parameter.name not in documented:
            raise ToolDefinitionError(
                f"tool {label!r}: parameter {parameter.name!r} is not described in the docstring's Args: section"
            )


def _injected_config_params(function: Callable[..., Any]) -> set[str]:
    """Names of parameters typed `RunnableConfig`: langchain passes the run config there; not in the schema."""
    from langchain_core.runnables import RunnableConfig

    try:
        hints = typing.get_type_hints(function)
    except Exception:  # noqa: BLE001 - unresolvable hints are reported per parameter below
        return set()
    return {name for name, hint in hints.items() if hint is RunnableConfig}


def _documented_args(doc: str) -> set[str]:
    names: set[str] = set()
    in_args = False
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:"):
            in_args = True
            continue
        if in_args:
            if stripped and not line.startswith((" ", "\t")):
                break
            head = stripped.split(":", 1)[0].split(" (", 1)[0].strip()
            if ":" in stripped and head.isidentifier():
                names.add(head)
    return names
