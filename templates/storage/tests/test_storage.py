"""Test the Workflow's R2 and D1 writes with pyflows.testing: in-process, on the real engine, with
each test's own empty R2 bucket and D1 database. The last test runs it under a real `pyflows dev`.
"""

from __future__ import annotations

import pytest
from pyflows.testing import introspect_workflow

pytestmark = pytest.mark.anyio


async def test_a_report_lands_in_r2_and_d1(pyflows_project):
    async with introspect_workflow(pyflows_project.env.REPORTS_WORKFLOW) as workflow:
        resp = await pyflows_project.fetch("/?name=Alice")
        instance_id = (await resp.json())["instanceId"]
        (instance,) = await workflow.get()
        output = await instance.get_output()
    assert output["report"] == {"id": instance_id, "attempts": 1}

    stored = await pyflows_project.fetch(f"/reports/{instance_id}")
    assert await stored.json() == {"id": instance_id, "greeting": "Hello, Alice!"}
    assert stored.headers["content-type"] == "application/json"
    listed = await (await pyflows_project.fetch("/reports")).json()
    assert [r["id"] for r in listed] == [instance_id]


async def test_a_failed_attempt_after_the_write_does_not_duplicate_it(pyflows_project):
    async with introspect_workflow(pyflows_project.env.REPORTS_WORKFLOW) as workflow:
        await workflow.modify_all(lambda m: m.disable_retry_delays())  # no 1-second wait before the retry
        resp = await pyflows_project.fetch("/?name=Bob&fail_once=1")
        instance_id = (await resp.json())["instanceId"]
        (instance,) = await workflow.get()
        output = await instance.get_output()
    # The first attempt wrote, then failed; the retry hit the same row instead of adding one.
    assert output["report"] == {"id": instance_id, "attempts": 2}
    listed = await (await pyflows_project.fetch("/reports")).json()
    assert [r["id"] for r in listed] == [instance_id]


@pytest.mark.e2e
def test_end_to_end_under_pyflows_dev(dev):
    instance_id = dev.get("/?name=Alice")["instanceId"]
    final = dev.wait_for(instance_id, {"complete", "errored", "terminated"})
    assert final["status"] == "complete", final
    assert final["output"]["report"] == {"id": instance_id, "attempts": 1}
    assert dev.get(f"/reports/{instance_id}") == {"id": instance_id, "greeting": "Hello, Alice!"}
    assert any(r["id"] == instance_id for r in dev.get("/reports"))
