"""Test the pipeline Workflow with pyflows.testing: in-process, on the real engine, no server (fast).

`pyflows_project` loads this project (wrangler.jsonc) with fresh storage for each test. The last
test runs it for real under `pyflows dev` and drives it through HTTP and the CLI, as README.md does.
"""

from __future__ import annotations

import pytest
from pyflows.testing import introspect_workflow, introspect_workflow_instance

pytestmark = pytest.mark.anyio
WORKFLOW = "pyflows-pipeline"


async def test_dag_completes_after_one_retry(pyflows_project):
    async with introspect_workflow(pyflows_project.env.PIPELINE_WORKFLOW) as workflow:
        await workflow.modify_all(lambda m: m.disable_retry_delays())
        await pyflows_project.fetch("/", method="POST", json={"numbers": [3, 1, 4, 1, 5]})
        (instance,) = await workflow.get()

        output = await instance.get_output()
        assert output == {"count": 5, "total": 14, "mean": 2.8, "min": 1, "max": 5, "loadedOnAttempt": 2}
        steps = {s.name: s for s in instance.steps}
        assert set(steps) == {"extract", "total", "mean", "spread", "load"}
        assert steps["extract"].attempts == 1  # shared by total, mean and spread
        assert steps["load"].attempts == 2


async def test_bad_input_fails_without_retrying(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.PIPELINE_WORKFLOW, "bad") as instance:
        await env.PIPELINE_WORKFLOW.create(id="bad", params={"numbers": "3, 1, 4"})
        error = await instance.get_error()
        assert error == {
            "name": "NonRetryableError",
            "message": "'numbers' must be a non-empty list of numbers, got '3, 1, 4'",
        }
        assert [(s.name, s.attempts) for s in instance.steps] == [("extract", 1)]


async def test_a_busier_warehouse(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.PIPELINE_WORKFLOW, "busy") as instance:
        await instance.modify(
            lambda m: (
                m.disable_retry_delays(),
                m.mock_step_error({"name": "load"}, ConnectionError("still busy"), times=3),
            )
        )
        await env.PIPELINE_WORKFLOW.create(id="busy", params={"numbers": [2, 4]})
        assert (await instance.get_output())["loadedOnAttempt"] == 4


async def test_the_first_retry_waits_one_second(pyflows_project):
    env, clock = pyflows_project.env, pyflows_project.clock
    clock.freeze()
    async with introspect_workflow_instance(env.PIPELINE_WORKFLOW, "timed") as instance:
        await env.PIPELINE_WORKFLOW.create(id="timed", params={"numbers": [1]})
        await clock.run_until_idle()
        assert instance.steps[-1].status == "retrying"
        await clock.advance("1 second")
        assert (await instance.get_output())["loadedOnAttempt"] == 2


@pytest.mark.e2e
def test_end_to_end_under_pyflows_dev(dev):
    instance_id = dev.post("/", {"numbers": [3, 1, 4, 1, 5]})["instanceId"]
    final = dev.wait_for(instance_id, {"complete", "errored", "terminated"})
    assert final["status"] == "complete", final
    assert final["output"]["loadedOnAttempt"] == 2

    details = dev.cli("instances", "describe", WORKFLOW, instance_id)
    steps = {s["name"]: s for s in details["steps"]}
    assert set(steps) == {"extract-1", "total-1", "mean-1", "spread-1", "load-1"}
    assert [a["success"] for a in steps["load-1"]["attempts"]] == [False, True]
    assert "warehouse busy" in steps["load-1"]["attempts"][0]["error"]["message"]
