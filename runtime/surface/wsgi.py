"""`wsgi.fetch(app, request, env)`: run a WSGI app (Django, Flask) for a request, as `workers.wsgi` does.

The environ follows PEP 3333 and workers-runtime-sdk's `workers.wsgi`: PATH_INFO is the decoded path
as a WSGI native string, QUERY_STRING stays encoded, headers become HTTP_* (repeated ones joined
with ","), CONTENT_TYPE/CONTENT_LENGTH without the prefix, and the Worker's env is
`environ["workers.env"]`. The app's status line, headers (repeats such as Set-Cookie kept) and
body become a `workers.Response`; 101/103/204/205/304 carry no body.

Under Pyodide the app runs synchronously inside `fetch`, and `pyodide.ffi.run_sync` suspends the
WebAssembly stack to await JavaScript. CPython cannot suspend a stack, so pyflows runs the app in a
worker thread instead: the server keeps serving, and `run_sync` called by the app (django-cf's D1
backend does) hands the awaitable to the server's event loop and waits for it.
"""

from __future__ import annotations

import asyncio
import io
import sys
from typing import Any
from urllib.parse import unquote, urlsplit

from pyflows.runtime.surface import js as _js
from pyflows.runtime.surface.entrypoints import WorkerEntrypoint
from pyflows.runtime.surface.http import JsRequest, Request, Response

__all__ = ["build_environ", "entrypoint", "fetch"]

NULL_BODY_STATUSES = frozenset({101, 103, 204, 205, 304})


def _native(value: str) -> str:
    """A str as a PEP 3333 "native string" (UTF-8 bytes seen as latin-1 characters)."""
    return value.encode("utf-8").decode("latin-1")


def build_environ(request: Request, env: Any, body: bytes) -> dict[str, Any]:
    """The WSGI environ for `request` (see the module docstring)."""
    url = urlsplit(request.url)
    scheme = url.scheme or "http"
    environ: dict[str, Any] = {
        "REQUEST_METHOD": str(request.method),
        "SCRIPT_NAME": "",
        "PATH_INFO": _native(unquote(url.path or "/")),
        "QUERY_STRING": url.query,
        "SERVER_NAME": url.hostname or "localhost",
        "SERVER_PORT": str(url.port) if url.port else ("443" if scheme == "https" else "80"),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "workers.env": env,
    }
    for key, value in request.headers.raw():
        name = key.upper().replace("-", "_")
        if name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[name] = value
        elif "HTTP_" + name in environ:
            environ["HTTP_" + name] += "," + value
        else:
            environ["HTTP_" + name] = value
    if "CONTENT_LENGTH" not in environ and body:
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ


def _call(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    state: dict[str, Any] = {"status": None, "headers": None}
    written: list[bytes] = []

    def write(chunk: bytes) -> None:
        if state["status"] is None:
            raise AssertionError("write() called before start_response()")
        written.append(bytes(chunk))

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        if exc_info is not None:
            try:
                if state["status"] is not None:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif state["status"] is not None:
            raise AssertionError("start_response() called more than once")
        state["status"], state["headers"] = status, list(headers)
        return write

    result = app(environ, start_response)
    try:
        for chunk in result:
            if chunk:
                written.append(bytes(chunk))
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if state["status"] is None:
        raise RuntimeError("The WSGI application did not call start_response().")
    return state["status"], state["headers"], b"".join(written)


async def fetch(app: Any, request: Request | JsRequest, env: Any, ctx: Any = None) -> Response:
    """Call the WSGI `app` with `request` (or `request.js_object`); the app's answer as a Response."""
    req = request.py_request if isinstance(request, JsRequest) else request
    if not isinstance(req, Request):
        raise TypeError(f"wsgi.fetch() takes the Worker's request, not {type(request).__name__}.")
    environ = build_environ(req, env, req.body or b"")
    token = _js.HOST_LOOP.set(asyncio.get_running_loop())
    try:
        status, headers, body = await asyncio.to_thread(_call, app, environ)
    finally:
        _js.HOST_LOOP.reset(token)
    code_text, _, reason = status.partition(" ")
    code = int(code_text)
    return Response(None if code in NULL_BODY_STATUSES else body, status=code, status_text=reason, headers=headers)


def entrypoint(app: Any) -> type[WorkerEntrypoint]:
    """A `Default(WorkerEntrypoint)` class whose fetch serves the WSGI `app`."""

    class Default(WorkerEntrypoint):
        async def fetch(self, request: Request) -> Response:
            return await fetch(app, request, self.env, self.ctx)  # the module's fetch, not this method

    return Default
