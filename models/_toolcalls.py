"""Reading tool calls out of a model's text.

Qwen-style chat templates ask for `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`; small models
often drop the tags and write the bare JSON object (or a list of them), sometimes in a code fence. The parser
accepts all of these, and turns anything that looks like a call but is not a valid one into an invalid call
with the reason, so a node can hand the reason back to the model.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages.tool import InvalidToolCall, ToolCall, invalid_tool_call, tool_call

_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


@dataclass
class ParsedOutput:
    """A model's text split into the prose and the tool calls it holds."""

    content: str
    """Text outside any tool call."""
    tool_calls: list[ToolCall] = field(default_factory=list)
    """Calls to bound tools with arguments that parse as a JSON object."""
    invalid_tool_calls: list[InvalidToolCall] = field(default_factory=list)
    """Things written as calls that are not valid calls, each with its error."""


def parse_tool_calls(text: str, tool_names: set[str], *, id_seed: str = "") -> ParsedOutput:
    """Split `text` into content and tool calls to the tools named in `tool_names`.

    Args:
        text: the model's decoded output.
        tool_names: names of the bound tools; with none bound, the text is all content.
        id_seed: text mixed into the call ids (e.g. the prompt), so the same output to the same prompt gets
            the same ids on a replay.

    Returns:
        The parsed output. Call ids are `call_` plus 24 hex digits.

    Example:
        >>> out = parse_tool_calls('<tool_call>{"name": "add", "arguments": {"a": 1}}</tool_call>', {"add"})
        >>> out.tool_calls[0]["name"], out.tool_calls[0]["args"]
        ('add', {'a': 1})
    """
    if not tool_names:
        return ParsedOutput(text.strip())
    tagged = _TAGGED.findall(text)
    if tagged:
        content = _TAGGED.sub("", text).strip()
        raw_calls: list[str | Any] = list(tagged)
    else:
        candidate = _bare_json(text)
        if candidate is None:
            return ParsedOutput(text.strip())
        content = ""
        raw_calls = list(candidate)
    out = ParsedOutput(content)
    for index, raw in enumerate(raw_calls):
        call_id = _call_id(id_seed, text, index)
        body = raw if isinstance(raw, str) else json.dumps(raw)
        try:
            obj = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError as exc:
            out.invalid_tool_calls.append(invalid_tool_call(args=body, id=call_id, error=f"not valid JSON: {exc}"))
            continue
        name, args, error = _validate(obj, tool_names)
        if error:
            out.invalid_tool_calls.append(invalid_tool_call(name=name, args=body, id=call_id, error=error))
        else:
            out.tool_calls.append(tool_call(name=name, args=args, id=call_id))
    return out


def _bare_json(text: str) -> list[Any] | None:
    """Return the call-like JSON objects `text` consists of (fenced or not, one or more), else None."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1)
    if not stripped.startswith(("{", "[")):
        return None
    decoder = json.JSONDecoder()
    values: list[Any] = []
    position = 0
    while position < len(stripped):
        try:
            value, position = decoder.raw_decode(stripped, position)
        except json.JSONDecodeError:
            return None
        values.extend(value if isinstance(value, list) else [value])
        while position < len(stripped) and stripped[position] in " \t\r\n,":
            position += 1
    if values and all(isinstance(item, dict) and "name" in item for item in values):
        return values
    return None


def _validate(obj: Any, tool_names: set[str]) -> tuple[str | None, dict[str, Any], str | None]:
    """Return (name, args, error) for one decoded call object."""
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None, {}, 'a tool call must be a JSON object with a string "name"'
    name = obj["name"]
    if name not in tool_names:
        return name, {}, f"unknown tool {name!r}; available: {', '.join(sorted(tool_names))}"
    args = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError as exc:
            return name, {}, f"arguments are not valid JSON: {exc}"
    if not isinstance(args, dict):
        return name, {}, "arguments must be a JSON object"
    return name, args, None


def _call_id(seed: str, text: str, index: int) -> str:
    digest = hashlib.sha256(f"{seed}\x00{text}\x00{index}".encode()).hexdigest()
    return f"call_{digest[:24]}"
