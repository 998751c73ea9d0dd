"""Queue jobs through the Worker, and check the Workflow instances the consumer starts."""

from __future__ import annotations


def test_a_queued_job_starts_a_workflow(dev):
    status, reply = dev.request("POST", "/", {"job": "a1", "value": 21})
    assert status == 200, reply
    final = dev.wait_for(reply["instanceId"], {"complete", "errored", "terminated"})
    assert final["status"] == "complete", final
    assert final["output"] == {"job": "a1", "result": 42, "deadLettered": False}


def test_a_failing_job_is_retried_then_dead_lettered(dev):
    status, reply = dev.request("POST", "/", {"job": "bad", "fail": True})
    assert status == 200, reply
    final = dev.wait_for("job-bad", {"complete", "errored", "terminated"})
    assert final["output"]["deadLettered"] is True
