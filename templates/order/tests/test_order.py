"""Process an order whose payment fails twice before it succeeds, as README.md shows."""

from __future__ import annotations

import uuid
from datetime import datetime

WORKFLOW = "pyflows-order"
FINAL = {"complete", "errored", "terminated"}


def test_sample_order_completes_after_payment_retries(dev):
    created = dev.post("/")
    instance_id = created["instanceId"]

    final = dev.wait_for(instance_id, FINAL)
    assert final["status"] == "complete", final
    output = final["output"]
    processed_at = output.pop("processedAt")
    assert datetime.fromisoformat(processed_at).tzinfo is not None
    assert output == {
        "orderId": "order-1001",
        "transactionId": "txn-789012",
        "amount": 129.99,
        "paymentAttempts": 3,
    }

    details = dev.cli("instances", "describe", WORKFLOW, instance_id)
    assert [s["name"] for s in details["steps"]] == [
        "check-inventory-1",
        "process-payment-1",
        "send-confirmation-email-1",
        "update-database-1",
    ]
    payment = details["steps"][1]
    assert [a["success"] for a in payment["attempts"]] == [False, False, True]
    assert "Payment failed: processor unavailable (attempt 1)" in payment["attempts"][0]["error"]["message"]
    # The inventory check ran once: only the payment step was retried.
    assert len(details["steps"][0]["attempts"]) == 1
    email = details["steps"][2]["output"]
    assert email == {"to": "ada@example.com", "from": "orders@example.com", "sent": True}


def test_order_from_the_cli(dev):
    order = (
        '{"orderId": "order-2002", "customerId": "cust-7", "email": "grace@example.com",'
        ' "items": [{"productId": "widget", "quantity": 1, "price": 49.99}],'
        ' "paymentMethod": {"type": "card", "id": "pm-1"}}'
    )
    instance_id = f"order-2002-{uuid.uuid4().hex[:8]}"  # ids are unique per Workflow
    triggered = dev.cli("trigger", WORKFLOW, order, "--id", instance_id)
    assert triggered["id"] == instance_id

    final = dev.wait_for(instance_id, FINAL)
    assert final["status"] == "complete", final
    assert final["output"]["amount"] == 49.99
    assert final["output"]["paymentAttempts"] == 3
