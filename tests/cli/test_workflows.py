# ruff: noqa: E501  (expected outputs are Wrangler's lines, verbatim)
"""`pyflows workflows list|describe|delete|trigger` as subprocesses against the stand-in API
(tests/cli/standin.py), plus what every command shares: no session on the port, a foreign server,
remote mode, global options, banner, colour and imports.

Expected outputs are Wrangler 4.164's recorded output with pyflows' banner.
Each test checks stdout, stderr and the exit code, and where it matters what reached the server.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from standin import ACCOUNT, TOKEN, StandIn
from workflows_cli import BANNER, ENV, error, local, ok, pyflows, requests_to

# --- workflows list / describe / delete / trigger ----------------------------------------------


WORKFLOWS_TABLE = """\
Showing 3 workflows from local dev session:
┌──────────────────┬─────────────┬─────────────────┐
│ Name             │ Script name │ Class name      │
├──────────────────┼─────────────┼─────────────────┤
│ my-workflow      │ wf-peer     │ MyWorkflow      │
├──────────────────┼─────────────┼─────────────────┤
│ failing-workflow │ wf-peer     │ FailingWorkflow │
├──────────────────┼─────────────┼─────────────────┤
│ sleepy-workflow  │ wf-peer     │ SleepyWorkflow  │
└──────────────────┴─────────────┴─────────────────┘
"""


def test_list_workflows(api: StandIn) -> None:
    ok(local(api, "list"), BANNER + WORKFLOWS_TABLE)
    # The local API is not paged: Wrangler sends no page/per_page there.
    assert requests_to(api) == ["GET /cdn-cgi/local/explorer/api/workflows"]
    request = api.state.requests[0]
    assert request.headers["host"] == f"localhost:{api.port}"


def test_list_workflows_json(api: StandIn) -> None:
    run = local(api, "list", "--json")
    ok(run, run.out)
    assert run.out.startswith('[\n    {\n        "name": "my-workflow",\n        "class_name": "MyWorkflow",')
    assert [w["name"] for w in json.loads(run.out)] == ["my-workflow", "failing-workflow", "sleepy-workflow"]


def test_list_workflows_empty_warns(api: StandIn) -> None:
    api.state.workflows.clear()
    run = local(api, "list")
    assert (run.code, run.out) == (0, BANNER)
    assert run.err == "▲ [WARNING] There are no Workflows in the local dev session\n\n"


def test_describe_workflow(api: StandIn) -> None:
    ok(
        local(api, "describe", "my-workflow"),
        BANNER
        + """\
Name:         my-workflow
Script Name:  wf-peer
Class Name:   MyWorkflow
Instance Status Counts:
  complete:         1
  errored:          0
  paused:           0
  queued:           0
  running:          2
  terminated:       1
  waiting:          0
  waitingForPause:  0
""",
    )


def test_describe_workflow_json(api: StandIn) -> None:
    run = local(api, "describe", "failing-workflow", "--json")
    ok(run, run.out)
    assert json.loads(run.out) == {
        "name": "failing-workflow",
        "class_name": "FailingWorkflow",
        "script_name": "wf-peer",
        "instances": {
            "complete": 0,
            "errored": 1,
            "paused": 0,
            "queued": 0,
            "running": 0,
            "terminated": 0,
            "waiting": 0,
            "waitingForPause": 1,
        },
    }


def test_delete_workflow(api: StandIn) -> None:
    ok(
        local(api, "delete", "failing-workflow"),
        BANNER + '✅ Workflow "failing-workflow" instances removed successfully from local dev session.\n',
    )
    assert api.state.instances["failing-workflow"] == {}
    ok(local(api, "delete", "failing-workflow", "--json"), '{\n    "status": "ok",\n    "success": true\n}\n')


def test_trigger_with_params_and_id(api: StandIn) -> None:
    ok(
        local(api, "trigger", "my-workflow", '{"a": 2}', "--id", "my-id"),
        BANNER + '🚀 Workflow instance "my-id" has been triggered successfully\n',
    )
    (request,) = api.state.requests
    assert request.path == "/cdn-cgi/local/explorer/api/workflows/my-workflow/instances"
    assert request.body == b'{"id":"my-id","params":{"a": 2}}'  # params verbatim, as typed
    assert request.headers["content-type"] == "application/json"


def test_trigger_without_params_json(api: StandIn) -> None:
    run = local(api, "trigger", "my-workflow", "--json")
    ok(run, run.out)
    new_id = json.loads(run.out)["id"]
    assert run.out == f'{{\n    "id": "{new_id}"\n}}\n'
    assert api.state.requests[0].body == b"{}"  # no params, no id: keys left out
    assert api.state.instances["my-workflow"][new_id]["details"]["params"] == {}


def test_trigger_bad_json_is_rejected_before_any_request(api: StandIn) -> None:
    run = local(api, "trigger", "my-workflow", "{bad json")
    error(
        run,
        'Error while parsing instance parameters: "{bad json" with SyntaxError: Expected property name or '
        "'}' in JSON at position 1 (line 1 column 2)' ",
    )
    assert api.state.requests == []


def test_trigger_server_errors(api: StandIn) -> None:
    error(
        local(api, "trigger", "my-workflow", '{"a":3}', "--id", "my-custom-id-1"),
        'Local API error: WorkflowError: (instance.already_exists) Workflow instance with id "my-custom-id-1" '
        "already exists",
    )
    error(
        local(api, "trigger", "my-workflow", "{}", "--id", "bad id!"),
        "Local API error: WorkflowError: Workflow instance has invalid id",
    )


@pytest.mark.parametrize(
    "args",
    [
        ("describe", "no-such-wf"),
        ("delete", "no-such-wf"),
        ("trigger", "no-such-wf", "{}"),
        ("instances", "list", "no-such-wf"),
        ("instances", "describe", "no-such-wf", "some-id"),
    ],
)
def test_unknown_workflow(api: StandIn, args: tuple[str, ...]) -> None:
    # Wrangler's text from the API, then what pyflows adds: the workflows that do exist.
    error(
        local(api, *args),
        "Local API error: Workflow 'no-such-wf' not found. Workflows in this dev session: failing-workflow, "
        f"my-workflow, sleepy-workflow (`pyflows workflows list --local --port {api.port}`).",
    )


# --- connection, foreign servers, remote mode, global options ----------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_no_dev_session_on_the_port() -> None:
    port = _free_port()
    run = pyflows("workflows", "list", "--local", "--port", port)
    message = (
        f"Could not connect to local dev session on port {port}: no `pyflows dev` (or `wrangler dev`) is running "
        f"there. Start one with `pyflows dev --port {port}`, or pass --port with the port your session uses.\n\n"
        "    connection refused"
    )
    error(run, message)
    error(
        pyflows("workflows", "instances", "list", "x", "--local", "--port", port, "--json"),
        message,
        json_=True,
    )


def test_something_else_on_the_port(api: StandIn) -> None:
    api.state.foreign = True
    error(local(api, "list"), "Local API error: HTTP 404")


def remote_env(api: StandIn, **extra: str) -> dict[str, str]:
    return {
        "PYFLOWS_API_BASE_URL": api.remote_base,
        "CLOUDFLARE_API_TOKEN": TOKEN,
        "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
        **extra,
    }


def test_remote_mode_sends_the_token(api: StandIn) -> None:
    run = pyflows("workflows", "list", env=remote_env(api))
    assert run.code == 0, run
    assert run.out == BANNER + WORKFLOWS_TABLE.replace("from local dev session", "from page 1")
    (request,) = api.state.requests
    assert f"{request.method} {request.path}?{request.query}" == (f"GET /client/v4/accounts/{ACCOUNT}/workflows?page=1")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    run = pyflows("workflows", "trigger", "my-workflow", '{"a":1}', "--id", "r-1", env=remote_env(api))
    assert run.out == BANNER + '🚀 Workflow instance "r-1" has been queued successfully\n'
    assert api.state.requests[-1].body == b'{"instance_id":"r-1","params":{"a":1}}'


def test_remote_mode_errors(api: StandIn) -> None:
    error(
        pyflows("workflows", "list", env=remote_env(api, CLOUDFLARE_API_TOKEN="wrong")),
        "API error: Authentication error",
    )
    run = pyflows("workflows", "list", env=remote_env(api, CLOUDFLARE_API_TOKEN=""))
    assert run.code == 1 and run.out == BANNER
    assert run.err.startswith("✘ [ERROR] No Cloudflare API token: without --local, pyflows talks to the Cloudflare API")
    assert "CLOUDFLARE_API_TOKEN" in run.err and "pass --local" in run.err
    run = pyflows("workflows", "list", env=remote_env(api, CLOUDFLARE_ACCOUNT_ID=""))
    assert run.code == 1 and "CLOUDFLARE_ACCOUNT_ID" in run.err and "pass --local" in run.err
    assert len(api.state.requests) == 1  # only the wrong-token call reached the server


def test_remote_mode_reads_account_id_from_the_selected_config(api: StandIn, tmp_path: Path) -> None:
    # Wrangler's order: CLOUDFLARE_ACCOUNT_ID, else account_id of the config --cwd/--config/--env select.
    (tmp_path / "wrangler.jsonc").write_text(
        '{"account_id": "acc-top", // comment\n "env": {"staging": {"account_id": "acc-stg"}}}'
    )
    (tmp_path / "other.toml").write_text('account_id = "acc-toml"\n')
    no_var = remote_env(api, CLOUDFLARE_ACCOUNT_ID="")
    for flags, account in (
        ([], "acc-top"),
        (["-e", "staging"], "acc-stg"),
        (["--config", "other.toml"], "acc-toml"),
    ):
        run = pyflows("workflows", "list", "--cwd", str(tmp_path), *flags, env=no_var)
        assert "No Cloudflare account id" not in run.err, run  # (the stand-in knows only its own account)
        assert api.state.requests[-1].path == f"/client/v4/accounts/{account}/workflows", flags
    run = pyflows("workflows", "list", "--cwd", str(tmp_path), env=remote_env(api))
    assert api.state.requests[-1].path == f"/client/v4/accounts/{ACCOUNT}/workflows"  # the variable wins
    run = pyflows("workflows", "list", "--cwd", str(tmp_path), "--config", "nope.jsonc", env=no_var)
    assert run.code == 1 and "No Cloudflare account id" in run.err, run


def test_global_options_after_the_subcommand(api: StandIn, tmp_path: Path) -> None:
    ok(
        local(api, "list", "--cwd", str(tmp_path), "-c", "wrangler.jsonc", "-e", "staging"),
        BANNER + WORKFLOWS_TABLE,
    )
    missing = tmp_path / "missing"
    error(
        local(api, "list", "--cwd", str(missing)),
        f"--cwd {missing}: no such directory. Pass an existing project directory.",
    )


def test_hide_banner(api: StandIn) -> None:
    ok(local(api, "list", env={"PYFLOWS_HIDE_BANNER": "1"}), WORKFLOWS_TABLE)


def test_colour_only_when_asked(api: StandIn) -> None:
    run = local(api, "list", env={"FORCE_COLOR": "1", "NO_COLOR": ""})
    assert "\x1b[" in run.out
    assert re.sub(r"\x1b\[[0-9;]*m", "", run.out) == BANNER + WORKFLOWS_TABLE


# --- start-up: what a command imports ----------------------------------------------------------

HEAVY = ("starlette", "uvicorn", "aiosqlite", "httpx", "pydantic_settings", "watchfiles", "jsonschema")
SERVER_SIDE = ("pyflows.runtime.server.app", "pyflows.runtime.server.explorer.routes", "pyflows.runtime.workflows.engine",
               "pyflows.runtime.storage.store", "pyflows.runtime.dev.child", "pyflows.runtime.dev.supervisor")  # fmt: skip


def test_imports_of_instances_list_local(api: StandIn) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pyflows", "workflows", "instances", "list", "my-workflow",
         "--local", "--port", str(api.port)],
        capture_output=True, text=True, encoding="utf-8", env=ENV, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "pyflows.client.management" in imported
    leaked = sorted(m for m in imported if m.split(".")[0] in HEAVY or m in SERVER_SIDE)
    assert leaked == [], f"a management command imported {leaked}"
