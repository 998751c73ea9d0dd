"""Test the Queue consumer and its Workflow with pyflows.testing: in-process, on the real engine.

`pyflows_project.queue("jobs", [...])` hands messages to `Default.queue()` as one batch, now (as
Cloudflare's test kit's `SELF.queue` does), and returns each message's outcome; the batching,
retries and dead-letter queue themselves run under `pyflows dev`, which the last test drives.
"""

from __future__ import annotations

import pytest
from pyflows.testing import introspect_workflow

pytestmark = pytest.mark.anyio


async def test_a_job_is_acked_and_starts_a_workflow(pyflows_project):
    async with introspect_workflow(pyflows_project.env.JOB_WORKFLOW) as workflow:
        result = await pyflows_project.queue("jobs", [{"job": "a1", "value": 21}])
        assert [m["outcome"] for m in result["messages"]] == ["ack"]

        (instance,) = await workflow.get()
        assert instance.id == "job-a1"
        assert await instance.get_output() == {"job": "a1", "result": 42, "deadLettered": False}


async def test_a_failing_job_is_retried_and_starts_nothing(pyflows_project):
    async with introspect_workflow(pyflows_project.env.JOB_WORKFLOW) as workflow:
        result = await pyflows_project.queue("jobs", [{"job": "bad", "fail": True}, {"job": "ok", "value": 1}])
        assert [m["outcome"] for m in result["messages"]] == ["retry", "ack"]
        assert [i.id for i in await workflow.get()] == ["job-ok"]


async def test_the_dead_letter_consumer_records_the_job(pyflows_project):
    async with introspect_workflow(pyflows_project.env.JOB_WORKFLOW) as workflow:
        await pyflows_project.queue("jobs-dlq", [{"job": "bad", "fail": True}])
        (instance,) = await workflow.get()
        assert (await instance.get_output())["deadLettered"] is True


@pytest.mark.e2e
def test_end_to_end_under_pyflows_dev(dev):
    status, reply = dev.request("POST", "/", {"job": "a1", "value": 21})
    assert status == 200, reply
    final = dev.wait_for(reply["instanceId"], {"complete", "errored", "terminated"})
    assert final["status"] == "complete", final
    assert final["output"] == {"job": "a1", "result": 42, "deadLettered": False}

    # retried max_retries times, then moved to jobs-dlq, whose consumer records it
    status, reply = dev.request("POST", "/", {"job": "bad", "fail": True})
    assert status == 200, reply
    final = dev.wait_for("job-bad", {"complete", "errored", "terminated"})
    assert final["output"]["deadLettered"] is True
