import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

from workers import Response, WorkerEntrypoint, WorkflowEntrypoint

# What POST / uses when the request has no body.
SAMPLE_ORDER = {
    "orderId": "order-1001",
    "customerId": "cust-42",
    "email": "ada@example.com",
    "items": [
        {"productId": "widget", "quantity": 2, "price": 49.99},
        {"productId": "gadget", "quantity": 1, "price": 30.01},
    ],
    "paymentMethod": {"type": "card", "id": "pm-visa-4242"},
}


def calculate_total(items):
    return round(sum(item["quantity"] * item["price"] for item in items), 2)


class OrderProcessingWorkflow(WorkflowEntrypoint):
    """Check inventory, charge the payment method, email a confirmation, update the database.

    Each call to another service is its own step: if the payment service has a temporary
    outage, only the payment step is retried; the inventory check does not run again.
    """

    async def run(self, event, step):
        order = event["payload"]

        # Step 1: check inventory
        @step.do("check-inventory")
        async def check_inventory():
            print(f"Checking inventory for order {order['orderId']}")
            # Mock: in a real Workflow you would query your inventory system.
            return {
                "inStock": True,
                "reservationId": "inv-123456",
                "itemsChecked": len(order["items"]),
            }

        inventory = await check_inventory()

        # Exit the Workflow if the items are not in stock
        if not inventory["inStock"]:
            return {"orderId": order["orderId"], "status": "failed", "reason": "out-of-stock"}

        # Step 2: process the payment, with its own retry policy. (In production you would
        # use a longer delay, e.g. "30 seconds"; it is short here so the example finishes fast.)
        @step.do(
            "process-payment",
            config={
                "retries": {"limit": 3, "delay": "1 second", "backoff": "exponential"},
                "timeout": "2 minutes",
            },
        )
        async def process_payment(ctx):
            print(f"Processing payment for order {order['orderId']} (attempt {ctx['attempt']})")
            # Mock: the payment processor has a temporary outage and the first two attempts
            # fail. Raising an error makes Workflows retry the step (after 1 s, then 2 s).
            if ctx["attempt"] < 3:
                raise RuntimeError(f"Payment failed: processor unavailable (attempt {ctx['attempt']})")
            return {
                "transactionId": "txn-789012",
                "amount": calculate_total(order["items"]),
                "attempts": ctx["attempt"],
            }

        payment = await process_payment()

        # Step 3: send the confirmation email
        @step.do("send-confirmation-email")
        async def send_confirmation_email():
            print(f"Sending confirmation email for order {order['orderId']}")
            print(f"Including payment confirmation {payment['transactionId']}")
            # Mock: call your email provider here.
            return {"to": order["email"], "from": self.env.EMAIL_FROM, "sent": True}

        await send_confirmation_email()

        # Step 4: update the database. The time is taken inside the step, so a replay of
        # `run` returns the recorded value instead of a new one.
        @step.do("update-database")
        async def update_database():
            print(f"Updating database for order {order['orderId']}")
            # Mock: write the order's new status to your database here.
            return {"dbUpdated": True, "processedAt": datetime.now(UTC).isoformat()}

        db = await update_database()

        # The final state of the Workflow
        return {
            "orderId": order["orderId"],
            "transactionId": payment["transactionId"],
            "amount": payment["amount"],
            "paymentAttempts": payment["attempts"],
            "processedAt": db["processedAt"],
        }


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlparse(request.url)
        if url.path != "/":
            return Response("Not found", status=404)

        # POST / with an order (or no body, for SAMPLE_ORDER): start processing it.
        if request.method == "POST":
            text = await request.text()
            order = json.loads(text) if text else SAMPLE_ORDER
            instance = await self.env.ORDER_WORKFLOW.create({"params": order})
            return Response.json({"instanceId": instance.id})

        # GET /?instanceId=<id>: the status of an order.
        query = parse_qs(url.query)
        if "instanceId" in query:
            instance = await self.env.ORDER_WORKFLOW.get(query["instanceId"][0])
            return Response.json(await instance.status())

        return Response("POST / to place an order, then GET /?instanceId=<id>\n", status=400)
