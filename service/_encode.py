"""Turning graph values, checkpoints and stream chunks into the JSON the LangGraph SDK expects."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any
from uuid import UUID

import orjson
from pydantic import BaseModel


def jsonable(obj: Any) -> Any:
    """Return `obj` as plain JSON data: messages and other models as dicts, interrupts as `{value, id}`.

    Example:
        >>> from langchain_core.messages import HumanMessage
        >>> jsonable({"messages": [HumanMessage("hi", id="1")]})["messages"][0]["type"]
        'human'
    """
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, BaseModel):
        return jsonable(obj.model_dump())
    if type(obj).__name__ == "Interrupt" and hasattr(obj, "value"):
        return {"value": jsonable(obj.value), "id": getattr(obj, "id", None)}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if isinstance(obj, (UUID, Enum)):
        return str(obj.value if isinstance(obj, Enum) else obj)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    if hasattr(obj, "_asdict"):
        return jsonable(obj._asdict())
    return repr(obj)


def dumps(obj: Any) -> bytes:
    """JSON-encode `obj` after `jsonable`."""
    return orjson.dumps(jsonable(obj))


def sse(event: str, data: Any) -> bytes:
    """One Server-Sent Events frame: `event: NAME`, `data: JSON`, blank line.

    Example:
        >>> sse("end", None)
        b'event: end\\ndata: null\\n\\n'
    """
    return b"event: " + event.encode() + b"\ndata: " + dumps(data) + b"\n\n"


def checkpoint_ref(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The `{thread_id, checkpoint_ns, checkpoint_id, checkpoint_map}` of a checkpoint config, or None."""
    if not config:
        return None
    conf = config.get("configurable", {})
    return {
        "thread_id": conf.get("thread_id"),
        "checkpoint_ns": conf.get("checkpoint_ns", ""),
        "checkpoint_id": conf.get("checkpoint_id"),
        "checkpoint_map": conf.get("checkpoint_map") or {},
    }


def thread_state(snapshot: Any) -> dict[str, Any]:
    """A LangGraph `StateSnapshot` as the SDK's `ThreadState` dict."""
    tasks = []
    for task in snapshot.tasks:
        tasks.append(
            {
                "id": task.id,
                "name": task.name,
                "path": jsonable(task.path),
                "error": repr(task.error) if task.error else None,
                "interrupts": jsonable(task.interrupts),
                "checkpoint": checkpoint_ref(task.state) if isinstance(task.state, Mapping) else None,
                "state": thread_state(task.state) if task.state is not None and hasattr(task.state, "tasks") else None,
                "result": jsonable(getattr(task, "result", None)),
            }
        )
    created = snapshot.created_at
    return {
        "values": jsonable(snapshot.values),
        "next": list(snapshot.next),
        "checkpoint": checkpoint_ref(snapshot.config),
        "metadata": jsonable(snapshot.metadata or {}),
        "created_at": created.isoformat() if isinstance(created, datetime) else created,
        "parent_checkpoint": checkpoint_ref(snapshot.parent_config),
        "tasks": tasks,
        "interrupts": jsonable(list(snapshot.interrupts)),
    }
