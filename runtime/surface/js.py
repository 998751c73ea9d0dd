"""A thin `js` module (and `pyodide.ffi.run_sync`) so Worker code written for Pyodide runs under CPython.

What Python Workers code commonly touches (reference/python-sdk.md §10, idiom 15; Cloudflare's
python-workers-examples): `js.Object.fromEntries` (identity on a dict, dict() of pairs), `js.JSON`,
`js.URL.new`, `js.Response.new/json`, `js.Headers.new`, `js.Error` (raisable), `js.Uint8Array.new`,
`js.AbortSignal.timeout`, `js.fetch`, `js.Date.now`, `js.console.*`. Values stay plain Python:
there is no JavaScript here. Any other name (`js.ReadableStream`, `js.document`, ...) is a stand-in
whose first use raises `JsNotEmulatedError` naming it, so a port fails where the gap is, with
a message saying pyflows does not emulate it.
"""

from __future__ import annotations

import asyncio as _asyncio
import contextvars as _contextvars
import inspect as _inspect
import json as _json
import sys as _sys
import threading as _threading
import time as _time
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor as _Pool
from typing import Any, NoReturn
from urllib.parse import urljoin as _urljoin
from urllib.parse import urlsplit as _urlsplit

from pyflows.runtime.errors import PyflowsError as _PyflowsError
from pyflows.runtime.surface.http import Headers as _Headers
from pyflows.runtime.surface.http import JsBuffer as _JsBuffer
from pyflows.runtime.surface.http import Response as _Response
from pyflows.runtime.surface.http import fetch

__all__ = [
    "JSON",
    "AbortSignal",
    "Date",
    "Error",
    "Headers",
    "JsNotEmulatedError",
    "Object",
    "Response",
    "URL",
    "Uint8Array",
    "console",
    "fetch",
    "null",
    "run_sync",
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
    """`js.Response.new(body, init)` / `js.Response.json(data, init)`: pyflows' `workers.Response`.

    `init` may be a dict or keyword arguments (`Response.new(body, status=201, headers=...)`), as
    Pyodide turns keyword arguments into the options object.
    """

    @staticmethod
    def new(body: Any = None, init: Any = None, **options: Any) -> _Response:
        return _Response(
            body,
            status=options.get("status", _get(init, "status", 200)),
            status_text=options.get("statusText", _get(init, "statusText", "")),
            headers=options.get("headers", _get(init, "headers")),
        )

    @staticmethod
    def json(data: Any, init: Any = None, **options: Any) -> _Response:
        return _Response.from_json(
            data,
            status=options.get("status", _get(init, "status", 200)),
            headers=options.get("headers", _get(init, "headers")),
        )

    @staticmethod
    def redirect(url: str, status: int = 302) -> _Response:
        return _Response.redirect(url, status)


class Headers:
    """`js.Headers.new(init)`: pyflows' `workers.Headers`."""

    @staticmethod
    def new(init: Any = None) -> _Headers:
        return _Headers(init)


class Uint8Array:
    """`js.Uint8Array.new(data)`: bytes (with Pyodide's `.to_bytes()`); an int gives that many zeros."""

    @staticmethod
    def new(data: Any = b"") -> _JsBuffer:
        return _JsBuffer(bytes(data))


class Error(Exception):  # noqa: N818 - the JS name
    """`raise js.Error.new("message")` (or `js.Error("message")`); `.message` and `.name` as in JS."""

    name = "Error"
    stackTraceLimit: float = 10  # noqa: N815 - the JS name; settable, as code written for V8 sets it

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.stack = f"{self.name}: {message}" if message else self.name

    @classmethod
    def new(cls, message: str = "") -> Error:
        return cls(message)


class URL:
    """`js.URL.new(url, base=None)`: href, protocol, host, hostname, port, pathname, search, hash, origin."""

    def __init__(self, url: str, base: str | None = None) -> None:
        href = _urljoin(base, url) if base is not None else url
        parts = _urlsplit(href)
        if not parts.scheme:
            raise TypeError(f"Invalid URL: {url!r}")
        self.href = href
        self.protocol = parts.scheme + ":"
        self.hostname = parts.hostname or ""
        self.port = str(parts.port) if parts.port else ""
        self.host = self.hostname + (f":{self.port}" if self.port else "")
        self.pathname = parts.path or "/"
        self.search = f"?{parts.query}" if parts.query else ""
        self.hash = f"#{parts.fragment}" if parts.fragment else ""
        self.origin = f"{parts.scheme}://{self.host}"
        self.username = parts.username or ""
        self.password = parts.password or ""

    @classmethod
    def new(cls, url: str, base: str | None = None) -> URL:
        return cls(url, base)

    def toString(self) -> str:  # noqa: N802 - the JS name
        return self.href

    def __str__(self) -> str:
        return self.href


class AbortSignal:
    """`js.AbortSignal.timeout(ms)`: accepted where fetch takes `signal=`; pyflows does not abort."""

    def __init__(self, timeout_ms: float | None = None) -> None:
        self.timeout_ms = timeout_ms
        self.aborted = False

    @classmethod
    def timeout(cls, ms: float) -> AbortSignal:
        return cls(ms)


class Date:
    """`js.Date.now()`: epoch milliseconds."""

    @staticmethod
    def now() -> int:
        return int(_time.time() * 1000)


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
    trace = debug


# Names we do not emulate --------------------------------------------------------------------------


class JsNotEmulatedError(_PyflowsError, NotImplementedError):
    """Worker code used a JavaScript global that pyflows does not provide under CPython."""


class _NotEmulated:
    """What `js.<name>` is for a name pyflows lacks: importable, but any use raises clearly."""

    def __init__(self, path: str) -> None:
        object.__setattr__(self, "_path", path)

    def _fail(self, *_: Any, **__: Any) -> NoReturn:
        raise JsNotEmulatedError(
            f"{self._path} is a JavaScript API that pyflows does not emulate: Python Workers run in "
            "CPython here, with no JavaScript runtime. pyflows provides js.Object, js.JSON, js.URL, "
            "js.Response, js.Headers, js.Error, js.Uint8Array, js.AbortSignal, js.Date, js.console "
            "and js.fetch; use a Python equivalent for the rest."
        )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        self._fail()

    __call__ = __setattr__ = __bool__ = __iter__ = __getitem__ = _fail

    def __repr__(self) -> str:
        return f"<{self._path}: not emulated by pyflows>"


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(f"module 'js' has no attribute {name!r}")
    return _NotEmulated(f"js.{name}")


# pyodide.ffi.run_sync -----------------------------------------------------------------------------

# The event loop that serves requests, as seen from the worker threads wsgi.fetch runs apps in.
HOST_LOOP: _contextvars.ContextVar[_asyncio.AbstractEventLoop | None] = _contextvars.ContextVar(
    "pyflows_host_loop", default=None
)
_helper: _Pool | None = None
_helper_lock = _threading.Lock()


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def run_sync(awaitable: Awaitable[Any]) -> Any:
    """Wait for `awaitable` from synchronous code and return its result (`pyodide.ffi.run_sync`).

    - In a thread without an event loop (a WSGI app under `wsgi.fetch`, a sync step function):
      the awaitable runs on the server's loop and this thread waits for it, so bindings work.
    - With no server loop at all (a script): it runs with `asyncio.run`.
    - In sync code under a Worker's `fetch` on the server's loop (django-cf calls Django straight
      from `fetch`): the handler runs in a greenlet (runtime/surface/stack.py), which switches out
      and awaits on the server's loop, as Pyodide's JSPI suspends the stack.
    - Anywhere else on a loop thread (a background task, a step): the awaitable runs on a helper
      thread's own loop while this thread waits, so it must not need the server's loop.
    """
    if not _inspect.isawaitable(awaitable):
        raise TypeError(f"run_sync() takes an awaitable (a coroutine or future), not {type(awaitable).__name__}.")
    try:
        running = _asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is None:
        host = HOST_LOOP.get()
        if host is not None and host.is_running() and not host.is_closed():
            return _asyncio.run_coroutine_threadsafe(_await(awaitable), host).result()
        return _asyncio.run(_await(awaitable))
    from pyflows.runtime.surface import stack

    if stack.in_switchable():  # sync code under a Worker's fetch: switch stacks, await on this loop
        return stack.suspend(awaitable)
    global _helper
    with _helper_lock:
        if _helper is None:
            _helper = _Pool(max_workers=1, thread_name_prefix="pyflows-run-sync")
    return _helper.submit(_asyncio.run, _await(awaitable)).result()
