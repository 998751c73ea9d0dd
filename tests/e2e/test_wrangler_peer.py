"""`pyflows workflows … --local` drives a real `wrangler dev` session (interop in both directions).

Wrangler cannot run a Python Worker offline, so the peer runs a JavaScript workflow. Runs when
PYFLOWS_TEST_WRANGLER names a wrangler command (wrangler 4.164 needs Node.js ≥ 22.12), e.g.
`PYFLOWS_TEST_WRANGLER="node …/node_modules/wrangler/bin/wrangler.js"`; the other direction
(wrangler's CLI against `pyflows dev`) is in test_dev.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from wrangler_process import REQUIRES_WRANGLER, wrangler_dev

pytestmark = REQUIRES_WRANGLER

WORKER = """
import { WorkflowEntrypoint } from "cloudflare:workers";
export class MyWorkflow extends WorkflowEntrypoint {
  async run(event, step) {
    const first = await step.do("first step", async () => ({ greeting: "hello", params: event.payload }));
    const approval = await step.waitForEvent("approval", { type: "approve", timeout: "1 minute" });
    return { first, approval: approval.payload };
  }
}
export default { async fetch() { return new Response("ok"); } };
"""


@pytest.fixture(scope="module")
def wrangler_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    root = tmp_path_factory.mktemp("peer")
    (root / "src").mkdir()
    (root / "src" / "index.js").write_text(WORKER)
    (root / "wrangler.jsonc").write_text(
        json.dumps({
            "name": "wf-peer", "main": "src/index.js", "compatibility_date": "2026-11-01",
            "workflows": [{"name": "my-workflow", "binding": "MY_WORKFLOW", "class_name": "MyWorkflow"}],
        })
    )  # fmt: skip
    with wrangler_dev(root, root / "dev.log", timeout=60) as port:
        yield port


def pyflows(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyflows", "workflows", *args, "--local", "--port", str(port)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip


def data(port: int, *args: str) -> Any:
    done = pyflows(port, *args, "--json")
    assert done.returncode == 0, done
    return json.loads(done.stdout)


def test_pyflows_cli_drives_a_real_wrangler_dev(wrangler_port: int) -> None:
    port = wrangler_port
    assert data(port, "list") == [{"name": "my-workflow", "class_name": "MyWorkflow", "script_name": "wf-peer"}]
    done = pyflows(port, "trigger", "my-workflow", '{"a": 1}', "--id", "peer-1")
    assert done.returncode == 0 and 'Workflow instance "peer-1" has been triggered successfully' in done.stdout
    deadline = time.monotonic() + 30
    while not [s for s in data(port, "instances", "describe", "my-workflow", "peer-1")["steps"] if s["end"]]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    listed = pyflows(port, "instances", "list", "my-workflow")
    assert listed.returncode == 0 and "│ peer-1" in listed.stdout
    sent = pyflows(port, "instances", "send-event", "my-workflow", "latest", "--type", "approve", "--payload", "{}")
    assert sent.returncode == 0 and 'was sent to the instance "peer-1"' in sent.stdout
    while (details := data(port, "instances", "describe", "my-workflow", "peer-1"))["status"] != "complete":
        assert time.monotonic() < deadline, details
        time.sleep(0.2)
    assert details["output"] == {"first": {"greeting": "hello", "params": {"a": 1}}, "approval": {}}
    assert [s["name"] for s in details["steps"]] == ["first step-1", "approval-1"]
    text = pyflows(port, "instances", "describe", "my-workflow", "peer-1").stdout
    assert "Status:                ✅ Completed" in text and "👀 Waiting for event" in text
    missing = pyflows(port, "instances", "describe", "my-workflow", "no-such-instance")
    assert missing.returncode == 1
    assert "✘ [ERROR] Local API error: Workflow instance 'no-such-instance' not found." in missing.stderr
    assert data(port, "describe", "my-workflow")["instances"]["complete"] == 1
    assert data(port, "instances", "delete", "my-workflow", "peer-1") == {"deleted": [{"id": "peer-1"}], "errors": []}
