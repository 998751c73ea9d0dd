"""`pyflows d1 execute|migrations ...`: Wrangler's local D1 commands on the same database files.

Grammar, flags and wording of `wrangler d1 execute` / `wrangler d1 migrations create|list|apply`
(Wrangler 4.164). The database is found by binding or `database_name`; data lives in
`.wrangler/state/v3/d1` (or `--persist-to`), so Wrangler and `pyflows dev` see the same rows.
Output: JSON when piped or with --json, a table per statement on a terminal.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
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
    shown_path,
    storage_root,
)
from pyflows.runtime.errors import PyflowsError

if TYPE_CHECKING:
    from pyflows.runtime.config import Config, D1DatabaseConfig

d1_app = typer.Typer(
    name="d1", help="🗄️ Manage Workers D1 databases", no_args_is_help=True, pretty_exceptions_enable=False
)
migrations_app = typer.Typer(name="migrations", help="Interact with D1 migrations", no_args_is_help=True)
d1_app.add_typer(migrations_app, name="migrations")

DatabaseArg = Annotated[
    str, typer.Argument(metavar="DATABASE", help="The name or binding of the DB", show_default=False)
]


def register(app: typer.Typer) -> None:
    """Mount `d1` on the root app."""
    app.add_typer(d1_app, name="d1")


def find_database(config: Config, name: str) -> D1DatabaseConfig:
    """The `d1_databases[]` entry whose binding or database_name is `name`; else an error naming them all."""
    for db in config.d1_databases:
        if name in (db.binding, db.database_name):
            return db
    known = ", ".join(f"{db.database_name} (binding {db.binding})" for db in config.d1_databases) or "none"
    raise PyflowsError(
        f"Couldn't find a D1 DB with the name or binding '{name}' in your {config.path.name} file. "
        f"Configured databases: {known}."
    )


def _open(ctx: typer.Context, database: str, persist_to: Path | None) -> tuple[Config, D1DatabaseConfig, Any, Path]:
    from pyflows.runtime.bindings.d1 import D1Store

    config = load_config(ctx)
    db = find_database(config, database)
    root = storage_root(ctx, config, persist_to)
    return config, db, D1Store(root, db.database_id), root


def _run(store: Any, statements: list[str]) -> list[dict[str, Any]]:
    from pyflows.runtime.bindings.d1 import D1Error

    try:
        results = store.transaction([(s, ()) for s in statements])
    except D1Error as exc:
        raise PyflowsError(str(exc).removeprefix("D1_ERROR: ")) from None
    out = []
    for columns, rows, meta in results:
        out.append(
            {
                "results": [dict(zip(columns, [_jsonable(v) for v in row], strict=True)) for row in rows],
                "success": True,
                "meta": {"duration": round(meta["duration"], 3)},
            }
        )
    return out


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, bytes) else value  # D1 returns a BLOB as an array of bytes


def _print_results(results: list[dict[str, Any]]) -> None:
    if not sys.stdout.isatty():
        sys.stdout.write(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        return
    for result in results:
        rows = result["results"]
        if rows:
            headers = list(rows[0])
            render.print_table(headers, [["" if r[h] is None else str(r[h]) for h in headers] for r in rows])


def _executing_lines(db: D1DatabaseConfig, root: Path, given: str) -> None:
    # Wrangler echoes the name as given (binding or database_name).
    render.info(f"🌀 Executing on local database {given} ({db.database_id}) from {shown_path(root / 'd1')}:")
    render.info("🌀 To execute on your remote database, run this command with `wrangler` and --remote.")


@d1_app.command("execute")
def execute(
    ctx: typer.Context,
    database: DatabaseArg,
    command: Annotated[
        str | None,
        typer.Option("--command", help="The SQL query you wish to execute, or multiple queries separated by ';'"),
    ] = None,
    file: Annotated[Path | None, typer.Option("--file", help="A .sql file to ingest")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help='Answer "yes" to any prompts')] = False,
    local: LocalOpt = False,
    remote: RemoteOpt = False,
    persist_to: PersistOpt = None,
    json_: Annotated[bool, typer.Option("--json", help="Return output as JSON")] = False,
    preview: PreviewOpt = False,
) -> None:
    """Execute a command or SQL file"""
    from pyflows.runtime.bindings.d1 import split_statements

    require_local(local, remote, "d1 execute")
    if (command is None) == (file is None):
        raise PyflowsError(
            "Error: You must provide either --command or --file for this command to run successfully."
            if command is None
            else "Error: can't provide both --command and --file."
        )
    if file is not None:
        from pyflows.cli.app import global_options

        path = global_options(ctx).cwd / file
        try:
            sql = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PyflowsError(f'Unable to read SQL text file "{file}": {exc.strerror}.') from None
    else:
        sql = command or ""
    if not json_:
        preamble("d1 execute")
    _config, db, store, root = _open(ctx, database, persist_to)
    statements = split_statements(sql)
    if not statements:
        raise PyflowsError("No SQL statements detected.")
    if not json_:
        _executing_lines(db, root, database)
    results = _run(store, statements)
    if json_:
        sys.stdout.write(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        return
    n = len(statements)
    render.info(f"🚣 {n} command{'s' if n != 1 else ''} executed successfully.")
    _print_results(results)


def _migrations(config: Config, db: D1DatabaseConfig) -> tuple[Path, list[str]]:
    from pyflows.runtime.bindings.d1 import migration_files

    folder = config.root / db.migrations_dir
    return folder, migration_files(folder)


@migrations_app.command("create")
def migrations_create(
    ctx: typer.Context,
    database: DatabaseArg,
    message: Annotated[str, typer.Argument(metavar="MESSAGE", help="The Migration message", show_default=False)],
) -> None:
    """Create a new migration"""
    render.print_banner()
    config = load_config(ctx)
    db = find_database(config, database)
    folder, existing = _migrations(config, db)
    if not folder.is_dir():
        render.info(
            f"? No migrations folder found. Set `migrations_dir` in your {config.path.name} file to choose a "
            f"different path.\nOk to create {folder}?"
        )
        render.info("🤖 Using fallback value in non-interactive context: yes")
        folder.mkdir(parents=True)
    numbers = [int(m.group(1)) for name in existing if (m := re.match(r"^(\d+)", name))]
    name = f"{max(numbers, default=0) + 1:04d}_{message.replace(' ', '_')}.sql"
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    (folder / name).write_text(f"-- Migration number: {name[:4]} \t {now}\n", encoding="utf-8")
    render.info(f"✅ Successfully created Migration '{name}'!")
    render.info()
    render.info("The migration is available for editing here")
    render.info(str(folder / name))


def _pending_migrations(
    ctx: typer.Context, database: str, persist_to: Path | None, *, column: str, command: str
) -> tuple[D1DatabaseConfig, Any, Path, Path, list[str]] | None:
    """Print the banner and the migrations not applied yet (Wrangler's table); None when there are none."""
    preamble(command)
    config, db, store, root = _open(ctx, database, persist_to)
    folder, names = _migrations(config, db)
    from pyflows.runtime.bindings.d1 import applied_migrations

    pending = [n for n in names if n not in applied_migrations(store, db.migrations_table)]
    if not pending:
        render.info("✅ No migrations to apply!")
        return None
    render.info("Migrations to be applied:")
    render.print_table([column], [[n] for n in pending])
    return db, store, root, folder, pending


@migrations_app.command("list")
def migrations_list(
    ctx: typer.Context,
    database: DatabaseArg,
    local: LocalOpt = False,
    remote: RemoteOpt = False,
    persist_to: PersistOpt = None,
    preview: PreviewOpt = False,
) -> None:
    """View a list of unapplied migration files"""
    require_local(local, remote, "d1 migrations list")
    # Wrangler capitalises the column here only.
    _pending_migrations(ctx, database, persist_to, column="Name", command="d1 migrations list")


@migrations_app.command("apply")
def migrations_apply(
    ctx: typer.Context,
    database: DatabaseArg,
    local: LocalOpt = False,
    remote: RemoteOpt = False,
    persist_to: PersistOpt = None,
    preview: PreviewOpt = False,
) -> None:
    """Apply any unapplied D1 migrations"""
    from pyflows.runtime.bindings.d1 import D1Error, apply_migration

    require_local(local, remote, "d1 migrations apply")
    found = _pending_migrations(ctx, database, persist_to, column="name", command="d1 migrations apply")
    if found is None:
        return
    db, store, root, folder, pending = found
    render.info(f"? About to apply {len(pending)} migration(s)")
    render.info("Your database may not be available to serve requests during the migration, continue?")
    render.info("🤖 Using fallback value in non-interactive context: yes")
    rows: list[list[str]] = []
    for name in pending:
        _executing_lines(db, root, database)
        try:
            count = apply_migration(store, folder, name, db.migrations_table)
        except D1Error as exc:
            rows.append([name, "❌"])
            render.print_table(["name", "status"], rows)
            raise PyflowsError(str(exc)) from None
        render.info(f"🚣 {count} command{'s' if count != 1 else ''} executed successfully.")
        rows.append([name, "✅"])
    render.print_table(["name", "status"], rows)
