"""Test the Workflow with pyflows.testing: in-process, on the real engine, no server (fast).

`pyflows_project` loads this project (wrangler.jsonc) with fresh storage for each test. The last
test runs it for real under `pyflows dev` and drives it through HTTP and the CLI, as README.md does.
"""

from __future__ import annotations

import pytest
from pyflows.testing import introspect_workflow, introspect_workflow_instance

pytestmark = pytest.mark.anyio
WORKFLOW = "pyflows-hello"


async def test_fetch_starts_an_instance_that_completes(pyflows_project):
    async with introspect_workflow(pyflows_project.env.MY_WORKFLOW) as workflow:
        await workflow.modify_all(lambda m: m.disable_sleeps())  # skip the 2-second pause

        resp = await pyflows_project.fetch("/?name=Alice")
        instance_id = (await resp.json())["instanceId"]

        (instance,) = await workflow.get()  # the instance fetch created
        assert instance.id == instance_id
        assert await instance.get_output() == {"message": "Hello, Alice!"}
        assert instance.steps.names() == ["fetch data", "pause", "process data"]
        assert await instance.wait_for_step_result({"name": "fetch data"}) == {"name": "Alice", "greeting": "Hello"}


async def test_status_endpoint(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.MY_WORKFLOW, "greeting-1") as instance:
        await instance.modify(lambda m: m.disable_sleeps())
        await env.MY_WORKFLOW.create(id="greeting-1", params={"name": "Bob"})
        await instance.wait_for_status("complete")

    resp = await pyflows_project.fetch("/?instanceId=greeting-1")
    assert await resp.json() == {"status": "complete", "error": None, "output": {"message": "Hello, Bob!"}}


async def test_the_sleep_on_a_frozen_clock(pyflows_project):
    env, clock = pyflows_project.env, pyflows_project.clock
    clock.freeze()  # time moves only when the test says so
    async with introspect_workflow_instance(env.MY_WORKFLOW, "sleepy") as instance:
        await env.MY_WORKFLOW.create(id="sleepy")
        await instance.wait_for_status("waiting")  # in step.sleep("pause", "2 seconds")
        await clock.advance("1 second")
        assert instance.steps[-1].status == "waiting"
        await clock.advance("1 second")
        assert await instance.get_output() == {"message": "Hello, World!"}


async def test_mock_a_step(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.MY_WORKFLOW, "mocked") as instance:
        await instance.modify(
            lambda m: (
                m.disable_sleeps(),
                m.mock_step_result({"name": "fetch data"}, {"name": "Ada", "greeting": "Hi"}),
            )
        )
        await env.MY_WORKFLOW.create(id="mocked")
        assert await instance.get_output() == {"message": "Hi, Ada!"}
        assert instance.steps[0].mocked


@pytest.mark.e2e
def test_end_to_end_under_pyflows_dev(dev):
    triggered = dev.cli("trigger", WORKFLOW, '{"name": "World"}')
    instance_id = triggered["id"]

    final = dev.wait_for(instance_id, {"complete", "errored", "terminated"})
    assert final["status"] == "complete", final
    assert final["output"] == {"message": "Hello, World!"}

    assert dev.get(f"/?instanceId={instance_id}") == final
    details = dev.cli("instances", "describe", WORKFLOW, instance_id)
    assert [(s["name"], s["type"]) for s in details["steps"]] == [
        ("fetch data-1", "step"),
        ("pause-1", "sleep"),
        ("process data-1", "step"),
    ]
    assert details["steps"][0]["output"] == {"name": "World", "greeting": "Hello"}
