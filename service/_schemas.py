"""Request bodies of the HTTP API (pydantic at the edge): the fields the LangGraph SDK sends, checked strictly.

Unknown fields are rejected (422) so a typo is never silently ignored; fields the SDK may send but this server
does not support (webhooks, delayed runs, ...) are accepted only when empty.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ._input import INT64_MAX

Offset = Annotated[int, Field(ge=0, le=INT64_MAX, description="Items to skip (at most 2^63-1).")]
"""How many items a listing skips: what the databases' OFFSET takes (a bigint)."""

StreamMode = Literal["values", "updates", "messages", "messages-tuple", "custom", "debug", "tasks", "checkpoints"]


class ErrorBody(BaseModel):
    """Every error answer (4xx, 5xx): what was wrong, and for typed and validation errors, their kind."""

    detail: str = Field(..., description="What was wrong, in a sentence.")
    error: str | None = Field(None, description="The graphwright error type, for a typed error.")
    errors: list[dict[str, Any]] | None = Field(None, description="Each validation problem, for a 422 from it.")


class _Body(BaseModel):
    # strict: JSON `false` is not the integer 0 and `"10"` is not 10, so what the schema says is what passes.
    model_config = ConfigDict(extra="forbid", strict=True)


class ThreadCreate(_Body):
    """POST /threads."""

    thread_id: str | None = Field(None, description="Id to give the thread (default: a new UUID).")
    metadata: dict[str, Any] = Field(default_factory=dict)
    if_exists: Literal["raise", "do_nothing"] = "raise"
    graph_id: str | None = None
    supersteps: list[Any] | None = None
    ttl: Any = Field(None, description="Not supported: threads here live until deleted; send null or omit it.")

    @model_validator(mode="after")
    def _unsupported(self) -> ThreadCreate:
        if self.supersteps:
            raise ValueError("supersteps are not supported by this server")
        _no_thread_ttl(self.ttl)
        return self


class ThreadPatch(_Body):
    """PATCH /threads/{thread_id}."""

    metadata: dict[str, Any] = Field(default_factory=dict)
    ttl: Any = Field(None, description="Not supported: threads here live until deleted; send null or omit it.")

    @model_validator(mode="after")
    def _unsupported(self) -> ThreadPatch:
        _no_thread_ttl(self.ttl)
        return self


def _no_thread_ttl(ttl: Any) -> None:
    """Refuse a thread TTL: this server never expires threads, and a TTL silently ignored would be a lie."""
    if ttl is not None:
        raise ValueError("thread ttl is not supported by this server: threads live until deleted; omit ttl")


class ThreadSearch(_Body):
    """POST /threads/search and /threads/count."""

    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    ids: list[str] | None = None
    status: Literal["idle", "busy", "interrupted", "error"] | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: Offset = 0
    sort_by: str | None = None
    sort_order: Literal["asc", "desc"] | None = None
    select: list[str] | None = None
    extract: dict[str, Any] | None = None


class CheckpointRef(BaseModel):
    """A checkpoint reference as the SDK sends it."""

    model_config = ConfigDict(extra="allow", strict=True)
    thread_id: str | None = None
    checkpoint_ns: str | None = ""
    checkpoint_id: str | None = None
    checkpoint_map: dict[str, Any] | None = None


class StateUpdate(_Body):
    """POST /threads/{thread_id}/state."""

    values: Any = None
    as_node: str | None = None
    checkpoint: CheckpointRef | None = None
    checkpoint_id: str | None = None


class StateAtCheckpoint(_Body):
    """POST /threads/{thread_id}/state/checkpoint."""

    checkpoint: CheckpointRef
    subgraphs: bool = False
    select: list[str] | None = None


class HistoryQuery(_Body):
    """POST /threads/{thread_id}/history."""

    limit: int = Field(10, ge=1, le=1000)
    before: str | CheckpointRef | None = None
    metadata: dict[str, Any] | None = None
    checkpoint: CheckpointRef | None = None
    select: list[str] | None = None


class CommandBody(_Body):
    """A LangGraph `Command`: resume an interrupt, update state, or go to a node."""

    resume: Any = None
    update: Any = None
    goto: Any = None


class RunCreate(_Body):
    """POST /threads/{thread_id}/runs[/stream|/wait] and /runs[/stream|/wait]."""

    assistant_id: str = Field(..., min_length=1, description="The graph name (assistant id) to run.")
    input: Any = None
    command: CommandBody | None = None
    stream_mode: StreamMode | list[StreamMode] = "values"
    stream_subgraphs: bool = False
    stream_resumable: bool = False
    metadata: dict[str, Any] = Field(default_factory=dict)
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    checkpoint: CheckpointRef | None = None
    checkpoint_id: str | None = None
    checkpoint_during: bool | None = None
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    feedback_keys: list[str] | None = None
    webhook: str | None = None
    multitask_strategy: Literal["reject", "enqueue", "interrupt", "rollback"] | None = None
    if_not_exists: Literal["reject", "create"] | None = None
    on_disconnect: Literal["cancel", "continue"] | None = None
    on_completion: Literal["delete", "keep"] | None = None
    after_seconds: float | None = None
    durability: Literal["sync", "async", "exit"] | None = None
    strict_resume: bool | None = None
    langsmith_tracer: Any = None

    @field_validator("config")
    @classmethod
    def _config_shape(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        allowed = {"configurable", "recursion_limit", "tags", "metadata", "run_name", "max_concurrency"}
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise ValueError(f"config keys {unknown} are not allowed (allowed: {sorted(allowed)})")
        limit = value.get("recursion_limit")
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ValueError("config.recursion_limit must be a positive integer")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RunCreate:
        if self.input is not None and self.command is not None:
            raise ValueError("send either input or command, not both")
        if self.webhook:
            raise ValueError("webhooks are not supported by this server")
        if self.after_seconds:
            raise ValueError("delayed runs (after_seconds) are not supported by this server")
        if self.multitask_strategy in ("interrupt", "rollback"):
            raise ValueError(
                f"multitask_strategy {self.multitask_strategy!r} is not supported; use 'reject' or 'enqueue'"
            )
        return self


class StorePut(_Body):
    """PUT /store/items."""

    namespace: list[str] = Field(..., min_length=1)
    key: str = Field(..., min_length=1)
    value: dict[str, Any]
    index: Literal[False] | list[str] | None = Field(
        None, description="Fields to index for semantic search; false: do not index; null: the store's default."
    )
    ttl: float | None = Field(
        None, gt=0, description="Minutes until the item expires; only when the server's store supports TTLs."
    )


class StoreDelete(_Body):
    """DELETE /store/items."""

    namespace: list[str] = Field(..., min_length=1)
    key: str = Field(..., min_length=1)


class StoreSearch(_Body):
    """POST /store/items/search."""

    namespace_prefix: list[str] = Field(default_factory=list)
    filter: dict[str, Any] | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: Offset = 0
    query: str | None = None
    refresh_ttl: bool | None = None


class StoreNamespaces(_Body):
    """POST /store/namespaces."""

    prefix: list[str] | None = None
    suffix: list[str] | None = None
    max_depth: int | None = Field(None, ge=1)
    limit: int = Field(100, ge=1, le=1000)
    offset: Offset = 0


class AssistantSearch(_Body):
    """POST /assistants/search and /assistants/count."""

    graph_id: str | None = None
    name: str | None = None
    metadata: dict[str, Any] | None = None
    limit: int = Field(10, ge=1, le=1000)
    offset: Offset = 0
    sort_by: str | None = None
    sort_order: Literal["asc", "desc"] | None = None
    select: list[str] | None = None
