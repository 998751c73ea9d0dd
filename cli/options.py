"""What every `pyflows workflows ...` command shares: its options, the banner, the client, `latest`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pyflows.cli import render
from pyflows.cli.app import ConfigOpt as ConfigOpt  # re-exported: the commands import them from here
from pyflows.cli.app import CwdOpt as CwdOpt
from pyflows.cli.app import EnvOpt as EnvOpt
from pyflows.cli.app import GlobalOptions
from pyflows.client.management import ManagementClient

LocalOpt = Annotated[
    bool, typer.Option("--local", help="Interact with a local dev session (`pyflows dev` or `wrangler dev`).")
]
PortOpt = Annotated[int, typer.Option("--port", help="Port of the local dev session.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API result as JSON (no banner).")]
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="Name of the workflow.", show_default=False)]


def prepare(
    ctx: typer.Context, cwd: Path | None, config: Path | None, env: str | None, *, json_: bool
) -> GlobalOptions:
    """Print the banner (unless --json), then honour global options given after the subcommand."""
    from pyflows.cli.app import override_globals

    if not json_:
        render.print_banner()
    return override_globals(ctx, cwd, config, env)


def client_for(local: bool, port: int, opts: GlobalOptions) -> ManagementClient:
    """The local session's client, or the Cloudflare API's: its account id from CLOUDFLARE_ACCOUNT_ID,
    else `account_id` in the config that --cwd/--config/--env select (read only when needed)."""
    if local:
        return ManagementClient.for_local(port)
    import os

    if os.environ.get("CLOUDFLARE_ACCOUNT_ID", "").strip() or not os.environ.get("CLOUDFLARE_API_TOKEN", "").strip():
        return ManagementClient.for_remote()
    from pyflows.runtime.config import account_id

    return ManagementClient.for_remote(account_id=account_id(opts.cwd, opts.config, opts.env))


def resolve_id(client: ManagementClient, name: str, instance_id: str, *, quiet: bool) -> str:
    if instance_id != "latest":
        return instance_id
    resolved = client.latest_instance_id(name)
    if not quiet:
        render.info(f'Latest instance is "{resolved}"')
    return resolved
