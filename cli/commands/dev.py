"""`pyflows dev`: serve the Worker and its workflows locally, with hot reload.

Only the standard library and typer are imported here at module level: the other commands must
not pay for uvicorn/starlette. The server side lives in runtime/ (supervisor, serve, server).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pyflows.cli.app import CwdOpt, EnvOpt
from pyflows.runtime.errors import PyflowsError

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
            help="Port to listen on; 0 picks a free one. Default: dev.port in the config, else 8787.",
            show_default=False,
        ),
    ] = None,
    ip: Annotated[
        str | None,
        typer.Option(
            "--ip",
            help="Address to listen on. Default: dev.ip in the config, else 127.0.0.1 (this machine only).",
            show_default=False,
        ),
    ] = None,
    persist_to: Annotated[
        Path | None,
        typer.Option(
            "--persist-to",
            help="Directory for local state. Default: .pyflows/state in the project.",
            show_default=False,
        ),
    ] = None,
    max_concurrency: Annotated[
        int,
        typer.Option("--max-concurrency", min=1, help="Most workflow instances running at once; the rest queue."),
    ] = 10_000,
    run_crons: Annotated[
        bool,
        typer.Option(
            "--run-crons",
            help="Fire triggers.crons on their real schedule (UTC), one log line per firing. Without it, fire "
            "them with GET /__scheduled?cron=... (workflow schedules always run).",
        ),
    ] = False,
    no_reload: Annotated[
        bool, typer.Option("--no-reload", help="Do not restart the server when files change.")
    ] = False,
    cwd: CwdOpt = None,
    config: Annotated[
        list[Path] | None,
        typer.Option(
            "--config",
            "-c",
            help="Path to the wrangler config file. Repeat it to run several Workers in one session (the first "
            "serves HTTP; the others can be bound to with script_name / service).",
            rich_help_panel="Global options",
        ),
    ] = None,
    env: EnvOpt = None,
) -> None:
    from pyflows.cli.app import override_globals
    from pyflows.cli.views.dev_console import Console

    # Request logs and user prints must reach a pipe (tests, `| tee`) as they happen.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    reload = not no_reload and hasattr(os, "fork")
    first = None
    if reload:  # start the first server now: its imports overlap reading the config
        from pyflows.runtime.dev.supervisor import fork_first

        first = fork_first()
    try:
        from pyflows.runtime.config.session import load_session
        from pyflows.runtime.dev.child import ServeOptions

        opts = override_globals(ctx, cwd, config[0] if config else None, env)
        extra = [str(p) for p in (config or [])[1:]]
        cfg = load_session(opts.cwd, [opts.config, *map(Path, extra)], opts.env)
        from pyflows.runtime.worker.dependencies import check_dependencies

        for project in (cfg, *cfg.siblings):  # each Worker's pyproject dependencies must be importable
            check_dependencies(project.root)
        host = ip or cfg.dev_ip or DEFAULT_IP
        wanted = port if port is not None else (cfg.dev_port if cfg.dev_port is not None else DEFAULT_PORT)
        state_dir = (opts.cwd / persist_to).resolve() if persist_to is not None else cfg.root / ".pyflows" / "state"
        sock = bind(host, wanted)
    except BaseException:
        if first is not None:
            os.kill(first[0], signal.SIGKILL)
            os.waitpid(first[0], 0)
        raise
    url = _url(host, sock.getsockname()[1])
    options = ServeOptions(
        state_dir=state_dir, max_concurrency=max_concurrency, public=not is_loopback(host), run_crons=run_crons
    )

    console = Console(url)
    console.banner(cfg)
    for warning in cfg.warnings:
        console.warning(warning)
    if options.public:
        console.warning(
            f"Listening on {host}: the Worker is reachable from other machines. The management API "
            "still only answers requests whose Host is localhost, 127.0.0.1 or [::1]."
        )

    if first is None:
        from pyflows.runtime.dev.child import serve_in_process

        if not no_reload:
            console.warning("Hot reload needs os.fork(), which this platform lacks: serving without reload.")
        serve_in_process(cfg, options, sock, on_ready=console.ready, on_warning=console.warning)
        return

    _become_supervisor(first, cfg, options, sock, url, opts, extra)


def _become_supervisor(
    first: tuple[int, socket.socket],
    cfg: Any,
    options: Any,
    sock: socket.socket,
    url: str,
    opts: Any,
    extra: list[str] | None = None,
) -> None:
    """Hand the first server its config and socket, then exec into the reload supervisor.

    Same pid (Ctrl-C, the exit status, the first server stays our child), without typer's and
    the config validator's memory: every later server is forked from the lean supervisor.
    """
    from pyflows.runtime.dev.child import send_setup
    from pyflows.runtime.dev.supervisor import Session

    pid, channel = first
    send_setup(channel, cfg, options, sock)
    session = Session(
        listen_fd=sock.fileno(),
        url=url,
        root=str(cfg.root),
        config_path=str(cfg.path),
        main_dir=str(cfg.main.parent),
        state_dir=str(options.state_dir),
        max_concurrency=options.max_concurrency,
        public=options.public,
        cwd=str(opts.cwd),
        config=str(opts.config) if opts.config else None,
        env=opts.env,
        first_pid=pid,
        first_fd=channel.fileno(),
        run_crons=options.run_crons,
        extra_configs=extra or [],
    )
    for fd in (session.listen_fd, session.first_fd):
        os.set_inheritable(fd, True)
    sys.stdout.flush()
    sys.stderr.flush()
    # Hold Ctrl-C/SIGTERM across the exec: the supervisor takes them once it can stop cleanly.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    os.execv(
        sys.executable,
        [
            sys.executable,
            "-P",  # the project directory stays off sys.path: its logging.py must not shadow the stdlib
            "-c",
            "from pyflows.cli.views.dev_console import supervise; supervise()",
            session.to_json(),
        ],
    )


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
            raise PyflowsError(f"--ip {host} is not an address of this machine. Use 127.0.0.1 or 0.0.0.0.") from None
        if exc.errno == errno.EACCES:
            raise PyflowsError(
                f"Not allowed to listen on port {port}: ports below 1024 need privileges. Use a port such as 8787."
            ) from None
        raise PyflowsError(f"Cannot listen on {host}:{port}: {exc.strerror}.") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _url(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"
