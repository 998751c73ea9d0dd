"""What every `pyflows workflows ...` command shares: its options, the banner, the client, `latest`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pyflows.cli import render
from pyflows.cli.app import ConfigOpt, CwdOpt, EnvOpt, GlobalOptions  # noqa: F401 - the commands import them from here
from pyflows.client.management import DEFAULT_PORT, ManagementClient

LocalOpt = Annotated[
    bool, typer.Option("--local", help="Interact with a local dev session (`pyflows dev` or `wrangler dev`).")
]
PortOpt = Annotated[int, typer.Option("--port", help="Port of the local dev session.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API result as JSON (no banner).")]
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="Name of the workflow.", show_default=False)]


def prepare(ctx: typer.Context, cwd: Path | None, config: Path | None, env: str | None, *, json_: bool) -> None:
    """Print the banner (unless --json), then honour global options given after the subcommand."""
    from pyflows.cli.app import override_globals

    if not json_:
        render.print_banner()
    global _globals
    _globals = override_globals(ctx, cwd, config, env)


_globals: GlobalOptions | None = None  # what `prepare` resolved, for `client_for` (the config's account_id)


def client_for(local: bool, port: int) -> ManagementClient:
    """The local client, or the Cloudflare API client (account id: CLOUDFLARE_ACCOUNT_ID, else the config's)."""
    if local:
        return ManagementClient.for_local(port)
    import os

    if os.environ.get("CLOUDFLARE_ACCOUNT_ID", "").strip() or not os.environ.get("CLOUDFLARE_API_TOKEN", "").strip():
        return ManagementClient.for_remote()
    from pyflows.runtime.config import account_id

    options = _globals or GlobalOptions(cwd=Path.cwd(), config=None, env=None)
    return ManagementClient.for_remote(account_id=account_id(options.cwd, options.config, options.env))


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
