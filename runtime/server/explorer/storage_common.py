"""Shared by the KV, D1 and R2 routes of the Local Explorer API: find a binding, read a body, answer a failure."""

from __future__ import annotations

from typing import Any

from pyflows.runtime.server.explorer.input import InvalidRequestError, parse_json
from pyflows.runtime.server.explorer.routes import error_envelope
from starlette.requests import Request
from starlette.responses import JSONResponse

__all__ = ["bindings_of", "json_request_body", "not_found"]


def bindings_of(runtime: Any, kind: type) -> list[Any]:
    """The runtime's `self.env` bindings of one class (KVNamespace, D1Database, R2Bucket), in config order."""
    # The explorer is handed the dev app, whose `.runtime` (opened by the lifespan) holds `self.env`.
    env = getattr(getattr(runtime, "runtime", runtime), "env", None) or {}
    return [value for value in env.values() if isinstance(value, kind)]


def not_found(what: str, name: str, known: list[str], code: int) -> JSONResponse:
    """404 naming the unknown resource and the ones that exist."""
    listing = ", ".join(known) or "none"
    return error_envelope(404, code, f"{what} {name!r} is not bound to this Worker (bound: {listing}).")


async def json_request_body(request: Request, *, code: int, empty: Any = None) -> Any:
    """The body parsed as JSON (`empty` when there is none); anything else — not UTF-8, not JSON, nested
    too deep for the parser — is InvalidRequestError (400 with `code`), never a server error."""
    raw = await request.body()
    if not raw.strip():
        return empty
    try:
        return parse_json(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InvalidRequestError(f"The body is not JSON ({exc}).", code=code) from None
