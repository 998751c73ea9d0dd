# ruff: noqa: E501  (expected outputs are Wrangler's lines, verbatim)
"""`pyflows workflows ... --local` against a real `pyflows dev` on a free port.

One project with the two workflows of Wrangler's recorded transcript: a
`my-workflow` with a step, an optional flaky step (retries every second), a 1-second sleep and a
wait for an `approve` event, and a `failing-workflow` whose second step raises NonRetryableError.
Each command runs as a subprocess; stdout, stderr and exit codes are checked. Real timers, so slow.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyflows import __version__
from pyflows.cli.render import banner_text
from pyflows.testing.devserver import DevServer

pytestmark = pytest.mark.slow

BANNER = banner_text(__version__)
FINAL = {"complete", "errored", "terminated"}
ENV = {  # for the CLI subprocesses: no Cloudflare credentials, fixed time zone
    **{k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "PYFLOWS_", "FORCE_COLOR"))},
    "TZ": "UTC",
    "NO_COLOR": "1",
    "PYTHONUNBUFFERED": "1",
}

WRANGLER_JSONC = """{
  "name": "wf-peer",
  "main": "src/entry.py",
  "compatibility_date": "2026-11-01",
  "compatibility_flags": ["python_workers"],
  "workflows": [
    {"name": "my-workflow", "binding": "MY_WORKFLOW", "class_name": "MyWorkflow"},
    {"name": "failing-workflow", "binding": "FAILING_WORKFLOW", "class_name": "FailingWorkflow"}
  ]
}
"""

ENTRY_PY = """
from workers import Response, WorkerEntrypoint, WorkflowEntrypoint
from workers.workflows import NonRetryableError


class MyWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("first step")
        async def first():
            return {"greeting": "hello", "params": event["payload"], "n": 42}

        first_out = await first()
        flaky_out = None
        if event["payload"].get("flaky"):

            @step.do("flaky step", config={"retries": {"limit": 5, "delay": "1 second", "backoff": "constant"},
                                           "timeout": "30 seconds"})
            async def flaky(ctx):
                if ctx["attempt"] < 3:
                    raise Exception(f"flaky failure on attempt {ctx['attempt']}")
                return {"succeededOnAttempt": ctx["attempt"]}

            flaky_out = await flaky()
        await step.sleep("nap", "1 second")
        approval = await step.wait_for_event("approval", "approve", timeout="1 hour")
        return {"first": first_out, "flaky": flaky_out, "approval": approval["payload"], "done": True}


class FailingWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("ok step")
        async def ok():
            return "fine"

        await ok()

        @step.do("fatal step")
        async def fatal():
            raise NonRetryableError("this is fatal")

        await fatal()


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("ok")
"""


class Dev(DevServer):
    """`pyflows dev` for the CLI tests, with the CLI as a subprocess against it."""

    def __init__(self, project: Path) -> None:
        super().__init__(project)
        self.ready()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run_cli(*args)

    def ok(self, *args: str) -> str:
        done = self.cli(*args)
        assert (done.returncode, done.stderr) == (0, ""), (args, done, self.output()[-3000:])
        return done.stdout

    def data(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def wait_for(self, workflow: str, instance_id: str, done: Any, timeout: float = 30) -> dict[str, Any]:
        """Poll `instances describe --json` until `done(details)` holds."""
        deadline = time.monotonic() + timeout
        while True:
            details = self.data("instances", "describe", workflow, instance_id)
            if done(details):
                return details
            assert details["status"] not in FINAL, ("ended before expected", details, self.output()[-3000:])
            assert time.monotonic() < deadline, (instance_id, details, self.output()[-3000:])
            time.sleep(0.1)


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    project = tmp_path_factory.mktemp("cli-e2e")
    (project / "wrangler.jsonc").write_text(WRANGLER_JSONC)
    (project / "src").mkdir()
    (project / "src" / "entry.py").write_text(ENTRY_PY)
    server = Dev(project)
    try:
        yield server
    finally:
        server.stop()


def waiting_for_approval(details: dict[str, Any]) -> bool:
    return any(step["name"] == "approval-1" for step in details["steps"]) and details["status"] == "waiting"


def error_of(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done
    assert done.stdout == BANNER
    assert done.stderr.startswith("✘ [ERROR] ") and done.stderr.endswith("\n\n"), done.stderr
    return done.stderr[len("✘ [ERROR] ") : -2]


def test_list_and_describe_workflows(dev: Dev) -> None:
    assert dev.ok("list") == BANNER + (
        "Showing 2 workflows from local dev session:\n"
        "┌──────────────────┬─────────────┬─────────────────┐\n"
        "│ Name             │ Script name │ Class name      │\n"
        "├──────────────────┼─────────────┼─────────────────┤\n"
        "│ my-workflow      │ wf-peer     │ MyWorkflow      │\n"
        "├──────────────────┼─────────────┼─────────────────┤\n"
        "│ failing-workflow │ wf-peer     │ FailingWorkflow │\n"
        "└──────────────────┴─────────────┴─────────────────┘\n"
    )
    assert dev.data("list") == [
        {"name": "my-workflow", "class_name": "MyWorkflow", "script_name": "wf-peer"},
        {"name": "failing-workflow", "class_name": "FailingWorkflow", "script_name": "wf-peer"},
    ]
    described = dev.ok("describe", "my-workflow")
    assert described.startswith(
        BANNER + "Name:         my-workflow\nScript Name:  wf-peer\nClass Name:   MyWorkflow\nInstance Status Counts:\n"
    )
    assert "  waiting:          " in described
    assert error_of(dev.cli("describe", "no-such-wf")) == (
        "Local API error: Workflow 'no-such-wf' not found. Workflows in this dev session: failing-workflow, "
        f"my-workflow (`pyflows workflows list --local --port {dev.port}`)."
    )


def test_trigger_wait_for_event_and_complete(dev: Dev) -> None:
    assert dev.ok("trigger", "my-workflow", '{"a":2}', "--id", "my-custom-id-1") == (
        BANNER + '🚀 Workflow instance "my-custom-id-1" has been triggered successfully\n'
    )
    duplicate = error_of(dev.cli("trigger", "my-workflow", '{"a":3}', "--id", "my-custom-id-1"))
    assert duplicate.startswith(
        'Local API error: WorkflowError: (instance.already_exists) Workflow instance with id "my-custom-id-1" '
        "already exists"
    )
    assert error_of(dev.cli("trigger", "my-workflow", "{bad json")).startswith(
        'Error while parsing instance parameters: "{bad json" with SyntaxError: Expected property name'
    )
    dev.wait_for("my-workflow", "my-custom-id-1", waiting_for_approval)
    described = dev.ok("instances", "describe", "my-workflow", "my-custom-id-1")
    assert "Status:                ⏰ Waiting\n" in described
    assert "Last Successful Step:  nap-1\n" in described
    # pyflows adds when the wait gives up (its `wake_at`), which widens the labels of that step.
    assert re.search(r"  Name: +approval-1\n  Type: +👀 Waiting for event\n", described), described
    assert re.search(r"  Times Out At:  .* \(in (59|60) minutes from now\)\n", described), described
    listed = dev.ok("instances", "list", "my-workflow", "--status", "waiting")
    assert listed.startswith(BANNER + "Showing 1 instance from page 1:\n") and "│ my-custom-id-1 │" in listed

    sent = dev.ok(
        "instances",
        "send-event",
        "my-workflow",
        "my-custom-id-1",
        "--type",
        "approve",
        "--payload",
        '{"ok":true}',
    )
    assert sent == BANNER + (
        '📤 The event with type "approve" and payload "{"ok":true}" was sent to the instance "my-custom-id-1" '
        "from my-workflow\n"
    )
    details = dev.wait_for("my-workflow", "my-custom-id-1", lambda d: d["status"] == "complete")
    assert details["output"] == {
        "first": {"greeting": "hello", "params": {"a": 2}, "n": 42},
        "flaky": None,
        "approval": {"ok": True},
        "done": True,
    }
    assert [step["name"] for step in details["steps"]] == ["first step-1", "nap-1", "approval-1"]
    truncated = dev.ok("instances", "describe", "my-workflow", "my-custom-id-1", "--truncate-output-limit", "10")
    assert "Status:                ✅ Completed\n" in truncated
    assert 'Output:                {"first":{[...output truncated]\n' in truncated
    assert '  Output:    {"type":"a[...output truncated]\n' in truncated


def test_retries_show_attempts_and_retry_time(dev: Dev) -> None:
    dev.ok("trigger", "my-workflow", '{"flaky": true}', "--id", "flaky-1")
    dev.wait_for("my-workflow", "flaky-1", lambda d: len(d["steps"]) > 1 and len(d["steps"][1]["attempts"]) == 1
                 and d["steps"][1]["attempts"][0]["success"] is False)  # fmt: skip
    retrying = dev.ok("instances", "describe", "my-workflow", "flaky-1")
    assert "  Success:     ▶ Running\n" in retrying
    assert re.search(r"  Retries At:  \d+/\d+/\d{4}, .* \((in \d+ seconds? from now|\d+ seconds? ago)\)\n", retrying)
    assert "│ Exception: flaky failure on attempt 1 │" in retrying or "flaky failure on attempt 1" in retrying
    details = dev.wait_for("my-workflow", "flaky-1", waiting_for_approval)
    assert details["steps"][1]["output"] == {"succeededOnAttempt": 3}
    described = dev.ok("instances", "describe", "my-workflow", "flaky-1", "--step-output", "false")
    assert described.count("❌ Error") == 2 and "✅ Success" in described and "  Output:" not in described


def test_pause_resume_terminate_restart(dev: Dev) -> None:
    dev.ok("trigger", "my-workflow", '{"p":1}', "--id", "pr-1")
    dev.wait_for("my-workflow", "pr-1", waiting_for_approval)
    assert dev.ok("instances", "pause", "my-workflow", "pr-1") == (
        BANNER + '⏸️ The instance "pr-1" from my-workflow was paused successfully\n'
    )
    paused = dev.ok("instances", "list", "my-workflow", "--status", "paused")
    assert "│ pr-1        │" in paused and "⏸️ Paused" in paused
    resumed = dev.data("instances", "resume", "my-workflow", "pr-1")
    assert set(resumed) == {"status", "timestamp"}
    assert dev.ok("instances", "terminate", "my-workflow", "pr-1") == (
        BANNER + '🥷 The instance "pr-1" from my-workflow was terminated successfully\n'
    )
    assert dev.data("instances", "describe", "my-workflow", "pr-1")["status"] == "terminated"
    assert "cannot_terminate" in error_of(dev.cli("instances", "terminate", "my-workflow", "pr-1"))
    for action in ("pause", "resume"):  # the API says nothing happened; the CLI says so as an error
        assert error_of(dev.cli("instances", action, "my-workflow", "pr-1")).startswith(
            f'Cannot {action} the instance "pr-1" from my-workflow: it is already terminated.'
        )
    assert "events are accepted only while an instance can still run" in error_of(
        dev.cli("instances", "send-event", "my-workflow", "pr-1", "--type", "approve")
    )
    assert error_of(dev.cli("instances", "restart", "my-workflow", "pr-1", "--from-step-count", "2")) == (
        "--from-step-name is required when using --from-step-count or --from-step-type"
    )
    assert dev.ok("instances", "restart", "my-workflow", "pr-1") == (
        BANNER + '🥷 The instance "pr-1" from my-workflow was restarted successfully\n'
    )
    dev.wait_for("my-workflow", "pr-1", waiting_for_approval)


def test_failing_workflow_and_latest(dev: Dev) -> None:
    dev.ok("trigger", "failing-workflow", '{"x":1}', "--id", "fail-1")
    dev.wait_for("failing-workflow", "fail-1", lambda d: d["status"] == "errored")
    described = dev.ok("instances", "describe", "failing-workflow")  # ID defaults to latest
    assert described.startswith(BANNER + 'Latest instance is "fail-1"\nDescribing latest instance:\n')
    assert "Status:                ❌ Errored\n" in described
    assert "Last Successful Step:  ok step-1\n" in described
    assert re.search(r"\nError:                 \w+: .*this is fatal", described), described
    assert "  Success:   ❌ No\n" in described
    assert dev.data("instances", "describe", "failing-workflow", "latest")["id"] == "fail-1"


def test_lists_pages_and_filters(dev: Dev) -> None:
    for n in range(3):
        dev.ok("trigger", "failing-workflow", "--id", f"page-{n}")
    rows = dev.data("instances", "list", "failing-workflow")
    assert [row["created_on"] for row in rows] == sorted((row["created_on"] for row in rows), reverse=True)
    first = dev.data("instances", "list", "failing-workflow", "--per-page", "2")
    second = dev.data("instances", "list", "failing-workflow", "--per-page", "2", "--page", "2")
    assert len(first) == 2 and {r["id"] for r in first}.isdisjoint(r["id"] for r in second)
    far = dev.cli("instances", "list", "failing-workflow", "--page", "99")
    assert (far.returncode, far.stdout) == (0, BANNER)
    assert far.stderr == "▲ [WARNING] No instances found on page 99. Please try a smaller page number.\n\n"
    assert error_of(dev.cli("instances", "list", "failing-workflow", "--per-page", "200")).startswith(
        "Local API error: "
    )
    assert error_of(dev.cli("instances", "list", "failing-workflow", "--status", "bogus")).startswith(
        'Looks like you have provided a invalid status "bogus".'
    )
    assert dev.data("instances", "list", "failing-workflow", "--date-start", "2999-01-01") == []
    assert error_of(dev.cli("instances", "describe", "failing-workflow", "no-such-instance")) == (
        "Local API error: Workflow instance 'no-such-instance' not found. List its instances with "
        f"`pyflows workflows instances list failing-workflow --local --port {dev.port}`."
    )


def test_delete_instances_and_workflow(dev: Dev) -> None:
    dev.ok("trigger", "failing-workflow", "--id", "del-1")
    done = dev.cli("instances", "delete", "failing-workflow", "del-1", "no-such-instance")
    assert done.returncode == 1
    assert done.stdout == BANNER + '🗑️  Deleted workflow instances from "failing-workflow": "del-1"\n'
    assert done.stderr.startswith("✘ [ERROR] Failed to delete 1 workflow instance(s):\n\n    - no-such-instance: ")
    assert error_of(dev.cli("instances", "delete", "failing-workflow")) == "Provide at least one workflow instance ID"
    assert dev.ok("delete", "failing-workflow") == (
        BANNER + '✅ Workflow "failing-workflow" instances removed successfully from local dev session.\n'
    )
    empty = dev.cli("instances", "list", "failing-workflow")
    assert (empty.returncode, empty.stdout) == (0, BANNER)
    assert empty.stderr == (
        '▲ [WARNING] There are no instances in workflow "failing-workflow". You can trigger it with '
        f'"pyflows workflows trigger failing-workflow --local --port {dev.port}"\n\n'
    )
