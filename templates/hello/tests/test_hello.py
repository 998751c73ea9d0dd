"""Drive the Workflow through the fetch handler and the `pyflows workflows` CLI, as README.md does."""

from __future__ import annotations

WORKFLOW = "pyflows-hello"


def test_fetch_handler_starts_an_instance_that_completes(dev):
    created = dev.get("/?name=Alice")
    instance_id = created["instanceId"]

    final = dev.wait_for(instance_id, {"complete", "errored", "terminated"})

    assert final["status"] == "complete", final
    assert final["error"] is None
    assert final["output"] == {"message": "Hello, Alice!"}


def test_cli_trigger_and_describe(dev):
    triggered = dev.cli("trigger", WORKFLOW, '{"name": "World"}')
    instance_id = triggered["id"]

    final = dev.wait_for(instance_id, {"complete", "errored", "terminated"})
    assert final["status"] == "complete", final

    details = dev.cli("instances", "describe", WORKFLOW, instance_id)
    assert details["status"] == "complete"
    assert details["output"] == {"message": "Hello, World!"}
    assert [(s["name"], s["type"]) for s in details["steps"]] == [
        ("fetch data-1", "step"),
        ("pause-1", "sleep"),
        ("process data-1", "step"),
    ]
    assert details["steps"][0]["output"] == {"name": "World", "greeting": "Hello"}
