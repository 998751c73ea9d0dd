"""Run the DAG to completion, and fail fast on bad input, as README.md shows."""

from __future__ import annotations

WORKFLOW = "pyflows-pipeline"
FINAL = {"complete", "errored", "terminated"}


def test_dag_completes_after_one_retry(dev):
    created = dev.post("/", {"numbers": [3, 1, 4, 1, 5]})
    instance_id = created["instanceId"]

    final = dev.wait_for(instance_id, FINAL)
    assert final["status"] == "complete", final
    assert final["output"] == {
        "count": 5,
        "total": 14,
        "mean": 2.8,
        "min": 1,
        "max": 5,
        "loadedOnAttempt": 2,
    }

    details = dev.cli("instances", "describe", WORKFLOW, instance_id)
    steps = {s["name"]: s for s in details["steps"]}
    assert details["steps"][0]["name"] == "extract-1"
    assert details["steps"][-1]["name"] == "load-1"
    assert set(steps) == {"extract-1", "total-1", "mean-1", "spread-1", "load-1"}
    # `extract` ran once although three steps depend on it.
    assert len(steps["extract-1"]["attempts"]) == 1
    load = steps["load-1"]
    assert [a["success"] for a in load["attempts"]] == [False, True]
    assert "warehouse busy" in load["attempts"][0]["error"]["message"]
    assert load["config"]["retries"] == {"limit": 3, "delay": "1 second", "backoff": "exponential"}


def test_bad_input_fails_without_retrying(dev):
    triggered = dev.cli("trigger", WORKFLOW, '{"numbers": "3, 1, 4"}')
    instance_id = triggered["id"]

    final = dev.wait_for(instance_id, FINAL)
    assert final["status"] == "errored", final
    assert "'numbers' must be a non-empty list of numbers, got '3, 1, 4'" in final["error"]["message"]

    details = dev.cli("instances", "describe", WORKFLOW, instance_id)
    assert [s["name"] for s in details["steps"]] == ["extract-1"]
    assert len(details["steps"][0]["attempts"]) == 1
