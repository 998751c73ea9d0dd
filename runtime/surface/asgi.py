"""`asgi.fetch(app, request, env)`: run an ASGI app (FastAPI, Starlette) in-process for a request.

As in workers-runtime-sdk's `workers.asgi`: the app sees the Worker's env as `request.scope["env"]`
(and the ExecutionContext as `scope["ctx"]`); the app's lifespan startup runs once, before its first
request. `asgi.entrypoint(app)` gives a ready-made `Default(WorkerEntrypoint)` class, and `asgi.env`
is a FastAPI dependency yielding `scope["env"]` (FastAPI is imported only when it is used).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import unquote, urlsplit

from pyflows.runtime.surface.entrypoints import WorkerEntrypoint
from pyflows.runtime.surface.http import JsRequest, Request, Response

__all__ = ["entrypoint", "fetch", "websocket"]  # and `env`, built lazily

_ASGI = {"version": "3.0", "spec_version": "2.3"}
# App id -> (the app, its lifespan state); the app is kept so its id is not reused.
_started: dict[int, tuple[Any, dict[str, Any]]] = {}
_starting: dict[int, asyncio.Future[dict[str, Any]]] = {}
_lifespan_tasks: set[asyncio.Task[None]] = set()


async def _lifespan(app: Any) -> dict[str, Any]:
    """Run the app's lifespan startup once; an app without lifespan support is fine."""
    key = id(app)
    if key in _started:
        return _started[key][1]
    if key in _starting:
        return await _starting[key]
    loop = asyncio.get_running_loop()
    done: asyncio.Future[dict[str, Any]] = loop.create_future()
    _starting[key] = done
    state: dict[str, Any] = {}
    startup_sent = False
    never: asyncio.Future[None] = loop.create_future()

    async def receive() -> dict[str, Any]:
        nonlocal startup_sent
        if not startup_sent:
            startup_sent = True
            return {"type": "lifespan.startup"}
        await never  # the dev server process ends without a lifespan shutdown
        return {"type": "lifespan.shutdown"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete" and not done.done():
            done.set_result(state)
        elif message["type"] == "lifespan.startup.failed" and not done.done():
            done.set_exception(RuntimeError(f"ASGI app startup failed: {message.get('message', '')}"))

    async def run() -> None:
        try:
            await app({"type": "lifespan", "asgi": _ASGI, "state": state}, receive, send)
        except Exception:
            pass  # no lifespan support: nothing to start
        if not done.done():
            done.set_result(state)

    task = loop.create_task(run())
    _lifespan_tasks.add(task)
    task.add_done_callback(_lifespan_tasks.discard)
    try:
        result = await done
    finally:
        _starting.pop(key, None)
    _started[key] = (app, result)
    return result


def _scope(request: Request, env: Any, ctx: Any, state: dict[str, Any]) -> dict[str, Any]:
    url = urlsplit(request.url)
    scheme = url.scheme or "http"
    port = url.port or (443 if scheme == "https" else 80)
    return {
        "type": "http",
        "asgi": _ASGI,
        "http_version": "1.1",
        "method": str(request.method),
        "scheme": scheme,
        "path": unquote(url.path) or "/",
        "raw_path": (url.path or "/").encode("latin-1", "replace"),
        "query_string": url.query.encode("latin-1", "replace"),
        "root_path": "",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1", "replace")) for k, v in request.headers.raw()],
        "server": (url.hostname or "localhost", port),
        "client": ("127.0.0.1", 0),
        "state": dict(state),
        "env": env,
        "ctx": ctx,
    }


async def fetch(app: Any, request: Request | JsRequest, env: Any, ctx: Any = None, *, options: Any = None) -> Response:
    """Call the ASGI `app` with `request` (or `request.js_object`); the app's response as a Response."""
    if isinstance(request, JsRequest):
        request = request.py_request
    state = await _lifespan(app)
    body = request.body or b""
    finished = asyncio.Event()
    sent_request = False
    status = 500
    headers: list[tuple[str, str]] = []
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent_request
        if not sent_request:
            sent_request = True
            return {"type": "http.request", "body": body, "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
            headers.extend((k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", ()))
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                finished.set()

    try:
        await app(_scope(request, env, ctx, state), receive, send)
    finally:
        finished.set()
    return Response(b"".join(chunks), status=status, headers=headers)


async def websocket(app: Any, req: Any, env: Any = None) -> Any:
    raise NotImplementedError("WebSockets through asgi.websocket() are not supported by pyflows dev.")


def entrypoint(app: Any, *, options: Any = None) -> type[WorkerEntrypoint]:
    """A `Default(WorkerEntrypoint)` class whose fetch serves `app`: `Default = asgi.entrypoint(app)`."""

    class Default(WorkerEntrypoint):
        async def fetch(self, request: Request) -> Response:
            return await fetch(app, request, self.env, self.ctx, options=options)

    return Default


def _env_dependency(request: Any) -> Any:
    return request.scope["env"]


def __getattr__(name: str) -> Any:
    # `asgi.env` is a FastAPI dependency upstream; build it only if user code asks for it.
    if name == "env":
        from fastapi import Depends, Request

        # A real class (not a string) so FastAPI injects the request without resolving names here.
        _env_dependency.__annotations__ = {"request": Request}
        return Depends(_env_dependency)
    raise AttributeError(f"module 'asgi' has no attribute {name!r}")
