"""Test the order Workflow with pyflows.testing: in-process, on the real engine, no server (fast).

`pyflows_project` loads this project (wrangler.jsonc) with fresh storage for each test. The last
test runs it for real under `pyflows dev` and drives it through HTTP and the CLI, as README.md does.
"""

from __future__ import annotations

import pytest
from pyflows.testing import introspect_workflow, introspect_workflow_instance

pytestmark = pytest.mark.anyio
WORKFLOW = "pyflows-order"
ORDER = {
    "orderId": "order-7",
    "email": "grace@example.com",
    "items": [{"productId": "widget", "quantity": 2, "price": 10.5}],
}


async def test_payment_is_retried_until_it_succeeds(pyflows_project):
    async with introspect_workflow(pyflows_project.env.ORDER_WORKFLOW) as workflow:
        await workflow.modify_all(lambda m: m.disable_retry_delays())  # every attempt, no back-off

        resp = await pyflows_project.fetch("/", method="POST")  # the sample order
        instance_id = (await resp.json())["instanceId"]
        (instance,) = await workflow.get()
        assert instance.id == instance_id

        output = await instance.get_output()
        assert output["paymentAttempts"] == 3 and output["amount"] == 129.99
        inventory, payment, email, database = instance.steps
        assert inventory.attempts == 1  # not run again by the payment retries
        assert payment.attempts == 3
        assert email.output == {"to": "ada@example.com", "from": "orders@example.com", "sent": True}


async def test_retry_back_off_on_a_frozen_clock(pyflows_project):
    env, clock = pyflows_project.env, pyflows_project.clock
    clock.freeze()
    async with introspect_workflow_instance(env.ORDER_WORKFLOW, "order-7") as instance:
        await env.ORDER_WORKFLOW.create(id="order-7", params=ORDER)
        await clock.run_until_idle()
        assert instance.steps[1].attempts == 1
        await clock.advance("1 second")  # exponential back-off: 1 s, then 2 s
        assert instance.steps[1].attempts == 2
        await clock.advance("2 seconds")
        assert (await instance.get_output())["amount"] == 21.0


async def test_out_of_stock_stops_before_payment(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.ORDER_WORKFLOW, "order-7") as instance:
        await instance.modify(lambda m: m.mock_step_result({"name": "check-inventory"}, {"inStock": False}))
        await env.ORDER_WORKFLOW.create(id="order-7", params=ORDER)
        assert await instance.get_output() == {"orderId": "order-7", "status": "failed", "reason": "out-of-stock"}
        assert instance.steps.names() == ["check-inventory"]


async def test_a_declined_card_errors_the_order(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.ORDER_WORKFLOW, "order-7") as instance:
        declined = {"name": "NonRetryableError", "message": "card declined"}
        await instance.modify(lambda m: m.mock_step_error({"name": "process-payment"}, declined))
        await env.ORDER_WORKFLOW.create(id="order-7", params=ORDER)
        assert await instance.get_error() == declined
        assert instance.steps[1].attempts == 1  # not retried


@pytest.mark.e2e
def test_end_to_end_under_pyflows_dev(dev):
    instance_id = dev.post("/")["instanceId"]
    final = dev.wait_for(instance_id, {"complete", "errored", "terminated"})
    assert final["status"] == "complete", final
    assert final["output"]["paymentAttempts"] == 3

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
