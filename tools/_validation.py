"""Checking a tool call's arguments against the tool's schema, with a message a model can act on.

It lives with the tools because every door a call comes through (the graph's executor, the MCP server) checks
arguments the same way.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.tools import BaseTool
from pydantic import BaseModel, ValidationError

__all__ = ["validation_problem"]


def validation_problem(tool: BaseTool, args: Any) -> str | None:
    """Return None if `args` fit `tool`'s argument schema, else a message telling the model what to fix.

    Unknown argument names are errors too (a model that invents a parameter should hear about it).

    Example:
        >>> from graphwright.tools import calculator
        >>> validation_problem(calculator, {"expression": "1+1"}) is None
        True
        >>> print(validation_problem(calculator, {"expr": "1+1"}).splitlines()[1])
        - expr: unknown argument
    """
    schema = _json_schema(tool)
    problems: list[str] = []
    if not isinstance(args, dict):
        problems.append(f"arguments must be a JSON object, got {type(args).__name__}")
    else:
        known = set((schema.get("properties") or {}).keys())
        problems += [f"- {name}: unknown argument" for name in args if known and name not in known]
        problems += _schema_errors(tool, args)
    if not problems:
        return None
    return (
        f"Invalid arguments for tool {tool.name!r}:\n" + "\n".join(problems) + "\n"
        f"Expected arguments (JSON schema): {json.dumps(schema.get('properties', {}))}; "
        f"required: {schema.get('required', [])}. Call {tool.name!r} again with corrected arguments."
    )


def _json_schema(tool: BaseTool) -> dict[str, Any]:
    schema = tool.tool_call_schema
    if isinstance(schema, dict):
        return schema
    return schema.model_json_schema()


def _schema_errors(tool: BaseTool, args: dict[str, Any]) -> list[str]:
    schema = tool.args_schema
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        try:
            schema.model_validate(args)
        except ValidationError as exc:
            return [
                f"- {'.'.join(map(str, e['loc'])) or '(arguments)'}: {e['msg']} (got {_clip(e.get('input'), 80)})"
                for e in exc.errors()
            ]
        return []
    if isinstance(schema, dict):
        import jsonschema

        validator = jsonschema.Draft202012Validator(schema)
        return [f"- {'.'.join(map(str, e.path)) or '(arguments)'}: {e.message}" for e in validator.iter_errors(args)]
    return []


def _clip(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
