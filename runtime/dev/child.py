"""One dev server process: import the Worker, open the runtime, serve the app on a bound socket.

Three ways in:
- `first_server_main`: the first server of a session, forked by `pyflows dev` before it reads the
  config (so the server's imports run in parallel with that), then handed the config and the
  listening socket over its channel;
- `child_main` in a process the reload supervisor forked (runtime/supervisor.py);
- `serve_in_process` for `pyflows dev --no-reload`.

A server talks to the supervisor over one Unix socket (the channel), one JSON object per line:
    {"t": "warning", "message"}   something the user should know (e.g. an ignored on_fetch)
    {"t": "loaded"}               user code imported; now waiting for b"g" on the channel before
                                  locking the state directory (the previous server may hold it)
    {"t": "ready"}                listening: the new code is what answers now
    {"t": "error", "message"}     could not start; the server exits 1
EOF on the channel after "go" means the supervisor is gone: the server exits too.
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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyflows.runtime.protocol.console import error_line, warning_line
from pyflows.runtime.errors import PyflowsError

if TYPE_CHECKING:
    from pyflows.runtime.config import Config
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
)


@dataclass(frozen=True)
class ServeOptions:
    """How `pyflows dev` serves: where state lives, the concurrency limit, and the address."""

    state_dir: Path
    max_concurrency: int = 10_000
    public: bool = False  # listening on a non-loopback address: the Worker answers any Host
    run_crons: bool = False  # --run-crons: fire triggers.crons on their schedule


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
    config: Config,
    worker: Worker,
    options: ServeOptions,
    sock: socket.socket,
    on_ready: Callable[[], None],
    channel: int | None = None,
) -> None:
    import asyncio

    from pyflows.runtime.server.app import Runtime, create_app

    configure_logging()
    if options.state_dir != config.root / ".pyflows" / "state":  # --persist-to DIR: bindings in DIR/v3, as Wrangler
        from pyflows.runtime.bindings import PERSIST_ENV

        os.environ[PERSIST_ENV] = str(options.state_dir)
    runtime = await Runtime.open(
        config,
        worker,
        state_dir=options.state_dir,
        max_concurrency=options.max_concurrency,
        public=options.public,
        run_crons=options.run_crons,
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


def _sigterm_as_interrupt() -> None:
    # uvicorn re-raises the signal that stopped it after its graceful shutdown; SIGTERM's default
    # action would end the process with status 143, so make it an ordinary KeyboardInterrupt.
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def serve_in_process(
    config: Config,
    options: ServeOptions,
    sock: socket.socket,
    *,
    on_ready: Callable[[], None],
    on_warning: Callable[[str], None],
) -> None:
    """`pyflows dev --no-reload`: serve until Ctrl-C / SIGTERM. Startup errors raise PyflowsError."""
    import asyncio

    from pyflows.runtime.worker.loader import load_worker

    worker = load_worker(config)
    for warning in worker.warnings:
        on_warning(warning)
    _sigterm_as_interrupt()
    try:
        asyncio.run(_serve(config, worker, options, sock, on_ready))
    except KeyboardInterrupt:
        pass


def die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this process when the supervisor dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(0)


def child_main(config: Config, options: ServeOptions, sock: socket.socket, channel: int) -> int:
    """Run one server generation (see the module docstring); returns the process's exit status."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def report(kind: str, message: str | None = None) -> None:
        line = {"t": kind} if message is None else {"t": kind, "message": message}
        os.write(channel, (json.dumps(line) + "\n").encode())

    import asyncio

    from pyflows.runtime.worker.loader import load_worker

    try:
        worker = load_worker(config)
        for warning in worker.warnings:
            report("warning", warning)
        report("loaded")
        if os.read(channel, 1) != b"g":
            return 0  # superseded before it was needed
        _sigterm_as_interrupt()
        asyncio.run(_serve(config, worker, options, sock, lambda: report("ready"), channel))
    except PyflowsError as exc:
        report("error", str(exc))
        return 1
    except KeyboardInterrupt:
        return 0
    except Exception:  # a bug, not a user error: show where
        report("error", "The server process failed:\n\n" + traceback.format_exc().rstrip())
        return 1
    return 0


# The first server: a fresh interpreter that imports while `pyflows dev` reads the config -------


def send_setup(channel: socket.socket, config: Config, options: ServeOptions, listener: socket.socket) -> None:
    """Hand the first server its config, options and the listening socket (SCM_RIGHTS)."""
    import pickle

    data = pickle.dumps((config, options))
    payload = len(data).to_bytes(8, "big") + data
    sent = socket.send_fds(channel, [payload[:65536]], [listener.fileno()])
    channel.sendall(payload[sent:])


def _receive_setup(channel: socket.socket) -> tuple[Config, ServeOptions, socket.socket]:
    import pickle

    data, fds, _, _ = socket.recv_fds(channel, 65536, 1)
    if not fds:  # `pyflows dev` stopped before handing over (a config error, say)
        raise KeyboardInterrupt
    while len(data) < 8 or len(data) < 8 + int.from_bytes(data[:8], "big"):
        chunk = channel.recv(65536)
        if not chunk:
            raise KeyboardInterrupt
        data += chunk
    config, options = pickle.loads(data[8 : 8 + int.from_bytes(data[:8], "big")])
    return config, options, socket.socket(fileno=fds[0])


def first_server_main(channel_fd: int) -> int:
    """The first server, forked by `pyflows dev` before it read the config (runtime/supervisor.py):
    import the server's modules, receive the config and the socket, then run as any server."""
    channel = socket.socket(fileno=channel_fd)
    preload()
    config, options, listener = _receive_setup(channel)
    return child_main(config, options, listener, channel_fd)
