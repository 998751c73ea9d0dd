"""A thin `js` module so Worker code written for Pyodide imports and runs under CPython.

Only what Python Workers code commonly touches:
`js.Object.fromEntries` (identity on a dict, dict() of pairs), `js.JSON`, `js.Response.new`,
`js.Headers.new`, `js.fetch`, `js.Date.now`, `js.console`, `js.Uint8Array.new`. Values stay plain
Python: there is no JavaScript here.
"""

from __future__ import annotations

import json as _json
import sys as _sys
from typing import Any

from pyflows.runtime.protocol.durations import now_ms as _now_ms
from pyflows.runtime.surface.http import Headers as _Headers
from pyflows.runtime.surface.http import Response as _Response
from pyflows.runtime.surface.http import fetch

__all__ = [
    "JSON",
    "Date",
    "Headers",
    "Object",
    "Response",
    "Uint8Array",
    "console",
    "fetch",
    "null",
    "undefined",
]

null = None
undefined = None


def _get(init: Any, key: str, default: Any = None) -> Any:
    if init is None:
        return default
    if isinstance(init, dict):
        return init.get(key, default)
    return getattr(init, key, default)


class Object:
    """`js.Object`: `fromEntries` returns plain dicts (what `to_js(..., dict_converter=...)` wants)."""

    @staticmethod
    def fromEntries(entries: Any) -> dict[Any, Any]:  # noqa: N802 - the JS name
        if isinstance(entries, dict):
            return entries
        return dict(entries)

    @staticmethod
    def new() -> dict[str, Any]:
        return {}

    @staticmethod
    def keys(obj: dict[str, Any]) -> list[str]:
        return list(obj)

    @staticmethod
    def entries(obj: dict[str, Any]) -> list[list[Any]]:
        return [[k, v] for k, v in obj.items()]


class JSON:
    """`js.JSON.stringify` / `js.JSON.parse` with Python's json module."""

    @staticmethod
    def stringify(value: Any, *_: Any) -> str:
        return _json.dumps(value, separators=(",", ":"))

    @staticmethod
    def parse(text: str | bytes) -> Any:
        return _json.loads(text)


class Response:
    """`js.Response.new(body, init)` / `js.Response.json(data, init)`: pyflows' `workers.Response`."""

    @staticmethod
    def new(body: Any = None, init: Any = None) -> _Response:
        return _Response(
            body,
            status=_get(init, "status", 200),
            status_text=_get(init, "statusText", ""),
            headers=_get(init, "headers"),
        )

    @staticmethod
    def json(data: Any, init: Any = None) -> _Response:
        return _Response.from_json(data, status=_get(init, "status", 200), headers=_get(init, "headers"))

    @staticmethod
    def redirect(url: str, status: int = 302) -> _Response:
        return _Response.redirect(url, status)


class Headers:
    """`js.Headers.new(init)`: pyflows' `workers.Headers`."""

    @staticmethod
    def new(init: Any = None) -> _Headers:
        return _Headers(init)


class Uint8Array:
    """`js.Uint8Array.new(data)`: bytes."""

    @staticmethod
    def new(data: Any = b"") -> bytes:
        return bytes(data)


class Date:
    """`js.Date.now()`: epoch milliseconds."""

    @staticmethod
    def now() -> int:
        return _now_ms()


class console:  # noqa: N801 - the JS name
    """`js.console.log(...)` and friends print to the dev server's terminal."""

    @staticmethod
    def log(*args: Any) -> None:
        print(*args, flush=True)

    info = debug = log

    @staticmethod
    def error(*args: Any) -> None:
        print(*args, file=_sys.stderr, flush=True)

    warn = error
