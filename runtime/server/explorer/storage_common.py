"""Shared by the KV, D1 and R2 routes of the Local Explorer API: find a binding, answer a failure."""

from __future__ import annotations

from typing import Any

from pyflows.runtime.server.explorer.routes import error_envelope
from starlette.responses import JSONResponse

__all__ = ["bindings_of", "not_found"]


def bindings_of(runtime: Any, kind: type) -> list[Any]:
    """The runtime's `self.env` bindings of one class (KVNamespace, D1Database, R2Bucket), in config order."""
    # The explorer is handed the dev app, whose `.runtime` (opened by the lifespan) holds `self.env`.
    env = getattr(getattr(runtime, "runtime", runtime), "env", None) or {}
    return [value for value in env.values() if isinstance(value, kind)]


def not_found(what: str, name: str, known: list[str], code: int) -> JSONResponse:
    """404 naming the unknown resource and the ones that exist."""
    listing = ", ".join(known) or "none"
    return error_envelope(404, code, f"{what} {name!r} is not bound to this Worker (bound: {listing}).")
