"""HTTP serving: an ASGI app speaking the LangGraph server API (for `langgraph_sdk` and `RemoteGraph`), with auth and limits."""

from ._app import create_app
from ._options import ANONYMOUS, API_KEYS_ENV, ApiKeyAuth, ServiceOptions

__all__ = [
    "ANONYMOUS",
    "API_KEYS_ENV",
    "ApiKeyAuth",
    "ServiceOptions",
    "create_app",
]
