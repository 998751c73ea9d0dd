"""`pyflows r2 object get|put|delete BUCKET/KEY`: Wrangler's local R2 object commands.

Grammar, flags and wording of `wrangler r2 object ...` (Wrangler 4.164). Data lives in
`.wrangler/state/v3/r2` (or `--persist-to`), keyed by bucket name, shared with Wrangler and `pyflows dev`.
Any bucket name works locally, as with Wrangler; one that is not in `r2_buckets` gets a warning.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pyflows.cli import render
from pyflows.cli.commands.storage_common import (
    LocalOpt,
    PersistOpt,
    RemoteOpt,
    load_config,
    preamble,
    require_local,
    storage_root,
)
from pyflows.runtime.errors import PyflowsError

if TYPE_CHECKING:
    from pyflows.runtime.bindings.r2 import R2Store

r2_app = typer.Typer(
    name="r2", help="📦 Manage R2 buckets & objects", no_args_is_help=True, pretty_exceptions_enable=False
)
object_app = typer.Typer(name="object", help="Manage R2 objects", no_args_is_help=True)
r2_app.add_typer(object_app, name="object")

ObjectPathArg = Annotated[
    str, typer.Argument(metavar="OBJECTPATH", help="The object path in the form of {bucket}/{key}", show_default=False)
]
JurisdictionOpt = Annotated[str | None, typer.Option("--jurisdiction", "-J", help="The jurisdiction of the bucket")]


def register(app: typer.Typer) -> None:
    """Mount `r2` on the root app."""
    app.add_typer(r2_app, name="r2")


def _split(object_path: str) -> tuple[str, str]:
    bucket, sep, key = object_path.partition("/")
    if not sep or not bucket or not key:
        raise PyflowsError(
            f'The object path must be in the form of {{bucket}}/{{key}}, got "{object_path}". '
            "For example: my-bucket/path/to/file.txt"
        )
    return bucket, key


def _store(ctx: typer.Context, bucket: str, persist_to: Path | None) -> R2Store:
    from pyflows.runtime.bindings.r2 import R2Store

    config = load_config(ctx)
    names = [b.bucket_name for b in config.r2_buckets]
    if bucket not in names:
        known = ", ".join(names) or "none"
        render.warn(
            f'Bucket "{bucket}" is not in r2_buckets of {config.path.name} (configured: {known}); using it anyway.'
        )
    return R2Store(storage_root(ctx, config, persist_to), bucket)


@object_app.command("get")
def object_get(
    ctx: typer.Context,
    object_path: ObjectPathArg,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="The destination file to create")] = None,
    pipe: Annotated[bool, typer.Option("--pipe", "-p", help="Enables the file to be piped to a destination")] = False,
    local: LocalOpt = False,
    remote: RemoteOpt = False,
    persist_to: PersistOpt = None,
    jurisdiction: JurisdictionOpt = None,
) -> None:
    """Fetch an object from an R2 bucket"""
    require_local(local, remote, "r2 object get")
    bucket, key = _split(object_path)
    if not pipe:
        preamble("r2 object get")
    found = _store(ctx, bucket, persist_to).get(key)
    if found is None:
        raise PyflowsError(f'The specified key does not exist: "{key}" in bucket "{bucket}".')
    data = found[1]
    if pipe:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    from pyflows.cli.app import global_options

    target = global_options(ctx).cwd / (file if file is not None else Path(key).name)
    render.info(f'Downloading "{key}" from "{bucket}".')
    target.write_bytes(data)
    render.info("Download complete.")


@object_app.command("put")
def object_put(
    ctx: typer.Context,
    object_path: ObjectPathArg,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="The path of the file to upload")] = None,
    pipe: Annotated[bool, typer.Option("--pipe", "-p", help="Enables the file to be piped in")] = False,
    content_type: Annotated[str | None, typer.Option("--content-type", "--ct", help="A standard MIME type")] = None,
    content_disposition: Annotated[str | None, typer.Option("--content-disposition", "--cd")] = None,
    content_encoding: Annotated[str | None, typer.Option("--content-encoding", "--ce")] = None,
    content_language: Annotated[str | None, typer.Option("--content-language", "--cl")] = None,
    cache_control: Annotated[str | None, typer.Option("--cache-control", "--cc")] = None,
    expires: Annotated[str | None, typer.Option("--expires")] = None,
    local: LocalOpt = False,
    remote: RemoteOpt = False,
    persist_to: PersistOpt = None,
    jurisdiction: JurisdictionOpt = None,
    storage_class: Annotated[str | None, typer.Option("--storage-class", "-s")] = None,
    force: Annotated[bool, typer.Option("--force", "-y")] = False,
) -> None:
    """Create an object in an R2 bucket"""
    require_local(local, remote, "r2 object put")
    bucket, key = _split(object_path)
    if (file is None) == (not pipe):
        raise PyflowsError("Exactly one of the arguments file and pipe is required")
    if file is not None:
        from pyflows.cli.app import global_options

        try:
            data = (global_options(ctx).cwd / file).read_bytes()
        except OSError as exc:
            raise PyflowsError(f"--file {file}: cannot read it ({exc.strerror}).") from None
    else:
        data = sys.stdin.buffer.read()
    preamble("r2 object put")
    http = {
        "contentType": content_type,
        "contentDisposition": content_disposition,
        "contentEncoding": content_encoding,
        "contentLanguage": content_language,
        "cacheControl": cache_control,
        "cacheExpiry": expires,
    }
    store = _store(ctx, bucket, persist_to)
    render.info(f'Creating object "{key}" in bucket "{bucket}".')
    from pyflows.runtime.bindings.r2 import R2Error

    try:
        store.put(key, data, {k: v for k, v in http.items() if v is not None})
    except R2Error as exc:
        raise PyflowsError(f"{exc} Key: {len(key.encode())} bytes (at most 1024).") from None
    render.info("Upload complete.")


@object_app.command("delete")
def object_delete(
    ctx: typer.Context,
    object_path: ObjectPathArg,
    local: LocalOpt = False,
    remote: RemoteOpt = False,
    persist_to: PersistOpt = None,
    jurisdiction: JurisdictionOpt = None,
) -> None:
    """Delete an object in an R2 bucket"""
    require_local(local, remote, "r2 object delete")
    bucket, key = _split(object_path)
    preamble("r2 object delete")
    store = _store(ctx, bucket, persist_to)
    render.info(f'Deleting object "{key}" from bucket "{bucket}".')
    store.delete([key])
    render.info("Delete complete.")
