"""`pyflows workflows instances ...`: list, describe, send-event, pause/resume/terminate/restart, delete,
and pyflows' own `wake`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pyflows.cli import render
from pyflows.cli.options import (
    ConfigOpt,
    CwdOpt,
    EnvOpt,
    JsonOpt,
    LocalOpt,
    NameArg,
    PortOpt,
    client_for,
    prepare,
    resolve_id,
)
from pyflows.client.management import StatusAction, trigger_hint
from pyflows.runtime.errors import PyflowsError
from pyflows.runtime.protocol.defaults import DEFAULT_PORT
from pyflows.runtime.protocol.statuses import FINISHED

instances_app = typer.Typer(
    name="instances", help="Manage Workflow instances", no_args_is_help=True, pretty_exceptions_enable=False
)


@instances_app.command("list", help="List the instances of a workflow (newest first)")
def list_instances(
    ctx: typer.Context,
    name: NameArg,
    reverse: Annotated[bool, typer.Option("--reverse", help="Reverse order of the instances table.")] = False,
    status: Annotated[
        str | None,
        typer.Option(
            help="Filter by status: queued, running, paused, errored, terminated, complete, waiting or waitingForPause."
        ),
    ] = None,
    page: Annotated[int, typer.Option(help='Show a specific page from the listing (size set by "--per-page").')] = 1,
    per_page: Annotated[
        int | None, typer.Option(help="Maximum number of instances per page (1-100, default 25).")
    ] = None,
    date_start: Annotated[
        str | None,
        typer.Option(
            help="Only instances created at or after this ISO 8601 date (2026-01-01 or 2026-01-01T13:00:00Z)."
        ),
    ] = None,
    date_end: Annotated[
        str | None,
        typer.Option(
            help="Only instances created at or before this ISO 8601 date; a bare date covers the whole UTC day."
        ),
    ] = None,
    local: LocalOpt = False,
    port: PortOpt = DEFAULT_PORT,
    json_: JsonOpt = False,
    cwd: CwdOpt = None,
    config: ConfigOpt = None,
    env: EnvOpt = None,
) -> None:
    from pyflows.cli import validation

    opts = prepare(ctx, cwd, config, env, json_=json_)
    since = None if date_start is None else validation.check_date(date_start, "--date-start", end_of_day=False)
    until = None if date_end is None else validation.check_date(date_end, "--date-end", end_of_day=True)
    validation.check_date_range(since, until)
    if status is not None:
        validation.check_status(status)
    with client_for(local, port, opts) as client:
        envelope = client.list_instances(
            name, status=status, date_start=since, date_end=until, per_page=per_page, page=page
        )
    rows: list[dict[str, Any]] = list(envelope.result or [])
    rows.sort(key=lambda row: str(row.get("created_on") or ""), reverse=not reverse)
    if json_:
        render.print_json(rows)
        return
    if not rows:
        if page > 1:
            render.warn(f"No instances found on page {page}. Please try a smaller page number.")
        elif status is not None or since is not None or until is not None:
            render.warn(f'No instances in workflow "{name}" matched the provided filters.')
        else:
            render.warn(
                f'There are no instances in workflow "{name}". You can trigger it with '
                f'"{trigger_hint(name, local=local, port=port)}"'
            )
        return
    render.info(f"Showing {len(rows)} instance{'s' if len(rows) > 1 else ''} from page {page}:")
    render.print_table(*instance_rows(rows))


def instance_rows(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Headers and cells of the instances table (remote rows add Version and Modified)."""
    from pyflows.cli.humanize import local_datetime, status_label

    remote = any("version_id" in row or "modified_on" in row for row in rows)
    headers = (
        ["Instance ID", "Version", "Created", "Modified", "Status"] if remote else ["Instance ID", "Created", "Status"]
    )
    cells = []
    for row in rows:
        created = local_datetime(row["created_on"]) if row.get("created_on") else "N/A"
        state = status_label(row["status"]) if row.get("status") else "N/A"
        if remote:
            modified = local_datetime(row["modified_on"]) if row.get("modified_on") else "N/A"
            cells.append([str(row.get("id")), str(row.get("version_id") or ""), created, modified, state])
        else:
            cells.append([str(row.get("id")), created, state])
    return headers, cells


@instances_app.command("describe", help="Describe a workflow instance - see its logs, retries and errors")
def describe_instance(
    ctx: typer.Context,
    name: NameArg,
    id_: Annotated[
        str, typer.Argument(metavar="ID", help="ID of the instance, or 'latest' for the newest one.")
    ] = "latest",
    step_output: Annotated[
        bool,
        typer.Option(
            "--step-output/--no-step-output",
            help="Show each step's output (`--step-output false` also works, as in Wrangler).",
        ),
    ] = True,
    truncate_output_limit: Annotated[int, typer.Option(help="Truncate step output after this many characters.")] = 5000,
    local: LocalOpt = False,
    port: PortOpt = DEFAULT_PORT,
    json_: JsonOpt = False,
    cwd: CwdOpt = None,
    config: ConfigOpt = None,
    env: EnvOpt = None,
) -> None:
    from pyflows.cli.validation import check_non_negative

    opts = prepare(ctx, cwd, config, env, json_=json_)
    check_non_negative(truncate_output_limit, "--truncate-output-limit")
    with client_for(local, port, opts) as client:
        instance_id = resolve_id(client, name, id_, quiet=json_)
        instance = client.get_instance(name, instance_id) or {}
    if json_:
        # `id` first, then the API's fields, and never truncated: it is for machines.
        render.print_json({"id": instance_id, **instance})
        return
    from pyflows.cli.views.instance import describe_text

    sys.stdout.write(describe_text(name, instance_id, instance, show_output=step_output, limit=truncate_output_limit))


IdArg = Annotated[
    str,
    typer.Argument(metavar="ID", help="ID of the instance, or 'latest' for the newest one.", show_default=False),
]


@instances_app.command("send-event", help="Send an event to a workflow instance")
def send_event(
    ctx: typer.Context,
    name: NameArg,
    id_: IdArg,
    type_: Annotated[str, typer.Option("--type", help="Type of the workflow event.", show_default=False)],
    payload: Annotated[str, typer.Option(help='JSON string for the workflow event, e.g. \'{"key": "value"}\'.')] = "{}",
    local: LocalOpt = False,
    port: PortOpt = DEFAULT_PORT,
    json_: JsonOpt = False,
    cwd: CwdOpt = None,
    config: ConfigOpt = None,
    env: EnvOpt = None,
) -> None:
    from pyflows.cli.validation import parse_json_argument

    opts = prepare(ctx, cwd, config, env, json_=json_)
    parsed = parse_json_argument(payload, "event payload")
    with client_for(local, port, opts) as client:
        instance_id = resolve_id(client, name, id_, quiet=json_)
        status = (client.get_instance(name, instance_id) or {}).get("status")
        if status in FINISHED:  # the API accepts and drops it (as Wrangler's); say so instead
            raise PyflowsError(
                f'Cannot send the event "{type_}" to the instance "{instance_id}" from {name}: it is '
                f"already {status}, and events are accepted only while an instance can still run."
            )
        result = client.send_event(name, instance_id, type_, payload)
    if json_:
        render.print_json(result)
        return
    # Wrangler names the payload only when it has keys (Object.keys(payload).length > 0).
    shown = f' and payload "{payload}"' if isinstance(parsed, dict | list | str) and parsed else ""
    render.info(f'📤 The event with type "{type_}"{shown} was sent to the instance "{instance_id}" from {name}')


_DONE = {
    "pause": ("⏸️", "paused"),
    "resume": ("🔄", "resumed"),
    "restart": ("🥷", "restarted"),
    "terminate": ("🥷", "terminated"),
}


def _change_status(
    ctx: typer.Context,
    action: StatusAction,
    name: str,
    id_: str,
    *,
    local: bool,
    port: int,
    json_: bool,
    globals_: tuple[Path | None, Path | None, str | None],
    restart: tuple[str | None, int | None, str | None] = (None, None, None),
    rollback: bool = False,
) -> None:
    from pyflows.cli.validation import check_restart_from

    opts = prepare(ctx, *globals_, json_=json_)
    restart_from = check_restart_from(*restart)
    with client_for(local, port, opts) as client:
        instance_id = resolve_id(client, name, id_, quiet=json_)
        result = client.change_status(name, instance_id, action, restart_from=restart_from, rollback=rollback)
    if action in ("pause", "resume") and (result or {}).get("status") in FINISHED:
        # The API answers a no-op here, as Wrangler's does (so the real wrangler CLI behaves the
        # same against pyflows dev); our CLI does not claim a pause or resume that did not happen.
        raise PyflowsError(
            f'Cannot {action} the instance "{instance_id}" from {name}: it is already {result["status"]}. '
            + (
                "Only queued, running or waiting instances can be paused."
                if action == "pause"
                else "Only paused instances can be resumed."
            )
        )
    if json_:
        render.print_json(result)
        return
    emoji, done = _DONE[action]
    render.info(f'{emoji} The instance "{instance_id}" from {name} was {done} successfully')


@instances_app.command("terminate", help="Terminate a workflow instance")
def terminate(
    ctx: typer.Context,
    name: NameArg,
    id_: IdArg,
    rollback: Annotated[
        bool, typer.Option("--rollback", help="Run the instance's rollback steps as it stops.")
    ] = False,
    local: LocalOpt = False,
    port: PortOpt = DEFAULT_PORT,
    json_: JsonOpt = False,
    cwd: CwdOpt = None,
    config: ConfigOpt = None,
    env: EnvOpt = None,
) -> None:
    _change_status(
        ctx,
        "terminate",
        name,
        id_,
        local=local,
        port=port,
        json_=json_,
        globals_=(cwd, config, env),
        rollback=rollback,
    )


@instances_app.command("restart", help="Restart a workflow instance")
def restart(
    ctx: typer.Context,
    name: NameArg,
    id_: IdArg,
    from_step_name: Annotated[
        str | None, typer.Option(help="Restart from this step (steps before it keep their results).")
    ] = None,
    from_step_count: Annotated[
        int | None, typer.Option(help="Which occurrence of --from-step-name, counting from 1.")
    ] = None,
    from_step_type: Annotated[
        str | None, typer.Option(help="The kind of step named: do (default), sleep or waitForEvent.")
    ] = None,
    local: LocalOpt = False,
    port: PortOpt = DEFAULT_PORT,
    json_: JsonOpt = False,
    cwd: CwdOpt = None,
    config: ConfigOpt = None,
    env: EnvOpt = None,
) -> None:
    _change_status(
        ctx,
        "restart",
        name,
        id_,
        local=local,
        port=port,
        json_=json_,
        globals_=(cwd, config, env),
        restart=(from_step_name, from_step_count, from_step_type),
    )


def _simple_action(action: StatusAction, help_text: str) -> None:
    """`instances pause` and `instances resume`: NAME ID and the common options, nothing else."""

    def command(
        ctx: typer.Context,
        name: NameArg,
        id_: IdArg,
        local: LocalOpt = False,
        port: PortOpt = DEFAULT_PORT,
        json_: JsonOpt = False,
        cwd: CwdOpt = None,
        config: ConfigOpt = None,
        env: EnvOpt = None,
    ) -> None:
        _change_status(ctx, action, name, id_, local=local, port=port, json_=json_, globals_=(cwd, config, env))

    command.__name__ = action
    instances_app.command(action, help=help_text)(command)


_simple_action("pause", "Pause a workflow instance")
_simple_action("resume", "Resume a workflow instance")


@instances_app.command(
    "wake", help="End an instance's current sleep, retry delay or event wait's timeout now (pyflows dev only)"
)
def wake(
    ctx: typer.Context,
    name: NameArg,
    id_: IdArg,
    local: LocalOpt = False,
    port: PortOpt = DEFAULT_PORT,
    json_: JsonOpt = False,
    cwd: CwdOpt = None,
    config: ConfigOpt = None,
    env: EnvOpt = None,
) -> None:
    """A pyflows extension (no Wrangler equivalent): the explorer's "Wake now". An event wait that is
    woken times out, as its timer would have. Durable: a restart of the dev server keeps the new time."""
    opts = prepare(ctx, cwd, config, env, json_=json_)
    with client_for(local, port, opts) as client:
        instance_id = resolve_id(client, name, id_, quiet=json_)
        result = client.wake_instance(name, instance_id)
    if json_:
        render.print_json(result)
        return
    render.info(f'⏰ The instance "{instance_id}" from {name} was woken up')


@instances_app.command("delete", help="Delete workflow instances")
def delete_instances(
    ctx: typer.Context,
    name: NameArg,
    ids: Annotated[
        list[str] | None,
        typer.Argument(metavar="[ID]...", help="IDs of the instances ('latest' for the newest).", show_default=False),
    ] = None,
    filename: Annotated[str | None, typer.Option(help="Path to a JSON file holding an array of instance IDs.")] = None,
    local: LocalOpt = False,
    port: PortOpt = DEFAULT_PORT,
    json_: JsonOpt = False,
    cwd: CwdOpt = None,
    config: ConfigOpt = None,
    env: EnvOpt = None,
) -> None:
    from pyflows.cli import validation

    opts = prepare(ctx, cwd, config, env, json_=json_)
    wanted = list(ids or []) + (validation.read_ids_file(filename) if filename else [])
    validation.check_delete_ids(wanted)
    with client_for(local, port, opts) as client:
        if "latest" in wanted:
            latest = resolve_id(client, name, "latest", quiet=json_)
            wanted = [latest if item == "latest" else item for item in wanted]
        result = client.delete_instances(name, wanted) or {}
    deleted = result.get("deleted") or []
    errors = result.get("errors") or []
    if json_:
        render.print_json(result)
    elif deleted:
        listed = ", ".join(f'"{item.get("id")}"' for item in deleted)
        render.info(f'🗑️  Deleted workflow instances from "{name}": {listed}')
    if errors:
        details = "\n".join(f"    - {item.get('id')}: {item.get('message')}" for item in errors)
        raise PyflowsError(f"Failed to delete {len(errors)} workflow instance(s):\n\n{details}")
