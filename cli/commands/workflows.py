"""`pyflows workflows ...`: Wrangler's workflow management commands, against a dev session or Cloudflare.

Same command names, arguments, flags, defaults, wording and exit codes as `wrangler workflows ...`
(Wrangler 4.164's output, compared byte for byte in tests/cli/), so scripts and muscle memory carry
over. Deliberate differences, all documented in README.md:

* the banner reads ` ⛅️ pyflows <version>` (PYFLOWS_HIDE_BANNER=1 hides it); no `🪵 Logs were
  written` line, since pyflows keeps no log file;
* `instances describe` also shows the instance's `Output:` and a sleeping step's `Wakes At:`;
* errors say what to do (e.g. how to start a dev session on the port).

Every command is parse → validate (no request on bad input) → one client call → render. Heavy
imports stay out: this module pulls in only the stdlib HTTP client (start-up budget 0.25 s).
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from pyflows.cli import render
from pyflows.cli.commands import instances
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
)
from pyflows.runtime.protocol.defaults import DEFAULT_PORT

workflows_app = typer.Typer(
    name="workflows", help="🔁 Manage Workflows", no_args_is_help=True, pretty_exceptions_enable=False
)
workflows_app.add_typer(instances.instances_app, name="instances")


def register(app: typer.Typer) -> None:
    """Mount `workflows` (and `workflows instances`) on the root app."""
    app.add_typer(workflows_app, name="workflows")


def normalize_argv(args: list[str]) -> list[str]:
    """Accept Wrangler's `--step-output false` (a yargs boolean with a value) as `--no-step-output`.

    `pyflows.cli.app.main` applies it to the command line before parsing."""
    if "workflows" not in args:
        return args
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        value = None
        if arg == "--step-output" and i + 1 < len(args) and args[i + 1].lower() in ("true", "false"):
            value, i = args[i + 1].lower(), i + 1
        elif arg.startswith("--step-output="):
            value = arg.split("=", 1)[1].lower()
        out.append(arg if value is None else "--step-output" if value != "false" else "--no-step-output")
        i += 1
    return out


# --- workflows ---------------------------------------------------------------------------------


@workflows_app.command("list", help="List Workflows associated to account")
def list_workflows(
    ctx: typer.Context,
    page: Annotated[int, typer.Option(help='Show a specific page from the listing (size set by "--per-page").')] = 1,
    per_page: Annotated[int | None, typer.Option(help="Maximum number of workflows per page.")] = None,
    local: LocalOpt = False,
    port: PortOpt = DEFAULT_PORT,
    json_: JsonOpt = False,
    cwd: CwdOpt = None,
    config: ConfigOpt = None,
    env: EnvOpt = None,
) -> None:
    opts = prepare(ctx, cwd, config, env, json_=json_)
    with client_for(local, port, opts) as client:
        rows: list[dict[str, Any]] = client.list_workflows(page=page, per_page=per_page).result or []
    if any("created_on" in row for row in rows):
        rows = sorted(rows, key=lambda row: str(row.get("created_on") or ""), reverse=True)
    if json_:
        render.print_json(rows)
        return
    if not rows:
        if local:
            render.warn("There are no Workflows in the local dev session")
        elif page > 1:
            render.warn(f"No Workflows found on page {page}. Please try a smaller page number.")
        else:
            render.warn("There are no deployed Workflows in this account")
        return
    plural = "s" if len(rows) > 1 else ""
    where = "local dev session" if local else f"page {page}"
    render.info(f"Showing {len(rows)} workflow{plural} from {where}:")
    headers = ["Name", "Script name", "Class name"]
    stamps = [("Created", "created_on"), ("Modified", "modified_on")]
    stamps = [(header, key) for header, key in stamps if any(key in row for row in rows)]
    from pyflows.cli.humanize import local_datetime

    table = [
        [str(row.get("name")), str(row.get("script_name")), str(row.get("class_name"))]
        + [local_datetime(row.get(key)) for _, key in stamps]
        for row in rows
    ]
    render.print_table(headers + [header for header, _ in stamps], table)


@workflows_app.command("describe", help="Describe Workflow resource")
def describe_workflow(
    ctx: typer.Context,
    name: NameArg,
    local: LocalOpt = False,
    port: PortOpt = DEFAULT_PORT,
    json_: JsonOpt = False,
    cwd: CwdOpt = None,
    config: ConfigOpt = None,
    env: EnvOpt = None,
) -> None:
    opts = prepare(ctx, cwd, config, env, json_=json_)
    with client_for(local, port, opts) as client:
        workflow = client.get_workflow(name) or {}
    if json_:
        render.print_json(workflow)
        return
    fields = [("Name", str(workflow.get("name")))]
    if "id" in workflow:
        fields.append(("Id", str(workflow["id"])))
    fields += [
        ("Script Name", str(workflow.get("script_name"))),
        ("Class Name", str(workflow.get("class_name"))),
    ]
    for label, key in (("Created On", "created_on"), ("Modified On", "modified_on")):
        if key in workflow:
            fields.append((label, str(workflow[key])))
    render.info(render.labelled(fields))
    counts = workflow.get("instances")
    if isinstance(counts, dict):
        render.info("Instance Status Counts:")
        render.info(render.labelled([(str(k), str(v)) for k, v in counts.items()], indent=2))


@workflows_app.command("diagram", help="Draw a Workflow's steps from its Python source (pyflows only)")
def diagram(
    ctx: typer.Context,
    name: NameArg,
    format_: Annotated[
        str, typer.Option("--format", help="mermaid (a flowchart to paste into Markdown) or json.")
    ] = "mermaid",
    local: Annotated[
        bool,
        typer.Option("--local", help="Ask the running dev session (its loaded class) instead of reading the source."),
    ] = False,
    port: PortOpt = DEFAULT_PORT,
    cwd: CwdOpt = None,
    config: ConfigOpt = None,
    env: EnvOpt = None,
) -> None:
    """The same graph as the Local Explorer's diagram: read with `ast` from the class named by the
    workflow's `class_name`, in the config's `main` module or a module beside it; no code is run."""
    import json

    from pyflows.runtime.errors import PyflowsError

    if format_ not in ("mermaid", "json"):
        raise PyflowsError(f"--format {format_!r} is not a diagram format: use mermaid or json.")
    opts = prepare(ctx, cwd, config, env, json_=True)
    from pyflows.runtime.workflows.diagram import diagram_of_project, to_mermaid

    if local:
        with client_for(True, port, opts) as client:
            graph = client.workflow_diagram(name)
    else:
        from pyflows.runtime import config as config_module

        cfg = config_module.load(opts.cwd, opts.config, opts.env)
        graph = diagram_of_project(cfg, name)
    sys.stdout.write(json.dumps(graph, indent=2) + "\n" if format_ == "json" else to_mermaid(graph))


@workflows_app.command(
    "delete", help="Delete workflow - when deleting a workflow, it will also delete it's own instances"
)
def delete_workflow(
    ctx: typer.Context,
    name: NameArg,
    local: LocalOpt = False,
    port: PortOpt = DEFAULT_PORT,
    json_: JsonOpt = False,
    cwd: CwdOpt = None,
    config: ConfigOpt = None,
    env: EnvOpt = None,
) -> None:
    opts = prepare(ctx, cwd, config, env, json_=json_)
    with client_for(local, port, opts) as client:
        result = client.delete_workflow(name)
    if json_:
        render.print_json(result)
    elif local:
        render.info(f'✅ Workflow "{name}" instances removed successfully from local dev session.')
    else:
        render.info(
            f'✅ Workflow "{name}" removed successfully. \n'
            " Note that running instances might take a few minutes to be properly terminated."
        )


@workflows_app.command(
    "trigger",
    help="Trigger a workflow, creating a new instance. Can optionally take a JSON string to pass a parameter "
    "into the workflow instance",
)
def trigger(
    ctx: typer.Context,
    name: NameArg,
    params: Annotated[
        str,
        typer.Argument(help="Params for the workflow instance, encoded as a JSON string.", show_default=False),
    ] = "",
    id_: Annotated[
        str | None,
        typer.Option("--id", help="Custom instance ID; if not provided it defaults to a random UUIDv4."),
    ] = None,
    local: LocalOpt = False,
    port: PortOpt = DEFAULT_PORT,
    json_: JsonOpt = False,
    cwd: CwdOpt = None,
    config: ConfigOpt = None,
    env: EnvOpt = None,
) -> None:
    from pyflows.cli.validation import parse_json_argument

    opts = prepare(ctx, cwd, config, env, json_=json_)
    if params:
        parse_json_argument(params, "instance parameters")
    with client_for(local, port, opts) as client:
        result = client.create_instance(name, instance_id=id_, params_json=params or None)
    if json_:
        render.print_json(result)
        return
    verb = "triggered" if local else "queued"
    render.info(f'🚀 Workflow instance "{(result or {}).get("id")}" has been {verb} successfully')
