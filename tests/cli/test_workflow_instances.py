# ruff: noqa: E501  (expected outputs are Wrangler's lines, verbatim)
"""`pyflows workflows instances ...` as subprocesses against the stand-in API (tests/cli/standin.py).

Expected outputs are Wrangler 4.164's recorded output with pyflows' banner
and its documented additions (the instance's `Output:`, `Retries At`/`Wakes At` from the server).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from standin import StandIn
from workflows_cli import BANNER, error, local, ok, requests_to

# --- instances list ---------------------------------------------------------------------------

ROWS = {
    "pr-1": "│ pr-1                                 │ 11/21/2026, 12:31:42 PM │ 🚫 Terminated │",
    "ea": "│ ea2921da-82be-452c-b2fc-721e8c0d49d3 │ 11/21/2026, 12:31:26 PM │ ▶ Running     │",
    "mc": "│ my-custom-id-1                       │ 11/21/2026, 12:31:25 PM │ ✅ Completed  │",
    "e6": "│ e6e597f3-ee98-4a36-8355-c9df6e5ee345 │ 11/21/2026, 12:31:24 PM │ ▶ Running     │",
}
TOP = "┌──────────────────────────────────────┬─────────────────────────┬───────────────┐"
HEAD = "│ Instance ID                          │ Created                 │ Status        │"
RULE = "├──────────────────────────────────────┼─────────────────────────┼───────────────┤"
BOTTOM = "└──────────────────────────────────────┴─────────────────────────┴───────────────┘"


def instances_table(*keys: str) -> str:
    body = f"\n{RULE}\n".join(ROWS[key] for key in keys)
    return f"{TOP}\n{HEAD}\n{RULE}\n{body}\n{BOTTOM}\n"


def test_instances_list_newest_first(api: StandIn) -> None:
    run = local(api, "instances", "list", "my-workflow")
    ok(run, BANNER + "Showing 4 instances from page 1:\n" + instances_table("pr-1", "ea", "mc", "e6"))
    assert requests_to(api) == ["GET /cdn-cgi/local/explorer/api/workflows/my-workflow/instances?page=1"]


def test_instances_list_reverse(api: StandIn) -> None:
    run = local(api, "instances", "list", "my-workflow", "--reverse")
    ok(run, BANNER + "Showing 4 instances from page 1:\n" + instances_table("e6", "mc", "ea", "pr-1"))


def test_instances_list_pages(api: StandIn) -> None:
    run = local(api, "instances", "list", "my-workflow", "--per-page", "2")
    ok(run, BANNER + "Showing 2 instances from page 1:\n" + instances_table("pr-1", "ea"))
    run = local(api, "instances", "list", "my-workflow", "--per-page", "2", "--page", "2")
    assert run.out.startswith(BANNER + "Showing 2 instances from page 2:\n")
    assert "│ my-custom-id-1  " in run.out and "│ e6e597f3-ee98-4a36-8355-c9df6e5ee345 │" in run.out
    assert "pr-1" not in run.out
    run = local(api, "instances", "list", "my-workflow", "--per-page", "2", "--page", "99")
    assert (run.code, run.out) == (0, BANNER)
    assert run.err == "▲ [WARNING] No instances found on page 99. Please try a smaller page number.\n\n"
    assert requests_to(api)[-1].endswith("/instances?per_page=2&page=99")


def test_instances_list_per_page_too_big_is_the_servers_call(api: StandIn) -> None:
    error(
        local(api, "instances", "list", "my-workflow", "--per-page", "200"),
        "Local API error: per_page: Too big: expected number to be <=100",
    )


def test_instances_list_filters(api: StandIn) -> None:
    run = local(api, "instances", "list", "my-workflow", "--status", "terminated")
    ok(run, BANNER + "Showing 1 instance from page 1:\n" + _one_row_table())
    run = local(api, "instances", "list", "my-workflow", "--status", "errored")
    assert (run.code, run.out) == (0, BANNER)
    assert run.err == '▲ [WARNING] No instances in workflow "my-workflow" matched the provided filters.\n\n'
    run = local(api, "instances", "list", "my-workflow", "--date-start", "2020-01-01", "--date-end", "2999-12-31")
    ok(run, BANNER + "Showing 4 instances from page 1:\n" + instances_table("pr-1", "ea", "mc", "e6"))
    run = local(
        api, "instances", "list", "my-workflow", "--status", "running", "--date-start", "2026-11-21T12:31:25Z",
        "--date-end", "2026-11-21", "--per-page", "5",
    )  # fmt: skip
    assert run.code == 0 and "│ ea2921da-82be-452c-b2fc-721e8c0d49d3 │" in run.out and "e6e597f3" not in run.out
    # Wrangler's order and format: status, date_start, date_end (whole UTC day), per_page, page.
    assert requests_to(api)[-1].split("?")[1] == (
        "status=running&date_start=2026-11-21T12%3A31%3A25.000Z&date_end=2026-11-21T23%3A59%3A59.999Z&per_page=5&page=1"
    )


def _one_row_table() -> str:
    return (
        "┌─────────────┬─────────────────────────┬───────────────┐\n"
        "│ Instance ID │ Created                 │ Status        │\n"
        "├─────────────┼─────────────────────────┼───────────────┤\n"
        "│ pr-1        │ 11/21/2026, 12:31:42 PM │ 🚫 Terminated │\n"
        "└─────────────┴─────────────────────────┴───────────────┘\n"
    )


def test_instances_list_json_is_the_sorted_result(api: StandIn) -> None:
    run = local(api, "instances", "list", "my-workflow", "--json", "--per-page", "2")
    ok(run, run.out)
    assert json.loads(run.out) == [
        {"id": "pr-1", "status": "terminated", "created_on": "2026-11-21T12:31:42.120Z"},
        {
            "id": "ea2921da-82be-452c-b2fc-721e8c0d49d3",
            "status": "running",
            "created_on": "2026-11-21T12:31:26.002Z",
        },
    ]


def test_instances_list_empty_suggests_trigger(api: StandIn) -> None:
    api.state.instances["my-workflow"].clear()
    run = local(api, "instances", "list", "my-workflow")
    assert (run.code, run.out) == (0, BANNER)
    assert run.err == (
        '▲ [WARNING] There are no instances in workflow "my-workflow". You can trigger it with '
        f'"pyflows workflows trigger my-workflow --local --port {api.port}"\n\n'
    )
    run = local(api, "instances", "list", "my-workflow", "--json")
    ok(run, "[]\n")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ("--status", "bogus"),
            'Looks like you have provided a invalid status "bogus". Valid statuses are: queued, running, '
            "paused, errored, terminated, complete, waiting, waitingForPause",
        ),
        (
            ("--date-start", "2026-02-30"),
            'The date "2026-02-30" provided for --date-start is not a real calendar date. Check the month and day.',
        ),
        (
            ("--date-end", "yesterday"),
            'Looks like you have provided an invalid date "yesterday" for --date-end. Provide an ISO 8601 date '
            "or timestamp, for example 2026-01-01 or 2026-01-01T13:00:00Z.",
        ),
        (
            ("--date-start", "2026-03-02", "--date-end", "2026-03-01"),
            "--date-start (2026-03-02T00:00:00.000Z) must not be after --date-end (2026-03-01T23:59:59.999Z). "
            "Update --date-start or --date-end so --date-start is before or equal to --date-end.",
        ),
    ],
)
def test_instances_list_client_side_errors(api: StandIn, flags: tuple[str, ...], message: str) -> None:
    error(local(api, "instances", "list", "my-workflow", *flags), message)
    assert api.state.requests == []


# --- instances describe -----------------------------------------------------------------------

CUSTOM_ID_1_STEPS = """\

  Name:      first step-1
  Type:      🎯 Step
  Start:     11/21/2026, 12:31:25 PM
  End:       11/21/2026, 12:31:25 PM
  Duration:  0 seconds
  Success:   ✅ Yes
  Output:    {"greeting[...output truncated]
┌─────────────────────────┬─────────────────────────┬───────────┬────────────┐
│ Start                   │ End                     │ Duration  │ State      │
├─────────────────────────┼─────────────────────────┼───────────┼────────────┤
│ 11/21/2026, 12:31:25 PM │ 11/21/2026, 12:31:25 PM │ 0 seconds │ ✅ Success │
└─────────────────────────┴─────────────────────────┴───────────┴────────────┘

  Name:      flaky step-1
  Type:      🎯 Step
  Start:     11/21/2026, 12:31:25 PM
  End:       11/21/2026, 12:31:27 PM
  Duration:  2 seconds
  Success:   ✅ Yes
  Output:    {"succeede[...output truncated]
┌─────────────────────────┬─────────────────────────┬───────────┬────────────┬───────────────────────────────────┐
│ Start                   │ End                     │ Duration  │ State      │ Error                             │
├─────────────────────────┼─────────────────────────┼───────────┼────────────┼───────────────────────────────────┤
│ 11/21/2026, 12:31:25 PM │ 11/21/2026, 12:31:25 PM │ 0 seconds │ ❌ Error   │ Error: flaky failure on attempt 1 │
├─────────────────────────┼─────────────────────────┼───────────┼────────────┼───────────────────────────────────┤
│ 11/21/2026, 12:31:26 PM │ 11/21/2026, 12:31:26 PM │ 0 seconds │ ❌ Error   │ Error: flaky failure on attempt 2 │
├─────────────────────────┼─────────────────────────┼───────────┼────────────┼───────────────────────────────────┤
│ 11/21/2026, 12:31:27 PM │ 11/21/2026, 12:31:27 PM │ 0 seconds │ ✅ Success │                                   │
└─────────────────────────┴─────────────────────────┴───────────┴────────────┴───────────────────────────────────┘

  Name:      nap-1
  Type:      💤 Sleeping
  Start:     11/21/2026, 12:31:27 PM
  End:       11/21/2026, 12:31:29 PM
  Duration:  2 seconds

  Name:      approval-1
  Type:      👀 Waiting for event
  Start:     11/21/2026, 12:31:29 PM
  End:       11/21/2026, 12:31:37 PM
  Duration:  8 seconds
  Output:    {"type":"a[...output truncated]
"""

CUSTOM_ID_1_HEAD = """\
Describing latest instance:
Workflow Name:         my-workflow
Instance Id:           my-custom-id-1
Status:                ✅ Completed
Queued:                11/21/2026, 12:31:25 PM
Start:                 11/21/2026, 12:31:25 PM
End:                   11/21/2026, 12:31:37 PM
Duration:              12 seconds
Last Successful Step:  nap-1
"""


def test_describe_instance_truncated(api: StandIn) -> None:
    run = local(api, "instances", "describe", "my-workflow", "my-custom-id-1", "--truncate-output-limit", "10")
    # Wrangler's output, plus the instance's own Output (truncated by the same limit).
    ok(
        run,
        BANNER
        + CUSTOM_ID_1_HEAD
        + 'Output:                {"first":{[...output truncated]\nSteps:\n'
        + CUSTOM_ID_1_STEPS,
    )


@pytest.mark.parametrize("flag", [("--step-output", "false"), ("--no-step-output",), ("--step-output=false",)])
def test_describe_instance_without_step_output(api: StandIn, flag: tuple[str, ...]) -> None:
    run = local(api, "instances", "describe", "my-workflow", "my-custom-id-1", *flag)
    assert run.code == 0, run
    steps = re.sub(r"  Output: .*\n", "", CUSTOM_ID_1_STEPS)
    output = '{"first":{"greeting":"hello","params":{"a":2},"n":42},"flaky":{"succeededOnAttempt":3},'
    output += '"approval":{"ok":true},"done":true}'
    assert run.out == BANNER + CUSTOM_ID_1_HEAD + f"Output:                {output}\nSteps:\n" + steps


def test_describe_errored_instance(api: StandIn) -> None:
    ok(
        local(api, "instances", "describe", "failing-workflow", "fail-1"),
        BANNER
        + """\
Describing latest instance:
Workflow Name:         failing-workflow
Instance Id:           fail-1
Status:                ❌ Errored
Queued:                11/21/2026, 12:32:08 PM
Start:                 11/21/2026, 12:32:08 PM
End:                   11/21/2026, 12:32:08 PM
Duration:              0 seconds
Last Successful Step:  ok step-1
Error:                 WorkflowFatalError: The execution of the Workflow instance was terminated, as a step threw an NonRetryableError and it was not handled
Steps:

  Name:      ok step-1
  Type:      🎯 Step
  Start:     11/21/2026, 12:32:08 PM
  End:       11/21/2026, 12:32:08 PM
  Duration:  0 seconds
  Success:   ✅ Yes
  Output:    "fine"
┌─────────────────────────┬─────────────────────────┬───────────┬────────────┐
│ Start                   │ End                     │ Duration  │ State      │
├─────────────────────────┼─────────────────────────┼───────────┼────────────┤
│ 11/21/2026, 12:32:08 PM │ 11/21/2026, 12:32:08 PM │ 0 seconds │ ✅ Success │
└─────────────────────────┴─────────────────────────┴───────────┴────────────┘

  Name:      fatal step-1
  Type:      🎯 Step
  Start:     11/21/2026, 12:32:08 PM
  End:       11/21/2026, 12:32:08 PM
  Duration:  0 seconds
  Success:   ❌ No
┌─────────────────────────┬─────────────────────────┬───────────┬──────────┬────────────────────────────────────────────────────────────────────────────────────────────────────┐
│ Start                   │ End                     │ Duration  │ State    │ Error                                                                                              │
├─────────────────────────┼─────────────────────────┼───────────┼──────────┼────────────────────────────────────────────────────────────────────────────────────────────────────┤
│ 11/21/2026, 12:32:08 PM │ 11/21/2026, 12:32:08 PM │ 0 seconds │ ❌ Error │ WorkflowFatalError: Step threw a NonRetryableError with message "NonRetryableError: this is fatal" │
└─────────────────────────┴─────────────────────────┴───────────┴──────────┴────────────────────────────────────────────────────────────────────────────────────────────────────┘
""",  # noqa: E501
    )


def test_describe_json_has_the_id_first_and_is_never_truncated(api: StandIn) -> None:
    run = local(api, "instances", "describe", "failing-workflow", "fail-1", "--json", "--truncate-output-limit", "1")
    ok(run, run.out)
    assert run.out.startswith('{\n    "id": "fail-1",\n    "status": "errored",\n    "params": {\n        "x": 1\n')
    data = json.loads(run.out)
    assert list(data) == [
        "id",
        "status",
        "params",
        "queued",
        "start",
        "end",
        "output",
        "error",
        "steps",
        "step_count",
    ]
    assert data["steps"][0]["output"] == "fine"


def test_describe_latest(api: StandIn) -> None:
    run = local(api, "instances", "describe", "my-workflow")  # ID defaults to latest
    assert (run.code, run.err) == (0, ""), run
    assert run.out.startswith(BANNER + 'Latest instance is "pr-1"\nDescribing latest instance:\n')
    assert "Status:                🚫 Terminated\n" in run.out
    # `latest` = the newest by created_on, from an unfiltered list request.
    assert requests_to(api) == [
        "GET /cdn-cgi/local/explorer/api/workflows/my-workflow/instances",
        "GET /cdn-cgi/local/explorer/api/workflows/my-workflow/instances/pr-1",
    ]
    run = local(api, "instances", "describe", "my-workflow", "latest", "--json")
    ok(run, run.out)
    assert json.loads(run.out)["id"] == "pr-1"  # no "Latest instance is" line in JSON mode


def test_describe_running_instance_shows_time_so_far(api: StandIn) -> None:
    run = local(api, "instances", "describe", "my-workflow", "ea2921da-82be-452c-b2fc-721e8c0d49d3")
    assert run.code == 0
    assert "Status:                ▶ Running\n" in run.out
    assert re.search(r"\nDuration:              \d+ (minute|hour|day|month|year)s?\n", run.out)  # start → now
    assert "  Name:      approval-1\n  Type:      👀 Waiting for event\n" in run.out
    assert run.out.endswith("  Output:    null\n")


def test_describe_retry_and_sleep_times(api: StandIn) -> None:
    run = local(api, "instances", "describe", "sleepy-workflow", "retrier-1")
    assert run.code == 0, run
    assert "Status:         ⏰ Waiting\n" in run.out
    assert "  Success:     ▶ Running\n" in run.out
    assert re.search(r"  Retries At:  \d+/\d+/\d{4}, \d+:\d\d:\d\d [AP]M \(in 2 hours from now\)\n", run.out)
    # Without the server's retry_at (as from `wrangler dev`): last attempt's end + config delay.
    run = local(api, "instances", "describe", "sleepy-workflow", "retrier-2")
    assert re.search(r"  Retries At:  .* \(in 3 hours from now\)\n", run.out), run.out
    run = local(api, "instances", "describe", "sleepy-workflow", "sleeper-1")
    assert re.search(r"  Wakes At:  .* \(in 2 hours from now\)\n", run.out), run.out


def test_describe_unknown_instance(api: StandIn) -> None:
    error(
        local(api, "instances", "describe", "my-workflow", "no-such-instance"),
        "Local API error: Workflow instance 'no-such-instance' not found. List its instances with "
        f"`pyflows workflows instances list my-workflow --local --port {api.port}`.",
    )


def test_dates_are_local_time(api: StandIn) -> None:
    run = local(api, "instances", "list", "my-workflow", env={"TZ": "America/New_York"})
    assert "│ pr-1                                 │ 11/21/2026, 7:31:42 AM │ 🚫 Terminated │" in run.out


# --- send-event, pause, resume, terminate, restart, delete -------------------------------------


def test_send_event(api: StandIn) -> None:
    ok(
        local(api, "instances", "send-event", "my-workflow", "ea2921da-82be-452c-b2fc-721e8c0d49d3",
              "--type", "approve", "--payload", '{"ok":true}'),
        BANNER + '📤 The event with type "approve" and payload "{"ok":true}" was sent to the instance '
        '"ea2921da-82be-452c-b2fc-721e8c0d49d3" from my-workflow\n',
    )  # fmt: skip
    check, request = api.state.requests  # the status is checked first: see the next tests
    assert check.method == "GET" and check.path.endswith("/instances/ea2921da-82be-452c-b2fc-721e8c0d49d3")
    assert request.path.endswith("/instances/ea2921da-82be-452c-b2fc-721e8c0d49d3/events/approve")
    assert request.body == b'{"ok":true}'


def test_send_event_default_payload_and_json(api: StandIn) -> None:
    running = "ea2921da-82be-452c-b2fc-721e8c0d49d3"
    ok(
        local(api, "instances", "send-event", "my-workflow", running, "--type", "needs space"),
        BANNER + f'📤 The event with type "needs space" was sent to the instance "{running}" from my-workflow\n',
    )
    assert api.state.requests[-1].path.endswith(f"/instances/{running}/events/needs%20space")
    assert api.state.requests[-1].body == b"{}"
    ok(
        local(api, "instances", "send-event", "my-workflow", running, "--type", "x", "--json"),
        '{\n    "success": true\n}\n',
    )


def test_send_event_to_a_finished_instance_is_an_error_not_a_silent_drop(api: StandIn) -> None:
    # Wrangler's API accepts and drops it (and so does ours, for the wrangler CLI); our CLI says so.
    error(
        local(api, "instances", "send-event", "my-workflow", "pr-1", "--type", "approve"),
        'Cannot send the event "approve" to the instance "pr-1" from my-workflow: it is already terminated, '
        "and events are accepted only while an instance can still run.",
    )
    assert not any(r.method == "POST" for r in api.state.requests)


def test_send_event_errors(api: StandIn) -> None:
    error(
        local(api, "instances", "send-event", "my-workflow", "pr-1", "--type", "approve", "--payload", "{bad"),
        "Error while parsing event payload: \"{bad\" with SyntaxError: Expected property name or '}' in JSON at "
        "position 1 (line 1 column 2)' ",
    )
    assert api.state.requests == []
    error(
        local(api, "instances", "send-event", "my-workflow", "no-such-instance", "--type", "approve"),
        "Local API error: Workflow instance 'no-such-instance' not found. List its instances with "
        f"`pyflows workflows instances list my-workflow --local --port {api.port}`.",
    )


@pytest.mark.parametrize(
    ("action", "line", "after"),
    [
        ("pause", '⏸️ The instance "{id}" from my-workflow was paused successfully', "paused"),
        ("terminate", '🥷 The instance "{id}" from my-workflow was terminated successfully', "terminated"),
        ("restart", '🥷 The instance "{id}" from my-workflow was restarted successfully', "queued"),
    ],
)
def test_status_changes(api: StandIn, action: str, line: str, after: str) -> None:
    iid = "ea2921da-82be-452c-b2fc-721e8c0d49d3"
    ok(local(api, "instances", action, "my-workflow", iid), BANNER + line.format(id=iid) + "\n")
    assert api.state.requests[-1].json() == {"status": action}
    assert api.state.instances["my-workflow"][iid]["details"]["status"] == after


def test_resume_json(api: StandIn) -> None:
    local(api, "instances", "pause", "my-workflow", "e6e597f3-ee98-4a36-8355-c9df6e5ee345")
    run = local(api, "instances", "resume", "my-workflow", "e6e597f3-ee98-4a36-8355-c9df6e5ee345", "--json")
    ok(run, run.out)
    assert json.loads(run.out)["status"] == "running"
    assert re.fullmatch(r'\{\n    "status": "running",\n    "timestamp": "[^"]+"\n\}\n', run.out)


def test_terminate_finished_instance_and_rollback(api: StandIn) -> None:
    error(
        local(api, "instances", "terminate", "my-workflow", "pr-1"),
        "Local API error: WorkflowError: (instance.cannot_terminate) Cannot terminate instance since its on a "
        "finite state",
    )
    local(api, "instances", "terminate", "my-workflow", "e6e597f3-ee98-4a36-8355-c9df6e5ee345", "--rollback")
    assert api.state.requests[-1].json() == {"status": "terminate", "rollback": True}


def test_restart_from_step(api: StandIn) -> None:
    error(
        local(api, "instances", "restart", "my-workflow", "my-custom-id-1", "--from-step-name", "nap"),
        'Local API error: WorkflowError: (instance.cannot_restart) Step "nap" not found in execution history',
    )
    assert api.state.requests[-1].json() == {"status": "restart", "from": {"name": "nap"}}
    ok(
        local(api, "instances", "restart", "my-workflow", "my-custom-id-1", "--from-step-name", "nap",
              "--from-step-type", "sleep"),
        BANNER + '🥷 The instance "my-custom-id-1" from my-workflow was restarted successfully\n',
    )  # fmt: skip
    assert api.state.requests[-1].json() == {"status": "restart", "from": {"name": "nap", "type": "sleep"}}
    local(
        api,
        "instances",
        "restart",
        "my-workflow",
        "pr-1",
        "--from-step-name",
        "flaky step",
        "--from-step-count",
        "1",
    )
    assert api.state.requests[-1].json() == {"status": "restart", "from": {"name": "flaky step", "count": 1}}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ("--from-step-count", "2"),
            "--from-step-name is required when using --from-step-count or --from-step-type",
        ),
        (
            ("--from-step-type", "sleep"),
            "--from-step-name is required when using --from-step-count or --from-step-type",
        ),
        (
            ("--from-step-name", "nap", "--from-step-type", "nap"),
            '--from-step-type "nap" is not valid: use one of do, sleep, waitForEvent (do for step.do, the default).',
        ),
    ],
)
def test_restart_flag_errors(api: StandIn, flags: tuple[str, ...], message: str) -> None:
    error(local(api, "instances", "restart", "my-workflow", "my-custom-id-1", *flags), message)
    assert api.state.requests == []


def test_pause_unknown_instance(api: StandIn) -> None:
    error(
        local(api, "instances", "pause", "my-workflow", "no-such-instance"),
        "Local API error: Workflow instance 'no-such-instance' not found. List its instances with "
        f"`pyflows workflows instances list my-workflow --local --port {api.port}`.",
    )


def test_delete_instances_partial_failure(api: StandIn) -> None:
    run = local(api, "instances", "delete", "my-workflow", "pr-1", "no-such-instance")
    assert run.code == 1
    assert run.out == BANNER + '🗑️  Deleted workflow instances from "my-workflow": "pr-1"\n'
    assert run.err == (
        "✘ [ERROR] Failed to delete 1 workflow instance(s):\n\n"
        "    - no-such-instance: workflows.api.error.instance.not_found\n\n"
    )
    assert api.state.requests[-1].json() == {"instances": ["pr-1", "no-such-instance"]}


def test_delete_latest_json_and_file(api: StandIn, tmp_path: Path) -> None:
    ok(
        local(api, "instances", "delete", "my-workflow", "latest", "--json"),
        '{\n    "deleted": [\n        {\n            "id": "pr-1"\n        }\n    ],\n    "errors": []\n}\n',
    )
    ids = tmp_path / "ids.json"
    ids.write_text('["e6e597f3-ee98-4a36-8355-c9df6e5ee345"]')
    run = local(api, "instances", "delete", "my-workflow", "my-custom-id-1", "--filename", str(ids))
    ok(
        run,
        BANNER + '🗑️  Deleted workflow instances from "my-workflow": "my-custom-id-1", '
        '"e6e597f3-ee98-4a36-8355-c9df6e5ee345"\n',
    )


def test_delete_instances_client_side_errors(api: StandIn, tmp_path: Path) -> None:
    error(local(api, "instances", "delete", "my-workflow"), "Provide at least one workflow instance ID")
    error(
        local(api, "instances", "delete", "my-workflow", *[f"id-{n}" for n in range(101)]),
        "You can delete at most 100 workflow instances at a time (got 101): split the ids into several commands.",
    )
    bad = tmp_path / "ids.json"
    bad.write_text('{"id": "x"}')
    error(
        local(api, "instances", "delete", "my-workflow", "--filename", str(bad)),
        f'Unexpected JSON input from "{bad}". Expected an array of strings.',
    )
    assert api.state.requests == []
