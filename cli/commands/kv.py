"""`pyflows kv key put|get|list|delete` and `pyflows kv bulk put|delete`: Wrangler's local KV commands.

Grammar, flags and wording of `wrangler kv key ...` / `wrangler kv bulk ...` (Wrangler 4.164). The
namespace is `--binding B` or `--namespace-id ID`; data lives in `.wrangler/state/v3/kv` (or
`--persist-to`), shared with Wrangler and `pyflows dev`.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pyflows.cli import render
from pyflows.cli.commands.storage_common import (
    LocalOpt,
    PersistOpt,
    PreviewOpt,
    RemoteOpt,
    load_config,
    preamble,
    require_local,
    storage_root,
)
from pyflows.runtime.errors import PyflowsError

if TYPE_CHECKING:
    from pyflows.runtime.bindings.kv import KVStore

kv_app = typer.Typer(
    name="kv", help="🗂️ Manage Workers KV Namespaces", no_args_is_help=True, pretty_exceptions_enable=False
)
key_app = typer.Typer(name="key", help="Individually manage Workers KV key-value pairs", no_args_is_help=True)
bulk_app = typer.Typer(
    name="bulk", help="Interact with multiple Workers KV key-value pairs at once", no_args_is_help=True
)
kv_app.add_typer(key_app, name="key")
kv_app.add_typer(bulk_app, name="bulk")

BindingOpt = Annotated[str | None, typer.Option("--binding", help="The binding name to the namespace")]
NamespaceOpt = Annotated[str | None, typer.Option("--namespace-id", help="The id of the namespace")]


def register(app: typer.Typer) -> None:
    """Mount `kv` on the root app."""
    app.add_typer(kv_app, name="kv")


def _namespace(
    ctx: typer.Context, binding: str | None, namespace_id: str | None, persist_to: Path | None
) -> tuple[KVStore, str]:
    """The store and Wrangler's description of it (`binding: "KV" (id: "…")` or `id: "…"`)."""
    from pyflows.runtime.bindings.kv import KVStore

    if (binding is None) == (namespace_id is None):
        raise PyflowsError("Exactly one of the arguments binding and namespace-id is required")
    config = load_config(ctx)
    root = storage_root(ctx, config, persist_to)
    if namespace_id is not None:
        return KVStore(root, namespace_id), f'id: "{namespace_id}"'
    for ns in config.kv_namespaces:
        if ns.binding == binding:
            return KVStore(root, ns.id), f'binding: "{binding}" (id: "{ns.id}")'
    known = ", ".join(ns.binding for ns in config.kv_namespaces) or "none"
    raise PyflowsError(
        f'A namespace with binding name "{binding}" was not found in the configured "kv_namespaces". '
        f"Configured bindings: {known}."
    )


def _kv_call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    from pyflows.runtime.bindings.kv import KVError

    try:
        return fn(*args, **kwargs)
    except KVError as exc:
        raise PyflowsError(str(exc)) from None


# Options `kv key put` and `kv bulk put` share (Wrangler's flags and help text).
TtlOpt = Annotated[int | None, typer.Option("--ttl", help="Time for which the entries should be visible")]
ExpirationOpt = Annotated[
    int | None, typer.Option("--expiration", help="Time since the UNIX epoch after which the entry expires")
]
MetadataOpt = Annotated[str | None, typer.Option("--metadata", help="Arbitrary JSON that is associated with a key")]


@key_app.command("put")
def key_put(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The key to write to", show_default=False)],
    value: Annotated[str | None, typer.Argument(help="The value to write", show_default=False)] = None,
    path: Annotated[Path | None, typer.Option("--path", help="Read value from the file at a given path")] = None,
    binding: BindingOpt = None,
    namespace_id: NamespaceOpt = None,
    preview: PreviewOpt = False,
    ttl: TtlOpt = None,
    expiration: ExpirationOpt = None,
    metadata: MetadataOpt = None,
    local: LocalOpt = False,
    remote: RemoteOpt = False,
    persist_to: PersistOpt = None,
) -> None:
    """Write a single key/value pair to the given namespace"""
    require_local(local, remote, "kv key put")
    if (value is None) == (path is None):
        raise PyflowsError("Exactly one of the arguments value and path is required")
    meta: Any = None
    if metadata is not None:
        try:
            meta = json.loads(metadata)
        except json.JSONDecodeError as exc:
            raise PyflowsError(f"--metadata {metadata!r} is not valid JSON ({exc.msg}). Pass a JSON value.") from None
    data: str | bytes
    if path is not None:
        from pyflows.cli.app import global_options

        try:
            data = (global_options(ctx).cwd / path).read_bytes()
        except OSError as exc:
            raise PyflowsError(f"--path {path}: cannot read it ({exc.strerror}).") from None
    else:
        data = value or ""
    preamble("kv key put")
    store, described = _namespace(ctx, binding, namespace_id, persist_to)
    shown = f"the contents of {path}" if path is not None else f'the value "{value}"'
    suffix = f' with metadata "{metadata}"' if metadata is not None else ""
    render.info(f'Writing {shown} to key "{key}" on namespace {described}{suffix}.')
    _kv_call(store.put, key, data, expiration=expiration, expiration_ttl=ttl, metadata=meta)


@key_app.command("get")
def key_get(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The key value to get.", show_default=False)],
    binding: BindingOpt = None,
    namespace_id: NamespaceOpt = None,
    preview: PreviewOpt = False,
    text: Annotated[bool, typer.Option("--text", help="Decode the returned value as a utf8 string")] = False,
    local: LocalOpt = False,
    remote: RemoteOpt = False,
    persist_to: PersistOpt = None,
) -> None:
    """Read a single value by key from the given namespace"""
    require_local(local, remote, "kv key get")
    store, _ = _namespace(ctx, binding, namespace_id, persist_to)
    found = _kv_call(store.get, key)
    if found is None:
        sys.stdout.write("Value not found\n")
        return
    sys.stdout.flush()
    if text:
        sys.stdout.write(found[0].decode("utf-8", errors="replace"))
    else:
        sys.stdout.buffer.write(found[0])
    sys.stdout.flush()


@key_app.command("list")
def key_list(
    ctx: typer.Context,
    binding: BindingOpt = None,
    namespace_id: NamespaceOpt = None,
    preview: PreviewOpt = False,
    prefix: Annotated[str | None, typer.Option("--prefix", help="A prefix to filter listed keys")] = None,
    local: LocalOpt = False,
    remote: RemoteOpt = False,
    persist_to: PersistOpt = None,
) -> None:
    """Output a list of all keys in a given namespace"""
    require_local(local, remote, "kv key list")
    store, _ = _namespace(ctx, binding, namespace_id, persist_to)
    keys: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = _kv_call(store.list, prefix=prefix or "", cursor=cursor)
        keys += page["keys"]
        cursor = page.get("cursor")
        if page["list_complete"]:
            break
    sys.stdout.write(json.dumps(keys, indent=2, ensure_ascii=False) + "\n")


@key_app.command("delete")
def key_delete(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The key value to delete.", show_default=False)],
    binding: BindingOpt = None,
    namespace_id: NamespaceOpt = None,
    preview: PreviewOpt = False,
    local: LocalOpt = False,
    remote: RemoteOpt = False,
    persist_to: PersistOpt = None,
) -> None:
    """Remove a single key value pair from the given namespace"""
    require_local(local, remote, "kv key delete")
    preamble("kv key delete")
    store, described = _namespace(ctx, binding, namespace_id, persist_to)
    render.info(f'Deleting the key "{key}" on namespace {described}.')
    _kv_call(store.delete, key)


def _read_json_file(ctx: typer.Context, filename: Path) -> Any:
    from pyflows.cli.app import global_options

    try:
        return json.loads((global_options(ctx).cwd / filename).read_text(encoding="utf-8"))
    except OSError as exc:
        raise PyflowsError(f"Could not read {filename}: {exc.strerror}.") from None
    except json.JSONDecodeError as exc:
        raise PyflowsError(f"{filename}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}).") from None


@bulk_app.command("put")
def bulk_put(
    ctx: typer.Context,
    filename: Annotated[
        Path, typer.Argument(help="The file containing the key/value pairs to write", show_default=False)
    ],
    binding: BindingOpt = None,
    namespace_id: NamespaceOpt = None,
    preview: PreviewOpt = False,
    ttl: TtlOpt = None,
    expiration: ExpirationOpt = None,
    metadata: MetadataOpt = None,
    local: LocalOpt = False,
    remote: RemoteOpt = False,
    persist_to: PersistOpt = None,
) -> None:
    """Upload multiple key-value pairs to a namespace"""
    require_local(local, remote, "kv bulk put")
    preamble("kv bulk put")
    items = _read_json_file(ctx, filename)
    if not isinstance(items, list):
        raise PyflowsError(
            f'Unexpected JSON input from "{filename}".\n'
            f'Expected an array of key-value objects but got type "{type(items).__name__}".'
        )
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not isinstance(item.get("value"), str):
            raise PyflowsError(
                f'Unexpected JSON input from "{filename}": item {i} must be an object with string "key" and "value" '
                '(optional "expiration", "expiration_ttl", "metadata", "base64").'
            )
    store, _ = _namespace(ctx, binding, namespace_id, persist_to)
    default_meta = json.loads(metadata) if metadata else None
    for item in items:
        value: str | bytes = base64.b64decode(item["value"]) if item.get("base64") else item["value"]
        _kv_call(
            store.put,
            item["key"],
            value,
            expiration=item.get("expiration", expiration),
            expiration_ttl=item.get("expiration_ttl", ttl),
            metadata=item.get("metadata", default_meta),
        )
    render.info("Success!")


@bulk_app.command("delete")
def bulk_delete(
    ctx: typer.Context,
    filename: Annotated[Path, typer.Argument(help="The file containing the keys to delete", show_default=False)],
    binding: BindingOpt = None,
    namespace_id: NamespaceOpt = None,
    preview: PreviewOpt = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="Do not ask for confirmation before deleting")] = False,
    local: LocalOpt = False,
    remote: RemoteOpt = False,
    persist_to: PersistOpt = None,
) -> None:
    """Delete multiple key-value pairs from a namespace"""
    require_local(local, remote, "kv bulk delete")
    preamble("kv bulk delete")
    items = _read_json_file(ctx, filename)
    if not isinstance(items, list):
        raise PyflowsError(f'Unexpected JSON input from "{filename}".\nExpected an array of strings.')
    keys = [item if isinstance(item, str) else item.get("key") if isinstance(item, dict) else None for item in items]
    if any(not isinstance(k, str) for k in keys):
        raise PyflowsError(
            f'Unexpected JSON input from "{filename}".\nExpected an array of strings or of objects with a "key".'
        )
    store, described = _namespace(ctx, binding, namespace_id, persist_to)
    if not force:
        render.info(
            f'? Are you sure you want to delete all the keys read from "{filename}" from kv-namespace with {described}?'
        )
        render.info("🤖 Using fallback value in non-interactive context: yes")
    for key in keys:
        _kv_call(store.delete, key)
    render.info("Success!")
