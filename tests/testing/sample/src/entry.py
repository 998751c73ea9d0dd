"""Workflows the pyflows.testing tests drive. CALLS records every real step execution."""

import json
from datetime import datetime, timedelta

from workers import Response, WorkerEntrypoint, WorkflowEntrypoint

CALLS = []
QUEUED = []  # order ids the queue consumer handled
STEP_NAMES = {"second": "second"}  # the replay test renames a step between runs


class OrderWorkflow(WorkflowEntrypoint):
    """Three steps, a one-hour sleep and an event: the shape of the issue's benchmark."""

    async def run(self, event, step):
        @step.do("reserve")
        async def reserve():
            CALLS.append("reserve")
            return {"reserved": True}

        reserved = await reserve()

        @step.do("charge", config={"retries": {"limit": 2, "delay": "10 seconds", "backoff": "exponential"}})
        async def charge(ctx):
            CALLS.append(f"charge#{ctx['attempt']}")
            return {"charged": event["payload"].get("amount", 10)}

        charged = await charge()
        await step.sleep("cool off", "1 hour")
        try:
            approval = await step.wait_for_event("approval", "approval", timeout="2 hours")
        except Exception as exc:
            return {"reserved": reserved, "charged": charged, "timedOut": type(exc).__name__}

        @step.do("ship")
        async def ship():
            CALLS.append("ship")
            return {"shipped": approval["payload"]["ok"]}

        shipped = await ship()
        return {"reserved": reserved, "charged": charged, "shipped": shipped}


class FlakyWorkflow(WorkflowEntrypoint):
    """A step failing until attempt `succeedOn` (default 3), 1 minute exponential back-off; then maybe a sleep_until."""

    async def run(self, event, step):
        succeed_on = event["payload"].get("succeedOn", 3)

        @step.do("call api", config={"retries": {"limit": 4, "delay": "1 minute", "backoff": "exponential"}})
        async def call_api(ctx):
            CALLS.append(f"call api#{ctx['attempt']}")
            if ctx["attempt"] < succeed_on:
                raise ConnectionError(f"api down (attempt {ctx['attempt']})")
            return ctx["attempt"]

        attempt = await call_api()
        if event["payload"].get("sleepUntil"):
            await step.sleep_until("until tomorrow", datetime.utcnow() + timedelta(days=1))
        return {"attempt": attempt}


class ReplayedWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("inner")
        async def inner():
            return 0

        @step.do("first")
        async def first():
            if event["payload"].get("nested"):  # a step called inside another step's callback
                return 1 + await inner()
            return 1

        await first()
        if STEP_NAMES.get("stopAfterFirst"):
            return {"done": True}

        @step.do(STEP_NAMES["second"])
        async def second():
            return 2

        await second()
        if event["payload"].get("outputOutsideStep"):
            return {"at": STEP_NAMES.get("output", "a")}
        return {"done": True}


class SameNameWorkflow(WorkflowEntrypoint):
    """A sleep and a step.do of the same name: step counts are per kind, so both are {'name': 'x', 'index': 1}."""

    async def run(self, event, step):
        await step.sleep("x", "1 second")

        @step.do("x")
        async def x():
            return 5

        return await x()


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        if request.method == "POST" and request.url.endswith("/orders"):
            body = json.loads(await request.text() or "{}")
            instance = await self.env.ORDER.create({"params": body})
            return Response.json({"id": instance.id})
        if request.url.endswith("/orders/total"):
            row = await self.env.DB.prepare("SELECT sum(amount) AS total FROM orders").first()
            return Response.json({"total": row["total"]})
        if request.url.endswith("/config"):
            flag = await self.env.CACHE.get("flag")
            readme = await self.env.FILES.get("README.txt")
            return Response.json({"flag": flag, "readme": await readme.text() if readme else None})
        if request.method == "POST" and request.url.endswith("/batch"):
            instances = await self.env.ORDER.create_batch([{"params": {"amount": n}} for n in (1, 2, 3)])
            return Response.json({"ids": [i.id for i in instances]})
        return Response(f"{self.env.GREETING} from the sample", status=200)

    async def scheduled(self, controller, env, ctx):
        await self.env.ORDER.create({"id": "cron-order", "params": {"amount": 1, "cron": controller.cron}})

    async def queue(self, batch):
        for message in batch.messages:
            if message.body.get("fail"):
                message.retry(delaySeconds=30)
                continue
            if message.body.get("crash"):
                raise RuntimeError("the consumer crashed")
            QUEUED.append(message.body["order"])
            message.ack()
