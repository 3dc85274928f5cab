"""Model Context Protocol: use an MCP server's tools as graphwright tools, and serve graphwright tools over MCP.

Both directions use the official `mcp` SDK (2.x, pinned) over the stdio transport. Tools loaded from a server
are ordinary `StructuredTool`s (sync and async) whose JSON schema is the server's, so the executor validates
their arguments like any other; a tool the server does not mark read-only is treated as having side effects.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool, ToolException

from ..errors import ToolDefinitionError
from ._policy import ToolPolicy
from ._registry import META_KEY, ToolMeta, tool_meta


@contextmanager
def open_mcp_tools(
    command: str,
    args: Sequence[str] = (),
    *,
    env: dict[str, str] | None = None,
    permission: str | None = None,
    needs_approval: bool = False,
    timeout: float = 30.0,
) -> Iterator[list[StructuredTool]]:
    """Start the MCP server `command args` (stdio transport), yield its tools, and stop it on exit.

    The connection lives on a background event loop; each tool call is sent over it, from sync or async code.

    Args:
        command: the server program, e.g. `sys.executable`.
        args: its arguments, e.g. `["-m", "my_server"]`.
        env: its environment (None: the MCP SDK's default, a small safe subset of ours).
        permission: a permission every tool from this server needs (see `ToolPolicy`).
        needs_approval: every call to these tools waits for a human's approval.
        timeout: seconds a call may take.

    Yields:
        One `StructuredTool` per tool the server lists, carrying a `ToolMeta`.
    """
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=command, args=list(args), env=env)
    ready: concurrent.futures.Future[tuple[Any, Any, asyncio.Event]] = concurrent.futures.Future()

    async def session() -> None:  # enters and leaves the client in one task, as anyio requires
        async with Client(params, read_timeout_seconds=timeout) as client:
            listed = await client.list_tools()
            stop = asyncio.Event()
            ready.set_result((client, listed, stop))
            await stop.wait()

    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever, name="mcp-client", daemon=True)
    runner.start()
    try:
        running = asyncio.run_coroutine_threadsafe(session(), loop)
        concurrent.futures.wait([ready, running], timeout=timeout + 30, return_when="FIRST_COMPLETED")
        if not ready.done():
            running.cancel()
            error = running.exception(5) if running.done() else None
            raise ToolDefinitionError(f"MCP server {command!r} did not start: {error or 'timed out'}") from error
        client, listed, stop = ready.result()
        try:
            yield [_wrap(client, loop, spec, permission, needs_approval, timeout) for spec in listed.tools]
        finally:
            loop.call_soon_threadsafe(stop.set)
            running.result(timeout)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        runner.join(5)
        loop.close()


def _wrap(client: Any, loop: asyncio.AbstractEventLoop, spec: Any, permission: str | None, approval: bool, timeout: float) -> StructuredTool:
    name = spec.name

    async def call_async(**arguments: Any) -> str:
        future = asyncio.run_coroutine_threadsafe(client.call_tool(name, arguments), loop)
        return _result_text(await asyncio.wrap_future(future))

    def call(**arguments: Any) -> str:
        result = asyncio.run_coroutine_threadsafe(client.call_tool(name, arguments), loop).result(timeout)
        return _result_text(result)

    read_only = bool(spec.annotations and spec.annotations.read_only_hint)
    meta = ToolMeta(  # what an MCP server returns is another program's text
        side_effects=not read_only, permission=permission, timeout=timeout, needs_approval=approval, untrusted_output=True
    )
    return StructuredTool(
        name=name,
        description=spec.description or name,
        args_schema=dict(spec.input_schema),
        func=call,
        coroutine=call_async,
        metadata={META_KEY: meta, "mcp": True},
    )


def _result_text(result: Any) -> str:
    texts = [getattr(block, "text", None) or f"[{getattr(block, 'type', 'content')}]" for block in result.content]
    text = "\n".join(texts)
    if not texts and result.structured_content is not None:
        import json

        text = json.dumps(result.structured_content)
    if result.is_error:
        raise ToolException(text or "the MCP tool reported an error")
    return text


def mcp_server(tools: Sequence[BaseTool], *, name: str = "graphwright", policy: ToolPolicy = ToolPolicy()) -> Any:
    """Return an MCP server (`mcp.server.Server`) that lists `tools` and runs their calls.

    Arguments are validated against each tool's schema; a tool's error becomes an MCP error result. Tools the
    `policy` refuses are not listed. A tool that needs a human's approval cannot be served (an MCP client has
    no way to be asked), so it is refused here.

    Raises:
        ToolDefinitionError: a tool needs approval, or two tools share a name.

    Example:
        >>> from graphwright.tools import calculator
        >>> mcp_server([calculator]).name
        'graphwright'
    """
    import anyio
    import mcp_types as types
    from mcp.server import Server

    from ._validation import validation_problem

    served: dict[str, BaseTool] = {}
    for tool in tools:
        if tool_meta(tool).needs_approval:
            raise ToolDefinitionError(f"tool {tool.name!r} needs human approval, which an MCP client cannot give")
        if tool.name in served:
            raise ToolDefinitionError(f"two tools are named {tool.name!r}")
        if policy.refusal(tool.name, tool_meta(tool)) is None:
            served[tool.name] = tool

    def describe(tool: BaseTool) -> Any:
        schema = tool.tool_call_schema
        schema = schema if isinstance(schema, dict) else schema.model_json_schema()
        read_only = not tool_meta(tool).side_effects
        return types.Tool(
            name=tool.name,
            description=tool.description,
            input_schema={"type": "object", **{k: v for k, v in schema.items() if k in ("properties", "required", "type")}},
            annotations=types.ToolAnnotations(read_only_hint=read_only),
        )

    async def on_list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(tools=[describe(tool) for tool in served.values()])

    async def on_call_tool(ctx: Any, params: Any) -> Any:
        tool = served.get(params.name)
        arguments = params.arguments or {}
        if tool is None:
            return _error_result(types, f"there is no tool named {params.name!r}")
        problem = validation_problem(tool, arguments)
        if problem is not None:
            return _error_result(types, problem)
        try:
            output = await anyio.to_thread.run_sync(lambda: tool.invoke(arguments))
        except Exception as exc:  # noqa: BLE001 - a tool's failure is the caller's information, not ours
            return _error_result(types, f"{type(exc).__name__}: {exc}")
        text = output if isinstance(output, str) else str(output)
        return types.CallToolResult(content=[types.TextContent(text=text)])

    return Server(name, on_list_tools=on_list_tools, on_call_tool=on_call_tool)


def _error_result(types: Any, text: str) -> Any:
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)


def serve_mcp(tools: Sequence[BaseTool], *, name: str = "graphwright", policy: ToolPolicy = ToolPolicy()) -> None:
    """Serve `tools` over MCP on stdin/stdout until the client closes the connection (see `mcp_server`)."""
    import anyio
    from mcp.server.stdio import stdio_server

    server = mcp_server(tools, name=name, policy=policy)

    async def main() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(main)
