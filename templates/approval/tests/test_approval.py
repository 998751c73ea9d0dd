"""Test the approval Workflow with pyflows.testing: in-process, on the real engine, no server (fast).

`pyflows_project` loads this project (wrangler.jsonc) with fresh storage for each test. The last
test runs it for real under `pyflows dev` and drives it through HTTP and the CLI, as README.md does.
"""

from __future__ import annotations

import pytest
from pyflows.testing import introspect_workflow, introspect_workflow_instance

pytestmark = pytest.mark.anyio
WORKFLOW = "pyflows-approval"


async def test_approve_through_the_fetch_handler(pyflows_project):
    async with introspect_workflow(pyflows_project.env.APPROVAL_WORKFLOW) as workflow:
        resp = await pyflows_project.fetch("/", method="POST", json={"title": "Expense report"})
        instance_id = (await resp.json())["instanceId"]
        (instance,) = await workflow.get()
        await instance.wait_for_status("waiting")  # for the "approval" event

        await pyflows_project.fetch(f"/approve?instanceId={instance_id}", method="POST", json={"comment": "OK"})
        assert await instance.get_output() == {"title": "Expense report", "decision": "approved", "comment": "OK"}


async def test_reject_with_a_mocked_event(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.APPROVAL_WORKFLOW, "laptop") as instance:
        rejected = {"type": "approval", "payload": {"approved": False, "comment": "Over budget"}}
        await instance.modify(lambda m: m.mock_event(rejected))  # waiting for it when the wait starts
        await env.APPROVAL_WORKFLOW.create(id="laptop", params={"title": "New laptop"})
        assert await instance.get_output() == {"title": "New laptop", "decision": "rejected", "comment": "Over budget"}
        assert instance.steps.names() == ["submit request", "wait for approval", "notify requester"]


async def test_nobody_answers_within_the_hour(pyflows_project):
    env, clock = pyflows_project.env, pyflows_project.clock
    clock.freeze()
    async with introspect_workflow_instance(env.APPROVAL_WORKFLOW, "offsite") as instance:
        await env.APPROVAL_WORKFLOW.create(id="offsite", params={"title": "Team offsite"})
        await instance.wait_for_status("waiting")
        await clock.advance("1 hour")  # the wait_for_event timeout
        assert await instance.get_output() == {"title": "Team offsite", "decision": "timed out"}
        assert instance.steps[1].error["name"] == "WorkflowTimeoutError"


async def test_forced_event_timeout(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.APPROVAL_WORKFLOW, "forced") as instance:
        await instance.modify(lambda m: m.force_event_timeout({"name": "wait for approval"}))
        await env.APPROVAL_WORKFLOW.create(id="forced", params={"title": "Standing desk"})
        assert (await instance.get_output())["decision"] == "timed out"


@pytest.mark.e2e
def test_end_to_end_under_pyflows_dev(dev):
    instance_id = dev.post("/", {"title": "Expense report", "requestedBy": "alice"})["instanceId"]
    assert dev.wait_for(instance_id, {"waiting", "complete", "errored"})["status"] == "waiting"

    dev.cli(
        "instances", "send-event", WORKFLOW, instance_id,
        "--type", "approval", "--payload", '{"approved": true, "comment": "Looks good"}',
    )  # fmt: skip
    final = dev.wait_for(instance_id, {"complete", "errored", "terminated"})
    assert final["status"] == "complete", final
    assert final["output"] == {"title": "Expense report", "decision": "approved", "comment": "Looks good"}
    details = dev.cli("instances", "describe", WORKFLOW, instance_id)
    assert [(s["name"], s["type"]) for s in details["steps"]] == [
        ("submit request-1", "step"),
        ("wait for approval-1", "waitForEvent"),
        ("carry out request-1", "step"),
    ]
