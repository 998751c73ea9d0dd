"""Every template, end to end: `pyflows init` into a temp dir, `pyflows dev --port 0`, then drive it
through its fetch handler and the `pyflows workflows ... --local` CLI to the end state its README
promises. Real processes, real timers (the templates sleep and retry for a few seconds at most).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pyflows.testing.devserver import ENV, DevServer

pytestmark = pytest.mark.slow

FINAL = {"complete", "errored", "terminated"}


def pyflows(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "pyflows", *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=60
    )
    if check:
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


class Dev(DevServer):
    """A running `pyflows dev` for one generated project."""

    def __init__(self, project: Path, name: str) -> None:
        super().__init__(project)
        self.name = name  # project name == Worker name == Workflow name
        self.http = httpx.Client(timeout=10)

    def stop(self) -> None:
        self.http.close()
        super().stop()

    # -- the Worker's fetch handler ------------------------------------------------------------

    def fetch(self, method: str, path: str, body: Any = None, *, status: int = 200) -> httpx.Response:
        content = None if body is None else json.dumps(body)
        resp = self.http.request(method, self.url + path, content=content)
        assert resp.status_code == status, (method, path, resp.status_code, resp.text, self.output())
        return resp

    def status(self, instance_id: str) -> httpx.Response:
        return self.fetch("GET", f"/?instanceId={instance_id}")

    def wait_for(self, instance_id: str, statuses: set[str], timeout: float = 30) -> httpx.Response:
        """Poll `GET /?instanceId=` (the template's own endpoint) until a status in `statuses`."""
        deadline = time.monotonic() + timeout
        while True:
            resp = self.status(instance_id)
            if resp.json()["status"] in statuses:
                return resp
            assert time.monotonic() < deadline, (instance_id, resp.text, self.output())
            time.sleep(0.1)

    # -- the CLI --------------------------------------------------------------------------------

    def cli(self, *args: str, json_output: bool = True) -> Any:
        """`pyflows workflows <args> --local --port N [--json]`, as a subprocess."""
        extra = ["--local", "--port", str(self.port)] + (["--json"] if json_output else [])
        done = pyflows("workflows", *args, *extra, cwd=self.project)
        if not json_output:
            return done.stdout
        out = done.stdout.strip()
        return json.loads(out) if out[:1] in ("{", "[") else out

    def describe(self, instance_id: str) -> dict[str, Any]:
        details = self.cli("instances", "describe", self.name, instance_id)
        assert details["id"] == instance_id, details
        return details


@pytest.fixture
def make_dev(tmp_path: Path) -> Iterator[Any]:
    started: list[Dev] = []

    def make(template: str) -> Dev:
        name = f"e2e-{template}"
        created = pyflows("init", "proj", "--template", template, "--name", name, cwd=tmp_path)
        assert "pyflows dev" in created.stdout
        dev = Dev(tmp_path / "proj", name)
        started.append(dev)
        dev.ready()
        return dev

    try:
        yield make
    finally:
        for dev in started:
            dev.stop()


def step_names(details: dict[str, Any]) -> list[str]:
    return [s["name"] for s in details["steps"]]


def test_hello(make_dev):
    dev = make_dev("hello")

    # README: curl "http://127.0.0.1:8787/?name=Alice" -> {"instanceId": "..."}
    created = dev.fetch("GET", "/?name=Alice")
    assert created.headers["content-type"].startswith("application/json")
    instance_id = created.json()["instanceId"]
    assert created.text == json.dumps({"instanceId": instance_id})

    # during the 2-second sleep: waiting
    during = dev.wait_for(instance_id, {"waiting"} | FINAL)
    assert during.text == '{"status": "waiting", "error": null, "output": null}'

    final = dev.wait_for(instance_id, FINAL)
    assert final.text == '{"status": "complete", "error": null, "output": {"message": "Hello, Alice!"}}'

    # POST / starts one too
    posted = dev.fetch("POST", "/").json()["instanceId"]
    assert posted != instance_id

    # README: the CLI
    triggered = dev.cli("trigger", dev.name, '{"name": "World"}', json_output=False)
    match = re.search(r'🚀 Workflow instance "([^"]+)" has been triggered successfully', triggered)
    assert match, triggered
    cli_id = match[1]
    assert json.loads(dev.wait_for(cli_id, FINAL).text)["output"] == {"message": "Hello, World!"}

    details = dev.describe(cli_id)
    assert details["status"] == "complete"
    assert details["output"] == {"message": "Hello, World!"}
    assert [(s["name"], s["type"]) for s in details["steps"]] == [
        ("fetch data-1", "step"),
        ("pause-1", "sleep"),
        ("process data-1", "step"),
    ]
    assert details["steps"][0]["output"] == {"name": "World", "greeting": "Hello"}
    assert details["steps"][2]["output"] == {"message": "Hello, World!"}

    text = dev.cli("instances", "describe", dev.name, "latest", json_output=False)
    assert cli_id in text and "✅ Completed" in text
    for name in ("fetch data-1", "pause-1", "process data-1"):
        assert name in text

    assert dev.fetch("GET", "/favicon.ico", status=404).text == "Not found"


def test_approval(make_dev):
    dev = make_dev("approval")

    # approve through the fetch handler
    created = dev.fetch("POST", "/", {"title": "Expense report", "requestedBy": "alice"})
    instance_id = created.json()["instanceId"]
    waiting = dev.wait_for(instance_id, {"waiting"} | FINAL)
    assert waiting.text == '{"status": "waiting", "error": null, "output": null}'

    sent = dev.fetch("POST", f"/approve?instanceId={instance_id}", {"comment": "Looks good"})
    assert sent.text == json.dumps({"instanceId": instance_id, "sent": {"approved": True, "comment": "Looks good"}})
    final = dev.wait_for(instance_id, FINAL)
    assert final.text == (
        '{"status": "complete", "error": null, "output": '
        '{"title": "Expense report", "decision": "approved", "comment": "Looks good"}}'
    )

    # reject with the CLI, as in the README (send-event to `latest`)
    cli_id = dev.cli("trigger", dev.name, '{"title": "New laptop"}')["id"]
    dev.wait_for(cli_id, {"waiting"})
    dev.cli(
        "instances", "send-event", dev.name, "latest",
        "--type", "approval", "--payload", '{"approved": false, "comment": "Over budget"}',
    )  # fmt: skip
    final = dev.wait_for(cli_id, FINAL).json()
    assert final["status"] == "complete", final
    assert final["output"] == {"title": "New laptop", "decision": "rejected", "comment": "Over budget"}
    details = dev.describe(cli_id)
    assert [(s["name"], s["type"]) for s in details["steps"]] == [
        ("submit request-1", "step"),
        ("wait for approval-1", "waitForEvent"),
        ("notify requester-1", "step"),
    ]
    event = details["steps"][1]["output"]
    assert event["type"] == "approval"
    assert event["payload"] == {"approved": False, "comment": "Over budget"}
    assert details["steps"][2]["output"] == final["output"]

    # nobody answers: the timeout is caught and the request expires
    expiring = {"title": "Team offsite", "timeout": "2 seconds"}
    expired_id = dev.fetch("POST", "/", expiring).json()["instanceId"]
    final = dev.wait_for(expired_id, FINAL)
    assert final.text == (
        '{"status": "complete", "error": null, "output": {"title": "Team offsite", "decision": "timed out"}}'
    )
    details = dev.describe(expired_id)
    assert step_names(details) == ["submit request-1", "wait for approval-1", "expire request-1"]
    assert details["steps"][1]["error"] is not None

    # the endpoints' guard rails
    assert "POST / to submit a request" in dev.fetch("GET", "/", status=400).text


def test_approval_event_sent_before_the_wait_is_buffered(make_dev):
    """An event that arrives before the instance reaches its wait is kept for it (as on Cloudflare)."""
    dev = make_dev("approval")
    ids = []
    for n in range(10):
        instance_id = dev.fetch("POST", "/", {"title": f"Pay rise {n}"}).json()["instanceId"]
        dev.fetch("POST", f"/reject?instanceId={instance_id}")  # at once: the instance is just starting
        ids.append(instance_id)
    for n, instance_id in enumerate(ids):
        final = dev.wait_for(instance_id, FINAL, timeout=10).json()
        assert final["output"] == {"title": f"Pay rise {n}", "decision": "rejected", "comment": ""}, final


def test_pipeline(make_dev):
    dev = make_dev("pipeline")

    instance_id = dev.fetch("POST", "/", {"numbers": [3, 1, 4, 1, 5]}).json()["instanceId"]
    final = dev.wait_for(instance_id, FINAL)
    assert final.text == (
        '{"status": "complete", "error": null, "output": '
        '{"count": 5, "total": 14, "mean": 2.8, "min": 1, "max": 5, "loadedOnAttempt": 2}}'
    )

    details = dev.describe(instance_id)
    names = step_names(details)
    assert names[0] == "extract-1" and names[-1] == "load-1"
    assert sorted(names[1:4]) == ["mean-1", "spread-1", "total-1"]
    steps = {s["name"]: s for s in details["steps"]}
    assert len(steps["extract-1"]["attempts"]) == 1  # shared by total, mean and spread
    assert [steps[n]["output"] for n in ("total-1", "mean-1", "spread-1")] == [14, 2.8, {"min": 1, "max": 5}]
    load = steps["load-1"]
    assert [a["success"] for a in load["attempts"]] == [False, True]
    assert "warehouse busy, try again later" in load["attempts"][0]["error"]["message"]
    assert load["config"]["retries"] == {"limit": 3, "delay": "1 second", "backoff": "exponential"}

    # bad input: NonRetryableError, one attempt, errored
    bad_id = dev.fetch("POST", "/", {"numbers": "3, 1, 4"}).json()["instanceId"]
    final = dev.wait_for(bad_id, FINAL).json()
    assert final["status"] == "errored", final
    assert final["output"] is None
    message = "'numbers' must be a non-empty list of numbers, got '3, 1, 4'"
    assert final["error"] == {"name": "NonRetryableError", "message": message}
    details = dev.describe(bad_id)
    assert details["status"] == "errored"
    assert step_names(details) == ["extract-1"]
    assert len(details["steps"][0]["attempts"]) == 1

    # the CLI, as in the README
    cli_id = dev.cli("trigger", dev.name, '{"numbers": [3, 1, 4, 1, 5]}')["id"]
    assert dev.wait_for(cli_id, FINAL).json()["output"]["loadedOnAttempt"] == 2
    text = dev.cli("instances", "describe", dev.name, "latest", json_output=False)
    assert "✅ Completed" in text and "warehouse busy, try again later" in text


def test_order(make_dev):
    dev = make_dev("order")

    instance_id = dev.fetch("POST", "/").json()["instanceId"]
    final = dev.wait_for(instance_id, FINAL)
    body = final.json()
    assert body["status"] == "complete", body
    processed_at = body["output"]["processedAt"]
    assert time.time() - 60 < _epoch(processed_at) <= time.time()
    assert final.text == (
        '{"status": "complete", "error": null, "output": {"orderId": "order-1001", '
        '"transactionId": "txn-789012", "amount": 129.99, "paymentAttempts": 3, '
        f'"processedAt": "{processed_at}"}}}}'
    )

    details = dev.describe(instance_id)
    assert step_names(details) == [
        "check-inventory-1",
        "process-payment-1",
        "send-confirmation-email-1",
        "update-database-1",
    ]
    inventory, payment, email, db = details["steps"]
    assert len(inventory["attempts"]) == 1  # not re-run by the payment retries
    assert [a["success"] for a in payment["attempts"]] == [False, False, True]
    for n, attempt in enumerate(payment["attempts"][:2], 1):
        assert f"Payment failed: processor unavailable (attempt {n})" in attempt["error"]["message"]
    assert payment["output"] == {"transactionId": "txn-789012", "amount": 129.99, "attempts": 3}
    assert email["output"] == {"to": "ada@example.com", "from": "orders@example.com", "sent": True}
    assert db["output"] == {"dbUpdated": True, "processedAt": processed_at}
    assert "Processing payment for order order-1001 (attempt 3)" in dev.output()

    # the CLI, as in the README
    order = {
        "orderId": "order-2002",
        "email": "grace@example.com",
        "items": [{"productId": "widget", "quantity": 1, "price": 49.99}],
    }
    cli_id = dev.cli("trigger", dev.name, json.dumps(order), "--id", "order-2002")["id"]
    assert cli_id == "order-2002"
    output = dev.wait_for(cli_id, FINAL).json()["output"]
    assert output["orderId"] == "order-2002"
    assert output["amount"] == 49.99 and output["paymentAttempts"] == 3
    text = dev.cli("instances", "describe", dev.name, "latest", json_output=False)
    assert "✅ Completed" in text and "Payment failed: processor unavailable (attempt 2)" in text


@pytest.mark.parametrize("template", ["hello", "approval", "pipeline", "order", "cron", "queue", "storage"])
def test_generated_project_tests_pass(tmp_path, template):
    """The tests a generated project ships with pass as they are (`python -m pytest`)."""
    pyflows("init", "proj", "--template", template, cwd=tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path / "proj",
        env=ENV,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout and "failed" not in done.stdout


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()
