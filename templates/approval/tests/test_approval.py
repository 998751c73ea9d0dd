"""Approve, reject and let a request time out, as README.md shows."""

from __future__ import annotations

WORKFLOW = "pyflows-approval"
FINAL = {"complete", "errored", "terminated"}


def test_approve_through_the_fetch_handler(dev):
    created = dev.post("/", {"title": "Expense report", "requestedBy": "alice"})
    instance_id = created["instanceId"]

    # The instance waits for the "approval" event.
    assert dev.wait_for(instance_id, {"waiting"} | FINAL)["status"] == "waiting"

    sent = dev.post(f"/approve?instanceId={instance_id}", {"comment": "Looks good"})
    assert sent == {"instanceId": instance_id, "sent": {"approved": True, "comment": "Looks good"}}

    final = dev.wait_for(instance_id, FINAL)
    assert final["status"] == "complete", final
    assert final["output"] == {"title": "Expense report", "decision": "approved", "comment": "Looks good"}


def test_reject_with_the_cli(dev):
    triggered = dev.cli("trigger", WORKFLOW, '{"title": "New laptop"}')
    instance_id = triggered["id"]

    dev.cli(
        "instances",
        "send-event",
        WORKFLOW,
        instance_id,
        "--type",
        "approval",
        "--payload",
        '{"approved": false, "comment": "Over budget"}',
    )

    final = dev.wait_for(instance_id, FINAL)
    assert final["status"] == "complete", final
    assert final["output"] == {"title": "New laptop", "decision": "rejected", "comment": "Over budget"}

    details = dev.cli("instances", "describe", WORKFLOW, instance_id)
    assert [(s["name"], s["type"]) for s in details["steps"]] == [
        ("submit request-1", "step"),
        ("wait for approval-1", "waitForEvent"),
        ("notify requester-1", "step"),
    ]
    assert details["steps"][1]["output"]["payload"] == {"approved": False, "comment": "Over budget"}


def test_nobody_answers_before_the_timeout(dev):
    created = dev.post("/", {"title": "Team offsite", "timeout": "2 seconds"})
    instance_id = created["instanceId"]

    final = dev.wait_for(instance_id, FINAL)
    assert final["status"] == "complete", final
    assert final["output"] == {"title": "Team offsite", "decision": "timed out"}

    details = dev.cli("instances", "describe", WORKFLOW, instance_id)
    assert [(s["name"], s["type"]) for s in details["steps"]] == [
        ("submit request-1", "step"),
        ("wait for approval-1", "waitForEvent"),
        ("expire request-1", "step"),
    ]
    assert details["steps"][1]["error"] is not None
