"""What a served API allows: who may call it (API keys) and the limits every request and run is held to."""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ..errors import ServiceSetupError

API_KEYS_ENV = "GRAPHWRIGHT_API_KEYS"
"""Environment variable `graphwright serve` reads keys from: `key=tenant` pairs (or bare keys) split by commas."""

ANONYMOUS = "anonymous"
"""The tenant every caller is when authentication is explicitly disabled."""


@dataclass(frozen=True)
class ApiKeyAuth:
    """API keys and the tenant each one acts as; a key is sent as `x-api-key: KEY` or `Authorization: Bearer KEY`.

    Two keys may map to the same tenant (key rotation). Threads belong to tenants, not keys.

    Example:
        >>> auth = ApiKeyAuth({"k-alice-123456": "alice"})
        >>> auth.tenant_for("k-alice-123456"), auth.tenant_for("wrong")
        ('alice', None)
    """

    keys: Mapping[str, str]
    """API key -> tenant id."""

    def __post_init__(self) -> None:
        if not self.keys:
            raise ServiceSetupError("ApiKeyAuth needs at least one key; to serve without auth pass auth=False")
        for key, tenant in self.keys.items():
            if not isinstance(key, str) or len(key) < 8:
                raise ServiceSetupError("every API key must be a string of at least 8 characters")
            if not isinstance(tenant, str) or not tenant:
                raise ServiceSetupError(f"the tenant of an API key must be a non-empty string, got {tenant!r}")

    def tenant_for(self, key: str | None) -> str | None:
        """Return the tenant `key` acts as, or None when it is missing or unknown (constant-time per key)."""
        if not key:
            return None
        found = None
        for known, tenant in self.keys.items():
            if hmac.compare_digest(known.encode(), key.encode()):
                found = tenant
        return found

    @classmethod
    def from_env(cls, value: str | None = None) -> ApiKeyAuth:
        """Parse `key=tenant,key2=tenant2` (a bare `key` is its own tenant) from `value` or `$GRAPHWRIGHT_API_KEYS`.

        Raises:
            ServiceSetupError: no keys are configured, or an entry is malformed.

        Example:
            >>> ApiKeyAuth.from_env("k-alice-123456=alice, k-bob-1234567=bob").keys["k-bob-1234567"]
            'bob'
        """
        raw = os.environ.get(API_KEYS_ENV, "") if value is None else value
        keys: dict[str, str] = {}
        for entry in (part.strip() for part in raw.split(",")):
            if not entry:
                continue
            key, sep, tenant = entry.partition("=")
            keys[key.strip()] = tenant.strip() if sep else key.strip()
        if not keys:
            raise ServiceSetupError(
                f"no API keys configured: set {API_KEYS_ENV}='key=tenant,...' or disable auth explicitly for "
                "local use (--no-auth / auth=False)"
            )
        return cls(keys)


@dataclass(frozen=True)
class ServiceOptions:
    """Limits of a served API. Each default is on: a served graph is bounded unless you loosen it."""

    max_body_bytes: int = 1_000_000
    """Largest request body accepted; a bigger one gets 413 before it is read."""
    max_json_depth: int = 64
    """Deepest nesting of objects and arrays a JSON body may have (422 beyond); the SDK's bodies nest a few levels."""
    rate_per_second: float = 20.0
    """Requests per second each tenant may sustain (token bucket refill rate), per worker process."""
    rate_burst: int = 40
    """Requests a tenant may send at once before the rate applies."""
    run_timeout: float = 300.0
    """Seconds a run may take before it is stopped with status `timeout`."""
    recursion_limit: int = 50
    """Super-steps a run may take (LangGraph's recursion limit) unless the request asks for fewer."""
    multitask_strategy: Literal["reject", "enqueue"] = "reject"
    """What a new run on a busy thread does when the request does not say: fail with 409, or wait its turn."""
    enqueue_timeout: float = 60.0
    """Seconds an enqueued run waits for its thread before it fails."""
    cancel_poll_seconds: float = 0.25
    """How often a worker checks the shared database for cancellations requested on other workers."""
    busy_lease_seconds: float = 30.0
    """With several workers: a busy thread whose worker stopped renewing its claim this long ago (the worker
    died) may be claimed by another."""
    extra_docs: Mapping[str, str] = field(default_factory=dict)
    """Extra OpenAPI `info` fields (e.g. `{"title": "My agents"}`)."""

    def __post_init__(self) -> None:
        positive = ("max_body_bytes", "max_json_depth", "rate_per_second", "rate_burst", "run_timeout", "recursion_limit")
        for name in (*positive, "enqueue_timeout", "cancel_poll_seconds", "busy_lease_seconds"):
            if getattr(self, name) <= 0:
                raise ServiceSetupError(f"ServiceOptions.{name} must be positive, got {getattr(self, name)!r}")
        if self.multitask_strategy not in ("reject", "enqueue"):
            raise ServiceSetupError(
                f"ServiceOptions.multitask_strategy must be 'reject' or 'enqueue', got {self.multitask_strategy!r}"
            )
