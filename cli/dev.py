"""`pyflows dev`: serve the Worker and its workflows locally, with hot reload.

Only the standard library and typer are imported here at module level: the other commands must
not pay for uvicorn/starlette. The server side lives in runtime/ (supervisor, serve, server).
"""

from __future__ import annotations

import errno
import ipaddress
import json
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pyflows import __version__
from pyflows.runtime.errors import PyflowsError

if TYPE_CHECKING:
    from pyflows.runtime.config import Config

DEFAULT_PORT = 8787
DEFAULT_IP = "127.0.0.1"


def register(app: typer.Typer) -> None:
    """Add the `dev` command to the root app."""
    app.command("dev", help="Serve the Worker and its Workflows locally, reloading on changes.")(dev)


def dev(
    ctx: typer.Context,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            help="Port to listen on (0 picks a free one). [default: dev.port or 8787]",
            show_default=False,
        ),
    ] = None,
    ip: Annotated[
        str | None,
        typer.Option("--ip", help="Address to listen on. [default: dev.ip or 127.0.0.1]", show_default=False),
    ] = None,
    persist_to: Annotated[
        Path | None,
        typer.Option(
            "--persist-to",
            help="Directory for local state. [default: <project>/.pyflows/state]",
            show_default=False,
        ),
    ] = None,
    max_concurrency: Annotated[
        int,
        typer.Option(
            "--max-concurrency", min=1, help="Most workflow instances running at once; the rest queue."
        ),
    ] = 10_000,
    no_reload: Annotated[
        bool, typer.Option("--no-reload", help="Do not restart the server when files change.")
    ] = False,
) -> None:
    from pyflows.cli.app import global_options
    from pyflows.runtime import config as config_module
    from pyflows.runtime.serve import ServeOptions

    opts = global_options(ctx)
    cfg = config_module.load(opts.cwd, opts.config, opts.env)
    host = ip or cfg.dev_ip or DEFAULT_IP
    wanted = port if port is not None else (cfg.dev_port if cfg.dev_port is not None else DEFAULT_PORT)
    if persist_to is not None:
        state_dir = (opts.cwd / persist_to).resolve()
    else:
        state_dir = cfg.root / ".pyflows" / "state"
    sock = bind(host, wanted)
    url = _url(host, sock.getsockname()[1])
    options = ServeOptions(state_dir=state_dir, max_concurrency=max_concurrency, public=not is_loopback(host))

    # Request logs and user prints must reach a pipe (tests, `| tee`) as they happen.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    console = Console(url)
    console.banner(cfg)
    for warning in cfg.warnings:
        console.warning(warning)
    if options.public:
        console.warning(
            f"Listening on {host}: the Worker is reachable from other machines. The management API "
            "still only answers requests whose Host is localhost, 127.0.0.1 or [::1]."
        )

    if no_reload:
        from pyflows.runtime.serve import serve_in_process

        serve_in_process(cfg, options, sock, on_ready=console.ready, on_warning=console.warning)
        return

    from pyflows.runtime.supervisor import Supervisor

    supervisor = Supervisor(
        cfg, options, sock, console, reload_config=lambda: config_module.load(opts.cwd, opts.config, opts.env)
    )
    code = supervisor.run()
    if code:
        raise typer.Exit(code)


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (the default, safe binding)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound once and shared by every server process of the session."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PyflowsError(
            f"--ip {host}: cannot resolve this address ({exc.strerror}). Use an IP address "
            "such as 127.0.0.1 or 0.0.0.0."
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PyflowsError(
                f"Port {port} on {host} is already in use. Stop the other server (another `pyflows dev` or "
                "`wrangler dev`?), or pass --port <n> (--port 0 picks a free port)."
            ) from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise PyflowsError(
                f"--ip {host} is not an address of this machine. Use 127.0.0.1 or 0.0.0.0."
            ) from None
        if exc.errno == errno.EACCES:
            raise PyflowsError(
                f"Not allowed to listen on port {port}: ports below 1024 need privileges. "
                "Use a port such as 8787."
            ) from None
        raise PyflowsError(f"Cannot listen on {host}:{port}: {exc.strerror}.") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _url(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


class Console:
    """Everything `pyflows dev` prints (Wrangler's wording where there is one)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _out(self, text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def banner(self, cfg: Config) -> None:
        rows = [(f"env.{w.binding} ({w.class_name})", "Workflow") for w in cfg.workflows]
        for key, value in cfg.vars.items():
            if key not in cfg.secrets:
                rows.append((f"env.{key} ({_short(value)})", "Environment Variable"))
        rows.extend((f'env.{key} ("(hidden)")', "Environment Variable") for key in cfg.secrets)
        lines = ["", f" ⎔ pyflows {__version__}", "─" * 20]
        if rows:
            width = max(len(r[0]) for r in rows) + 4
            kind_width = max(len(r[1]) for r in rows) + 4
            lines.append("Your Worker has access to the following bindings:")
            lines.append("Binding".ljust(width) + "Resource".ljust(kind_width) + "Mode")
            lines.extend(name.ljust(width) + kind.ljust(kind_width) + "local" for name, kind in rows)
        else:
            lines.append("Your Worker has no bindings.")
        lines += ["", "⎔ Starting local server..."]
        self._out("\n".join(lines))

    def ready(self) -> None:
        self._out(f"[pyflows:info] Ready on {self.url}")

    def reloading(self, what: str) -> None:
        self._out(f"⎔ Reloading: {what} changed")

    def reloaded(self) -> None:
        self._out("⎔ Local server updated and ready")

    def error(self, message: str) -> None:
        from pyflows.cli.render import error_line

        sys.stderr.write(error_line(message))
        sys.stderr.flush()

    def warning(self, message: str) -> None:
        from pyflows.cli.render import warning_line

        sys.stderr.write(warning_line(message))
        sys.stderr.flush()


def _short(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 3] + "..."
