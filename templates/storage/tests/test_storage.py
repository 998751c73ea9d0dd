"""Drive the Workflow through the fetch handler; read back what its steps wrote to R2 and D1."""

from __future__ import annotations


def test_a_report_lands_in_r2_and_d1(dev):
    instance_id = dev.get("/?name=Alice")["instanceId"]
    final = dev.wait_for(instance_id, {"complete", "errored", "terminated"})
    assert final["status"] == "complete", final
    assert final["output"]["report"] == {"id": instance_id, "attempts": 1}

    stored = dev.get(f"/reports/{instance_id}")
    assert stored == {"id": instance_id, "greeting": "Hello, Alice!"}
    assert any(r["id"] == instance_id for r in dev.get("/reports"))


def test_a_failed_attempt_after_the_write_does_not_duplicate_it(dev):
    instance_id = dev.get("/?name=Bob&fail_once=1")["instanceId"]
    final = dev.wait_for(instance_id, {"complete", "errored", "terminated"})
    assert final["status"] == "complete", final
    # The first attempt wrote, then failed; the retry hit the same row instead of adding one.
    assert final["output"]["report"] == {"id": instance_id, "attempts": 2}
    assert [r["id"] for r in dev.get("/reports")].count(instance_id) == 1
