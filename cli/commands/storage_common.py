"""What `pyflows d1|kv|r2 ...` share: the project's config, the local storage root, Wrangler's preamble.

Storage commands work on the files directly (no dev server needed, safe while one runs: every write is
one SQLite transaction). Remote storage is Wrangler's job: without `--local` they say so.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pyflows.cli import render
from pyflows.runtime.errors import PyflowsError

if TYPE_CHECKING:
    from pyflows.runtime.config import Config

LocalOpt = Annotated[
    bool, typer.Option("--local", help="Interact with local storage (.wrangler/state, shared with Wrangler).")
]
RemoteOpt = Annotated[
    bool, typer.Option("--remote", help="Interact with remote storage (not supported: use Wrangler).")
]
PersistOpt = Annotated[
    Path | None, typer.Option("--persist-to", help="Directory for local persistence (as Wrangler's --persist-to).")
]
PreviewOpt = Annotated[bool, typer.Option("--preview", help="Interact with a preview resource (remote only).")]


def require_local(local: bool, remote: bool, command: str) -> None:
    """pyflows keeps storage locally only: `--remote` is refused with a pointer to Wrangler.

    Like Wrangler 4, local is the default when neither flag is given (`--local` changes nothing), and
    `preamble()` says so on every run.
    """
    if remote:
        raise PyflowsError(
            f"pyflows {command} works on local storage only. To reach Cloudflare's remote storage, run "
            f"`wrangler {command} --remote` (the data formats are the same), or drop --remote."
        )


def load_config(ctx: typer.Context) -> Config:
    from pyflows.cli.app import global_options
    from pyflows.runtime.config import load

    opts = global_options(ctx)
    return load(opts.cwd, opts.config, opts.env)


def storage_root(ctx: typer.Context, config: Config, persist_to: Path | None) -> Path:
    """`<--persist-to or <project>/.wrangler/state>/v3` (a relative --persist-to is relative to --cwd)."""
    from pyflows.cli.app import global_options
    from pyflows.runtime.bindings.wrangler_state import persist_root

    if persist_to is not None:
        return persist_root(global_options(ctx).cwd, persist_to)
    return persist_root(config.root, None)


def shown_path(path: Path) -> str:
    """`path` relative to the shell's directory when inside it (as Wrangler prints it)."""
    try:
        return os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)


def preamble(command: str) -> None:
    """Wrangler's banner and resource-location lines, before a local storage command's output.

    Wrangler's second line ("Use --remote if you want to access the remote instance.") would send the
    user to a flag pyflows refuses, so it names the Wrangler command that reaches remote storage.
    """
    render.print_banner()
    render.info("Resource location: local ")
    render.info()
    render.info(f"pyflows works on local storage only: use `wrangler {command} --remote` for the remote instance.")
    render.info()
