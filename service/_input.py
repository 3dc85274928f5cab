"""One check of every request's input before any route sees it: JSON depth, strings, numbers, path and query.

What a client sends ends up in SQLite, Postgres (JSONB, text) and the checkpoints, and is echoed back as JSON;
each of those refuses some values that JSON itself allows, and a refusal deep in a route is a 500. So every
route is a `CheckedRoute`, which refuses such input up front with `RequestInputError` (422, naming where):

- JSON nested deeper than `ServiceOptions.max_json_depth` (responses are serialized recursively, and a
  parser's recursion limit is not a limit a client should be able to reach);
- a NUL character or a lone UTF-16 surrogate in any string, key, path or query value (Postgres text and JSONB
  cannot hold a NUL; a lone surrogate cannot be encoded as UTF-8 at all);
- an integer outside the signed 64-bit range (what SQLite and Postgres store), and NaN or an infinity
  (not JSON; Postgres JSONB refuses them).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from ..errors import RequestInputError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""The integers a request may carry: what SQLite's INTEGER and Postgres' bigint hold."""

_UNSAFE = re.compile("[\x00\ud800-\udfff]")
"""A NUL, or a UTF-16 surrogate (which in a Python string is always a lone one: pairs decode to one code point)."""


def check_json(value: Any, *, max_depth: int, where: str = "body") -> None:
    """Raise `RequestInputError` unless `value` (parsed JSON) is safe to store and echo; return None when it is.

    Walks iteratively, so a value nested far beyond `max_depth` costs no recursion.

    Raises:
        RequestInputError: nested deeper than `max_depth`, a NUL or lone surrogate in a key or string, an
            integer outside the signed 64-bit range, or a float that is NaN or infinite; the message names the
            path to the offending value.

    Example:
        >>> check_json({"a": [1, "x"]}, max_depth=4)
        >>> check_json({"a": {"b": 10**20}}, max_depth=4)
        Traceback (most recent call last):
        graphwright.errors.RequestInputError: body.a.b: integer 100000000000000000000 is outside the signed 64-bit range
    """
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= max_depth:
                raise RequestInputError(f"{_short(path)}: JSON nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    check_text(key, f"{path} (a key)")
                    stack.append((child, f"{path}.{key}", depth + 1))
            else:
                stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))
        elif isinstance(item, str):
            check_text(item, path)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                raise RequestInputError(f"{path}: integer {item} is outside the signed 64-bit range")
        elif isinstance(item, float) and not math.isfinite(item):
            raise RequestInputError(f"{path}: {item} is not a JSON number")


def _short(path: str) -> str:
    """A path to a deeply nested value, cut to a readable length."""
    return path if len(path) <= 60 else f"{path[:60]}..."


def check_text(text: str, where: str) -> None:
    """Raise `RequestInputError` when `text` holds a NUL or a lone surrogate (no store can keep either)."""
    found = _UNSAFE.search(text)
    if found is not None:
        what = "a NUL character" if found.group() == "\x00" else "a lone UTF-16 surrogate"
        raise RequestInputError(f"{where}: {what} at position {found.start()} (not allowed in stored text)")


class CheckedRoute(APIRoute):
    """A FastAPI route whose path, query and JSON body pass `check_text`/`check_json` before the handler runs.

    The parsed body is Starlette's cached `request.json()`, so FastAPI validates that same value without
    parsing it again.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        has_body = self.body_field is not None

        async def checked(request: Request) -> Response:
            for name, value in request.path_params.items():
                if isinstance(value, str):
                    check_text(value, f"path parameter {name}")
            for name, value in request.query_params.multi_items():
                check_text(name, "a query parameter's name")
                check_text(value, f"query parameter {name}")
            if has_body:
                await _check_body(request)
            return await handler(request)

        return checked


def checked_router(**kwargs: Any) -> APIRouter:
    """An `APIRouter` whose routes are `CheckedRoute`s (every router of the service is one)."""
    return APIRouter(route_class=CheckedRoute, **kwargs)


async def _check_body(request: Request) -> None:
    """Parse the JSON body (as FastAPI will) and check it; a body that is not JSON is left to FastAPI's 422."""
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if not (content_type == "application/json" or content_type.endswith("+json")):
        return
    if not await request.body():
        return
    depth = request.app.state.service.options.max_json_depth
    try:
        body = await request.json()
    except RecursionError:
        raise RequestInputError(f"body: JSON nested deeper than {depth} levels") from None
    except UnicodeDecodeError as exc:
        raise RequestInputError(f"body: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError:
        return
    check_json(body, max_depth=depth)
