"""`pyflows dev`: serve the Worker and its workflows locally, with hot reload.

Only the standard library and typer are imported here at module level: the other commands must
not pay for uvicorn/starlette. This turns the flags into `DevOptions` and calls
`runtime.dev.start.start`, which owns the process tree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pyflows.cli.app import CwdOpt, EnvOpt
from pyflows.runtime.protocol.defaults import DEFAULT_MAX_CONCURRENCY

# What `pyflows dev` prints (a runtime.dev Reporter); named, because the supervisor process imports it.
CONSOLE = "pyflows.cli.views.dev_console:Console"


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
    ] = DEFAULT_MAX_CONCURRENCY,
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
    from pyflows.runtime.dev.options import DevOptions
    from pyflows.runtime.dev.start import start

    opts = override_globals(ctx, cwd, config[0] if config else None, env)
    options = DevOptions(
        cwd=opts.cwd,
        config_file=opts.config,
        extra_configs=tuple((config or [])[1:]),
        run_crons=run_crons,
        env=opts.env,
        port=port,
        ip=ip,
        persist_to=persist_to,
        max_concurrency=max_concurrency,
        reload=not no_reload,
    )
    start(options, CONSOLE)
