"""The Local Explorer's Workflows pages in headless Chromium against a real `pyflows dev` (issue 15).

Each page's screenshot is saved under test-artifacts/explorer/ (explorer_browser.py says how).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from explorer_browser import Server, open_page, playwright, shot
from explorer_project import XSS, write_project

pytestmark = pytest.mark.slow
playwright()  # skips this module without chromium or playwright


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    project = write_project(tmp_path_factory.mktemp("explorer"))
    dev = Server(project).ready()
    try:
        yield dev
    finally:
        dev.stop()


def test_each_page_loads(page: Any, server: Server) -> None:
    server.api("POST", "/workflows/dag-workflow/instances", {"id": "loads", "params": {"items": 3}})
    server.wait_status("dag-workflow", "loads", "waiting")
    open_page(page, server, "/")
    assert page.locator("#workflows tr[data-workflow='dag-workflow'] [data-count='waiting']").inner_text() != "0"
    shot(page, "1-workflows")
    page.click("a:text-is('dag-workflow')")  # in-app navigation
    page.wait_for_selector("#instances tr[data-id='loads']")
    page.wait_for_selector("#diagram[data-nodes]")
    shot(page, "2-instances")
    page.click("a:text-is('loads')")
    page.wait_for_selector("#timeline .g-row[data-step='item-2-1']")
    assert page.locator("#timeline .g-row[data-type='sleep'] .countdown").count() == 1
    shot(page, "3-instance")


def test_trigger_from_the_dialog_appears_without_reload(page: Any, server: Server) -> None:
    open_page(page, server, "/workflows/dag-workflow")
    page.evaluate("window.__sameDocument = true")
    page.click("#trigger")
    page.fill("dialog input[name=id]", "bad id!")
    page.fill("dialog textarea[name=params]", '{"items": 1}')
    page.click("dialog button[type=submit]")
    assert "Instance ID must match" in page.locator("dialog .err").inner_text()  # validated before sending
    page.fill("dialog input[name=id]", "from-dialog")
    page.fill("dialog textarea[name=params]", "{not json")
    page.click("dialog button[type=submit]")
    assert "Params is not valid JSON" in page.locator("dialog .err").inner_text()
    page.fill("dialog textarea[name=params]", '{"items": 1}')
    page.click("dialog button[type=submit]")
    page.wait_for_selector("#instances tr[data-id='from-dialog']")
    assert page.evaluate("window.__sameDocument") is True
    assert server.api("GET", "/workflows/dag-workflow/instances/from-dialog")["params"] == {"items": 1}


def test_sleeping_countdown_then_wake_now_completes_the_sleep_and_send_event(page: Any, server: Server) -> None:
    server.api("POST", "/workflows/dag-workflow/instances", {"id": "sleeper", "params": {"items": 0}})
    server.wait_status("dag-workflow", "sleeper", "waiting")
    open_page(page, server, "/workflows/dag-workflow/sleeper")
    countdown = page.locator(".g-row[data-step='nap-1'] .countdown")
    first = countdown.inner_text()
    assert first.startswith("wakes in 59m") or first.startswith("wakes in 1h"), first
    page.wait_for_function(
        "t => document.querySelector(\".g-row[data-step='nap-1'] .countdown\").textContent !== t", arg=first
    )  # it ticks
    shot(page, "4-sleeping")
    page.click("#wake")
    page.wait_for_selector(".g-row[data-step='nap-1'][data-state='complete']")
    page.wait_for_selector(".g-row[data-step='approval-1'][data-state='waiting']")
    page.click("#send-event")
    page.fill("dialog input[name=type]", "approve")
    page.fill("dialog textarea[name=payload]", '{"ok": true}')
    page.click("dialog button[type=submit]")
    page.wait_for_selector("h1 [data-status='complete']")
    assert json.loads(page.locator(".grid2 .card >> nth=1").locator("pre").inner_text())["approved"] == {"ok": True}
    shot(page, "5-completed")


def test_pause_and_resume_show_live(page: Any, server: Server) -> None:
    server.api("POST", "/workflows/dag-workflow/instances", {"id": "pausable", "params": {"items": 0}})
    server.wait_status("dag-workflow", "pausable", "waiting")
    open_page(page, server, "/workflows/dag-workflow/pausable")
    page.click("button[data-action='pause']")
    page.wait_for_selector("h1 [data-status='paused']")
    page.click("button[data-action='resume']")
    page.wait_for_selector("h1 [data-status='waiting'], h1 [data-status='running']")
    # A change made elsewhere (the API) shows without reload, well within the 200 ms budget plus slack.
    started = time.monotonic()
    server.api("PATCH", "/workflows/dag-workflow/instances/pausable/status", {"status": "pause"})
    page.wait_for_selector("h1 [data-status='paused']")
    assert time.monotonic() - started < 1.0


def test_restart_from_a_step(page: Any, server: Server) -> None:
    server.api("POST", "/workflows/dag-workflow/instances", {"id": "restartable", "params": {"items": 1, "sleep": 10}})
    server.api("POST", "/workflows/dag-workflow/instances/restartable/events/approve", {"n": 1})
    before = server.wait_status("dag-workflow", "restartable", "complete")
    open_page(page, server, "/workflows/dag-workflow/restartable")
    page.click(".g-row[data-step='item-0-1'] .g-name")
    page.click("button[data-restart-from='item-0-1']")
    page.click("dialog button.danger-confirm")
    server.wait_status("dag-workflow", "restartable", "waiting", "running", "queued")
    after = server.wait_status("dag-workflow", "restartable", "waiting")
    start = {s["name"]: s["start"] for s in before["steps"]}
    again = {s["name"]: s["start"] for s in after["steps"]}
    assert again["fetch_users-1"] == start["fetch_users-1"] and again["combine-1"] == start["combine-1"]  # kept
    assert again["item-0-1"] != start["item-0-1"]  # ran again
    page.wait_for_selector("h1 [data-status='waiting']")


def test_diagram_nodes_for_a_dag_a_loop_and_a_wait(page: Any, server: Server) -> None:
    open_page(page, server, "/workflows/dag-workflow")
    page.wait_for_selector("#diagram[data-nodes]")
    names = page.eval_on_selector_all("#diagram [data-node]", "els => els.map(e => [e.dataset.node, e.dataset.name])")
    kinds = {k for k, _ in names}
    assert {
        "StartNode",
        "ParallelNode",
        "StepDo",
        "LoopNode",
        "IfNode",
        "StepSleep",
        "TryNode",
        "StepWaitForEvent",
    } <= kinds
    steps = [n for k, n in names if k == "StepDo"]
    assert steps[:3] == ["fetch_users", "fetch_orders", "combine"] and "f'item-{i}'" in steps
    shot(page, "6-diagram")
    # Painted with a run: the instance page marks done steps and the one waiting.
    server.api("POST", "/workflows/dag-workflow/instances", {"id": "painted", "params": {"items": 1}})
    server.wait_status("dag-workflow", "painted", "waiting")
    open_page(page, server, "/workflows/dag-workflow/painted")
    page.wait_for_selector("#diagram .dg-node.p-done[data-name='combine']")
    page.wait_for_selector("#diagram .dg-node.p-waiting[data-name='nap']")
    assert page.locator("#diagram .dg-node.p-unreached[data-name='flaky']").count() == 1


def test_xss_payload_in_a_step_name_is_text(page: Any, server: Server) -> None:
    server.api("POST", "/workflows/xss-workflow/instances", {"id": "xss"})
    server.wait_status("xss-workflow", "xss", "complete")
    open_page(page, server, "/workflows/xss-workflow/xss")
    name = page.locator("#timeline .step-name").first.inner_text()
    assert name == XSS + "-1"
    page.click("#timeline .g-name")
    assert json.loads(page.locator("[data-detail] pre").first.inner_text()) == {"html": XSS}
    assert page.evaluate("window.__xss") is None
    assert page.locator("main img, main script").count() == 0
    shot(page, "7-xss")


def test_retry_now_runs_the_waiting_attempt(page: Any, server: Server) -> None:
    server.api("POST", "/workflows/dag-workflow/instances", {"id": "retrier", "params": {"items": 0, "flaky": True}})
    deadline = time.monotonic() + 15
    while not any(s.get("retry_at") for s in server.api("GET", "/workflows/dag-workflow/instances/retrier")["steps"]):
        assert time.monotonic() < deadline, "the flaky step never waited to retry"
        time.sleep(0.05)
    open_page(page, server, "/workflows/dag-workflow/retrier")
    row = ".g-row[data-step='flaky-1']"
    page.wait_for_selector(f"{row}[data-state='waiting'] .bar.gap .countdown")
    assert page.locator(f"{row} .bar.fail").count() == 1  # the failed first attempt
    page.click("#retry")
    page.wait_for_selector(f"{row}[data-state='complete']")
    assert page.locator(f"{row} .bar.ok").count() == 1 and page.locator(f"{row} .bar.fail").count() == 1


def test_filters_bulk_actions_and_delete_all(page: Any, server: Server) -> None:
    for i, tag in enumerate(["alpha", "beta", "alpha"]):
        server.api("POST", "/workflows/xss-workflow/instances", {"id": f"bulk-{i}", "params": {"tag": tag}})
    for i in range(3):
        server.wait_status("xss-workflow", f"bulk-{i}", "complete")
    open_page(page, server, "/workflows/xss-workflow")
    page.fill("#params-filter", "alpha")
    page.press("#params-filter", "Enter")
    page.wait_for_function("() => document.querySelectorAll('#instances tbody tr[data-id]').length === 2")
    ids = page.eval_on_selector_all("#instances tbody tr[data-id]", "rows => rows.map(r => r.dataset.id)")
    assert sorted(ids) == ["bulk-0", "bulk-2"]
    page.fill("#date-start", "2099-01-01T00:00")  # nothing was created after that
    page.wait_for_selector("#instances tbody td.muted")
    page.fill("#date-start", "")
    page.fill("#params-filter", "")
    page.press("#params-filter", "Enter")
    page.select_option("#status-filter", "complete")
    page.wait_for_function("() => document.querySelectorAll('#instances tbody tr[data-id]').length >= 3")
    page.check("#instances thead input[type=checkbox]")
    page.click("button[data-bulk='restart']")
    page.wait_for_selector("text=Restart: ")
    page.click("#delete-all")
    page.click("dialog button.danger-confirm")
    page.wait_for_selector("#instances tbody td.muted")
    assert server.api("GET", "/workflows/xss-workflow/instances") == []


def test_live_updates_continue_after_a_hot_reload(page: Any, server: Server) -> None:
    server.api("POST", "/workflows/dag-workflow/instances", {"id": "reloaded", "params": {"items": 0}})
    server.wait_status("dag-workflow", "reloaded", "waiting")
    open_page(page, server, "/workflows/dag-workflow/reloaded")
    mark = len(server.out)
    entry = server.project / "src" / "entry.py"
    entry.write_text(entry.read_text() + "\n# edited\n")
    server.wait_for_output(r"Local server updated and ready", after=mark)
    page.wait_for_selector("#live.on")  # the page's stream reconnected to the new server process
    server.api("PATCH", "/workflows/dag-workflow/instances/reloaded/status", {"status": "pause"})
    page.wait_for_selector("h1 [data-status='paused']", timeout=5_000)
