"""The dev server's ASGI app: the management API under /cdn-cgi/local/explorer/api, then the Worker.

    runtime = await Runtime.open(config, worker, state_dir=..., max_concurrency=...)
    app = create_app(runtime)              # or create_app(factory): the lifespan opens and closes it

Every Worker request is logged as `[pyflows:info] POST /create 200 OK (3ms)` (requests under
/cdn-cgi/ are not, as in Wrangler). An exception in the fetch handler becomes a 500 whose body is
the traceback (Wrangler's dev error page), also printed to the terminal; the server keeps serving.
Worker requests need a loopback Host/Origin too, unless the server listens on a public address.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyflows.runtime.protocol.defaults import API_PREFIX, DEFAULT_MAX_CONCURRENCY
from pyflows.runtime.server.explorer.routes import create_management_app, forbidden_reason
from pyflows.runtime.server.scheduled import SCHEDULED_PATHS, scheduled_route
from pyflows.runtime.server.ui import create_ui_app, is_ui_path
from pyflows.runtime.surface.http import Request, status_phrase
from pyflows.runtime.worker.host import Host
from pyflows.runtime.worker.loader import Worker
from pyflows.runtime.worker.tracebacks import user_traceback

if TYPE_CHECKING:
    from pyflows.runtime.config import Config
    from pyflows.runtime.server.assets import AssetServer
    from starlette.types import Receive, Scope, Send

__all__ = ["API_PREFIX", "Runtime", "create_app"]


class Runtime(Host):
    """What one dev server serves: a Worker's `Host` (engine, store, `env`, triggers) plus what only
    HTTP needs: static `assets` and whether it listens on a `public` address."""

    def __init__(self, *, public: bool = False, assets: AssetServer | None = None, **host: Any) -> None:
        super().__init__(**host)
        self.public = public  # --ip is not loopback: the Worker answers any Host
        self.assets = assets  # static assets (runtime/server/assets.py), when `assets` is configured

    @classmethod
    async def open(  # type: ignore[override]
        cls,
        config: Config,
        worker: Worker,
        *,
        state_dir: Path,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        public: bool = False,
        run_crons: bool = False,
        session_pid: int | None = None,
    ) -> Runtime:
        """Open the store (locks `state_dir`; StateLockedError if another server holds it) and
        start the engine, which resumes every in-flight instance (`Host.open`)."""
        assets = None
        if config.assets is not None:
            from pyflows.runtime.server.assets import AssetServer

            assets = AssetServer(config.assets, config.compatibility_date, config.compatibility_flags)
        return await super().open(
            config,
            worker,
            state_dir=state_dir,
            max_concurrency=max_concurrency,
            run_crons=run_crons,
            lock_owner_pid=session_pid,
            public=public,
            assets=assets,
        )


RuntimeFactory = Callable[[], Awaitable[Runtime]]


def create_app(
    runtime: Runtime | RuntimeFactory, *, close_on_shutdown: bool = False
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The dev server app.

    Given a factory, the lifespan opens the runtime and closes it at shutdown. Given an open
    Runtime, the app works without a lifespan (tests); `close_on_shutdown=True` hands it over so the
    lifespan shutdown closes it (the dev server opens it first to report startup errors itself).
    """
    return _DevApp(runtime, close_on_shutdown=close_on_shutdown)


class _DevApp:
    def __init__(self, runtime: Runtime | RuntimeFactory, *, close_on_shutdown: bool) -> None:
        self._factory: RuntimeFactory | None = None
        self._runtime: Runtime | None = None
        self._owns = close_on_shutdown
        if isinstance(runtime, Runtime):
            self._runtime = runtime
        else:
            self._factory = runtime
            self._owns = True
        self._management = create_management_app(self)
        self._explorer_ui = create_ui_app(self._management)  # the web UI (runtime/server/ui.py)

    # What management.py reads (the runtime may only exist after the lifespan started).
    @property
    def engine(self) -> Any:
        return self.runtime.engine

    @property
    def name(self) -> str:
        return self.runtime.name

    def end_streams(self) -> None:
        """End the explorer's open event streams (the server is shutting down)."""
        if self._runtime is not None:
            self._runtime.engine.events.close()

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("The dev server runtime is not open yet (lifespan startup has not run).")
        return self._runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
                await self._management(scope, receive, send)
            elif is_ui_path(path):
                await self._explorer_ui(scope, receive, send)
            else:
                await self._worker(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        # websockets: not supported; returning closes the connection

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if self._runtime is None and self._factory is not None:
                        self._runtime = await self._factory()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._owns and self._runtime is not None:
                    await self._runtime.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _worker(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        runtime = self.runtime
        raw_headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw_headers]
        if not runtime.public:
            reason = forbidden_reason({k.lower(): v for k, v in headers})
            if reason is not None:
                await _send(send, 403, [(b"content-type", b"text/plain;charset=UTF-8")], reason.encode())
                return
        body = await _read_body(receive)
        path = scope.get("raw_path") or scope["path"].encode()
        target = path.decode("latin-1") + (
            ("?" + scope["query_string"].decode("latin-1")) if scope.get("query_string") else ""
        )
        host = next((v for k, v in headers if k.lower() == "host"), None) or _server_host(scope)
        request = Request(
            f"{scope.get('scheme', 'http')}://{host}{target}",
            method=scope["method"],
            headers=headers,
            body=body or None,
        )
        try:
            worker = runtime.worker
            if worker is not None and scope["path"] in SCHEDULED_PATHS:  # Wrangler's Cron Trigger test routes
                response = await scheduled_route(runtime, scope)
            elif runtime.assets is not None and not runtime.assets.routes_to_worker(
                request, worker is not None and worker.has_fetch
            ):
                response = runtime.assets.fetch(request)
            elif worker is None:
                raise RuntimeError("No Worker module is loaded.")
            else:
                response = await worker.fetch(request, runtime.env)
            status = response.status
            out_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.raw()]
            out_body = response.body or b""
        except Exception as exc:
            status, out_headers, out_body = (
                500,
                [(b"content-type", b"text/plain;charset=UTF-8")],
                _report(exc, scope, target),
            )
        if not any(k == b"content-length" for k, _ in out_headers):
            out_headers.append((b"content-length", str(len(out_body)).encode()))
        await _send(send, status, out_headers, b"" if scope["method"] == "HEAD" else out_body)
        if not scope["path"].startswith("/cdn-cgi/"):
            ms = round((time.perf_counter() - started) * 1000)
            sys.stdout.write(f"[pyflows:info] {scope['method']} {target} {status} {status_phrase(status)} ({ms}ms)\n")
            sys.stdout.flush()


def _server_host(scope: Scope) -> str:
    server = scope.get("server") or ("127.0.0.1", 80)
    return f"{server[0]}:{server[1]}"


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _report(exc: BaseException, scope: Scope, target: str) -> bytes:
    """Print an uncaught handler error like Wrangler (`✘ [ERROR] Uncaught ...`) and return the page."""
    text = user_traceback(exc)  # the user's frames; pyflows' own plumbing is noise here
    headline = f"Uncaught {type(exc).__name__}: {exc}" if str(exc) else f"Uncaught {type(exc).__name__}"
    sys.stderr.write(f"✘ [ERROR] {headline} ({scope['method']} {target})\n\n{text}\n\n")
    sys.stderr.flush()
    return f"Error: {headline}\n\n{text}\n".encode()
