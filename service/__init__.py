"""HTTP serving: an ASGI app speaking the LangGraph server API (for `langgraph_sdk` and `RemoteGraph`).

API-key auth, tenant-owned threads, body and rate limits and a run timeout are on by default.

`create_app` and `view_app` (the live view's page in front of the API) are imported on first use, so
`graphwright --help` does not load the web stack.
"""

from typing import Any

from ._options import ANONYMOUS, API_KEYS_ENV, ApiKeyAuth, ServiceOptions

__all__ = [
    "ANONYMOUS",
    "API_KEYS_ENV",
    "ApiKeyAuth",
    "ServiceOptions",
    "create_app",
    "view_app",
]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from ._app import create_app

        return create_app
    if name == "view_app":
        from ._view_app import view_app

        return view_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
