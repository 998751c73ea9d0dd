"""One dev server process: import the Worker, open the runtime, serve the app on a bound socket.

Three ways in:
- `first_server_main`: the first server of a session, forked by `pyflows dev` before it reads the
  config (so the server's imports run in parallel with that), then handed the config and the
  listening socket over its channel (runtime/dev/process.py `hand_over`);
- `child_main` in a process the reload supervisor forked (runtime/dev/supervisor.py);
- `serve_in_process` for `pyflows dev --no-reload`.

A server talks to the supervisor over one Unix socket (the channel), one JSON object per line:
    {"t": "warning", "message"}   something the user should know (e.g. an ignored on_fetch)
    {"t": "loaded"}               user code imported; now waiting for b"g" on the channel before
                                  locking the state directory (the previous server may hold it)
    {"t": "ready"}                listening: the new code is what answers now
    {"t": "error", "message"}     could not start; the server exits 1
EOF on the channel after "go" means the supervisor is gone: the server exits too.
Every way in gets the session's `DevOptions` (runtime/dev/options.py), config included.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyflows.runtime.dev.options import DevOptions
from pyflows.runtime.dev.process import interrupt_on_sigterm, receive
from pyflows.runtime.errors import PyflowsError
from pyflows.runtime.protocol.console import error_line, warning_line

if TYPE_CHECKING:
    from pyflows.runtime.worker.loader import Worker

# Imported by the supervisor before it forks, so each child starts with them loaded (and shared).
PRELOAD = (
    "asyncio",
    "ctypes",
    "sqlite3",
    "aiosqlite",
    "starlette.requests",
    "starlette.responses",
    "starlette.routing",
    "uvicorn.config",
    "uvicorn.server",
    "uvicorn.lifespan.on",
    "uvicorn.protocols.http.h11_impl",
    "pyflows.runtime.workflows.binding",
    "pyflows.runtime.workflows.engine",
    "pyflows.runtime.storage.store",
    "pyflows.runtime.server.app",
    "pyflows.runtime.worker.loader",
    "pyflows.runtime.config",
    "pyflows.runtime.dev.net",  # DevOptions.public
)


def preload() -> None:
    """Import what every server process needs (not user code)."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)


def _uvicorn_server(app: Any, on_ready: Callable[[], None]) -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if not self.should_exit:
                on_ready()

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # Open Local Explorer event streams never finish by themselves: end them first, or each
            # would hold the graceful shutdown for its whole timeout.
            getattr(app, "end_streams", lambda: None)()
            await super().shutdown(sockets)

    config = uvicorn.Config(
        app,
        lifespan="on",
        log_config=None,
        log_level="warning",
        access_log=False,
        http="h11",
        ws="none",
        timeout_graceful_shutdown=3,
    )
    return Server(config)


class _ConsoleLogHandler(logging.Handler):
    """Engine logs in the dev console's form: `▲ [WARNING] …` / `✘ [ERROR] …` (+ traceback), stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            line = error_line(text) if record.levelno >= logging.ERROR else warning_line(text)
            sys.stderr.write(line)
            sys.stderr.flush()
        except Exception:  # logging must never take the server down
            self.handleError(record)


def configure_logging() -> None:
    """Route `pyflows.*` warnings and errors (step failures, errored instances) to the console."""
    logger = logging.getLogger("pyflows")
    if not any(isinstance(h, _ConsoleLogHandler) for h in logger.handlers):
        logger.addHandler(_ConsoleLogHandler(logging.WARNING))
        logger.propagate = False


async def _serve(
    options: DevOptions,
    worker: Worker,
    sock: socket.socket,
    on_ready: Callable[[], None],
    channel: int | None = None,
) -> None:
    import asyncio

    from pyflows.runtime.server.app import Runtime, create_app

    configure_logging()
    if options.state_dir != options.loaded.root / ".pyflows" / "state":  # --persist-to DIR: bindings in DIR/v3
        from pyflows.runtime.bindings import PERSIST_ENV

        os.environ[PERSIST_ENV] = str(options.state_dir)
    runtime = await Runtime.open(
        options.loaded,
        worker,
        state_dir=options.state_dir,
        max_concurrency=options.max_concurrency,
        public=options.public,
        run_crons=options.run_crons,
        session_pid=os.getppid() if channel is not None else os.getpid(),  # the `pyflows dev` the user ran
    )
    server = _uvicorn_server(create_app(runtime, close_on_shutdown=True), on_ready)
    if channel is not None:
        loop = asyncio.get_running_loop()

        def supervisor_gone() -> None:
            try:
                data = os.read(channel, 64)
            except OSError:
                data = b""
            if not data:  # the supervisor exited without stopping us: stop now
                loop.remove_reader(channel)
                server.should_exit = True
                loop.call_later(3, os._exit, 0)

        loop.add_reader(channel, supervisor_gone)
    try:
        await server.serve(sockets=[sock])
    finally:
        await runtime.close()  # idempotent: normally the lifespan shutdown closed it already


def serve_in_process(
    options: DevOptions,
    sock: socket.socket,
    *,
    on_ready: Callable[[], None],
    on_warning: Callable[[str], None],
) -> None:
    """`pyflows dev --no-reload`: serve until Ctrl-C / SIGTERM. Startup errors raise PyflowsError."""
    import asyncio

    from pyflows.runtime.worker.loader import load_worker

    worker = load_worker(options.loaded)
    for warning in worker.warnings:
        on_warning(warning)
    interrupt_on_sigterm()
    try:
        asyncio.run(_serve(options, worker, sock, on_ready))
    except KeyboardInterrupt:
        pass


def child_main(options: DevOptions, sock: socket.socket, channel: int) -> int:
    """Run one server generation (see the module docstring); returns the process's exit status."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def report(kind: str, message: str | None = None) -> None:
        line = {"t": kind} if message is None else {"t": kind, "message": message}
        os.write(channel, (json.dumps(line) + "\n").encode())

    import asyncio

    from pyflows.runtime.worker.loader import load_worker

    try:
        worker = load_worker(options.loaded)
        for warning in worker.warnings:
            report("warning", warning)
        report("loaded")
        if os.read(channel, 1) != b"g":
            return 0  # superseded before it was needed
        interrupt_on_sigterm()
        asyncio.run(_serve(options, worker, sock, lambda: report("ready"), channel))
    except PyflowsError as exc:
        report("error", str(exc))
        return 1
    except KeyboardInterrupt:
        return 0
    except Exception:  # a bug, not a user error: show where
        report("error", "The server process failed:\n\n" + traceback.format_exc().rstrip())
        return 1
    return 0


# The first server: forked by `pyflows dev` before it read the config --------------------------


def first_server_main(channel_fd: int) -> int:
    """The first server (runtime/dev/process.py `fork_first`): import the server's modules while
    `pyflows dev` reads the config, receive the options and the socket, then run as any server."""
    channel = socket.socket(fileno=channel_fd)
    preload()
    setup = receive(channel)
    if setup is None:  # `pyflows dev` stopped before handing over (a config error, Ctrl-C)
        return 0
    options_json, listener = setup
    return child_main(DevOptions.from_json(options_json), listener, channel_fd)
