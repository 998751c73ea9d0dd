"""What every `pyflows workflows ...` command shares: its options, the banner, the client, `latest`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pyflows.cli import render
from pyflows.runtime.client import DEFAULT_PORT, ManagementClient
from pyflows.runtime.errors import PyflowsError

LocalOpt = Annotated[
    bool, typer.Option("--local", help="Interact with a local dev session (`pyflows dev` or `wrangler dev`).")
]
PortOpt = Annotated[int, typer.Option("--port", help="Port of the local dev session.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API result as JSON (no banner).")]
_GLOBAL = "Global options"
CwdOpt = Annotated[
    Path | None,
    typer.Option("--cwd", help="Run as if pyflows was started in this directory.", rich_help_panel=_GLOBAL),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Path to the wrangler config file.", rich_help_panel=_GLOBAL),
]
EnvOpt = Annotated[
    str | None, typer.Option("--env", "-e", help="Environment to use.", rich_help_panel=_GLOBAL)
]
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="Name of the workflow.", show_default=False)]


def prepare(
    ctx: typer.Context, cwd: Path | None, config: Path | None, env: str | None, *, json_: bool
) -> None:
    """Print the banner (unless --json), then honour global options given after the subcommand."""
    from dataclasses import replace

    from pyflows.cli.app import GlobalOptions, global_options

    if not json_:
        render.print_banner()
    if cwd is not None and not cwd.is_dir():
        raise PyflowsError(f"--cwd {cwd}: no such directory. Pass an existing project directory.")
    current = global_options(ctx)
    updated = replace(
        current,
        cwd=cwd.resolve() if cwd is not None else current.cwd,
        config=config if config is not None else current.config,
        env=env if env is not None else current.env,
    )
    root = ctx.find_root()
    if isinstance(root.obj, GlobalOptions) or root.obj is None:
        root.obj = updated


def client_for(local: bool, port: int) -> ManagementClient:
    return ManagementClient.for_local(port) if local else ManagementClient.for_remote()


def resolve_id(client: ManagementClient, name: str, instance_id: str, *, quiet: bool) -> str:
    if instance_id != "latest":
        return instance_id
    resolved = client.latest_instance_id(name)
    if not quiet:
        render.info(f'Latest instance is "{resolved}"')
    return resolved


def trigger_hint(name: str, local: bool, port: int) -> str:
    flags = (" --local" + ("" if port == DEFAULT_PORT else f" --port {port}")) if local else ""
    return f"pyflows workflows trigger {name}{flags}"
