"""`pyflows workflows instances wake` and `pyflows workflows diagram` as subprocesses (issue 15)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from explorer_project import write_project
from pyflows.testing.devserver import ENV, DevServer

pytestmark = pytest.mark.slow
API = "/cdn-cgi/local/explorer/api"


def cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyflows", *args], cwd=project, capture_output=True, text=True, timeout=60,
        env={**ENV, "PYFLOWS_HIDE_BANNER": "1"},
    )  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    dev = DevServer(write_project(tmp_path_factory.mktemp("explorer-cli"))).ready()
    try:
        yield dev
    finally:
        dev.stop()


def details(server: DevServer, iid: str) -> Any:
    with urllib.request.urlopen(f"{server.url}{API}/workflows/dag-workflow/instances/{iid}", timeout=10) as r:
        return json.loads(r.read())["result"]


def wait_step(server: DevServer, iid: str, name: str, timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for step in details(server, iid)["steps"]:
            if step["name"] == name:
                return step  # type: ignore[no-any-return]
        time.sleep(0.02)
    raise AssertionError(f"{iid} never reached {name}: {details(server, iid)}")


def test_wake_latest_ends_the_sleep(server: DevServer) -> None:
    project, port = server.project, str(server.port)
    assert (
        cli(project, "workflows", "trigger", "dag-workflow", '{"items": 0}', "--local", "--port", port).returncode == 0
    )
    listed = cli(project, "workflows", "instances", "list", "dag-workflow", "--local", "--port", port, "--json")
    nap = wait_step(server, json.loads(listed.stdout)[0]["id"], "nap-1")
    assert nap["finished"] is False
    woke = cli(project, "workflows", "instances", "wake", "dag-workflow", "latest", "--local", "--port", port)
    assert woke.returncode == 0, woke.stderr
    assert woke.stdout.startswith('Latest instance is "') and "was woken up" in woke.stdout
    iid = woke.stdout.split('"')[1]
    assert wait_step(server, iid, "approval-1")["finished"] is False  # past the hour-long sleep
    again = cli(project, "workflows", "instances", "wake", "dag-workflow", "nope", "--local", "--port", port)
    assert again.returncode == 1 and "not found" in again.stderr
    remote = cli(project, "workflows", "instances", "wake", "dag-workflow", iid)
    assert remote.returncode == 1 and "CLOUDFLARE_API_TOKEN" in remote.stderr


def test_diagram_from_source_and_from_the_session(server: DevServer) -> None:
    project = server.project
    mermaid = cli(project, "workflows", "diagram", "dag-workflow")
    assert mermaid.returncode == 0, mermaid.stderr
    assert mermaid.stdout.startswith("flowchart TD\n") and "step.do combine" in mermaid.stdout
    as_json = json.loads(cli(project, "workflows", "diagram", "dag-workflow", "--format", "json").stdout)
    live = json.loads(
        cli(
            project, "workflows", "diagram", "dag-workflow", "--format", "json", "--local", "--port", str(server.port)
        ).stdout
    )
    # The session draws the loaded class (line numbers count from the class), the CLI reads the file.
    assert [(n["type"], n.get("name")) for n in as_json["nodes"]] == [(n["type"], n.get("name")) for n in live["nodes"]]
    bad = cli(project, "workflows", "diagram", "nope")
    assert bad.returncode == 1 and "configured: dag-workflow, xss-workflow" in bad.stderr


def test_event_streams_over_http(server: DevServer) -> None:
    """The SSE streams need a real server (ASGITransport buffers whole bodies)."""
    project, port = server.project, str(server.port)
    cli(project, "workflows", "trigger", "xss-workflow", "--id", "streamed", "--local", "--port", port)
    url = f"{server.url}{API}/pyflows/workflows/xss-workflow/instances/streamed/subscribe"
    url += "?filter=step_completed,workflow_completed"
    with urllib.request.urlopen(url, timeout=15) as reply:  # ends after workflow_completed
        assert reply.headers["content-type"].startswith("text/event-stream")
        body = reply.read().decode()
    events = [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]
    assert [e["type"] for e in events] == ["step_completed", "workflow_completed"]
    ids = [int(line[4:]) for line in body.splitlines() if line.startswith("id: ")]
    assert ids == [e["eventId"] for e in events] and ids == sorted(ids)
    # From a cursor: only what came after it.
    with urllib.request.urlopen(url.split("?")[0] + f"?cursor={ids[0]}", timeout=15) as reply:
        after = [json.loads(x[6:]) for x in reply.read().decode().splitlines() if x.startswith("data: ")]
    assert all(e["eventId"] > ids[0] for e in after) and after[-1]["type"] == "workflow_completed"
    # The global stream replays from Last-Event-ID (what EventSource sends when it reconnects).
    request = urllib.request.Request(f"{server.url}{API}/pyflows/events?workflow=xss-workflow")
    request.add_header("Last-Event-ID", "0")
    with urllib.request.urlopen(request, timeout=15) as reply:
        seen: list[dict[str, Any]] = []
        while not any(e.get("instanceId") == "streamed" and e["type"] == "workflow_completed" for e in seen):
            line = reply.readline().decode()
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
    assert {e["workflow"] for e in seen} == {"xss-workflow"}


def test_open_event_streams_do_not_hold_up_shutdown(tmp_path: Path) -> None:
    dev = DevServer(write_project(tmp_path / "p")).ready()
    try:
        streams = [
            urllib.request.urlopen(f"{dev.url}{API}/pyflows/events", timeout=15),
            urllib.request.urlopen(f"{dev.url}{API}/pyflows/events?workflow=dag-workflow", timeout=15),
        ]
        assert streams[0].readline().startswith(b"retry:")
        started = time.monotonic()
        dev.proc.terminate()
        assert dev.proc.wait(timeout=10) == 0
        took = time.monotonic() - started
        assert took < 2.5, took  # uvicorn's graceful timeout is 3 s: the streams ended before it
        assert all(s.read() is not None for s in streams)  # each stream ended cleanly
        assert "graceful shutdown exceeded" not in dev.output()
    finally:
        dev.stop()
