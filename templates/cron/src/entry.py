from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

from workers import Response, WorkerEntrypoint, WorkflowEntrypoint


class DailyReport(WorkflowEntrypoint):
    async def run(self, event, step):
        day = event["payload"]["day"]

        @step.do("collect")
        async def collect():
            # Mock: in a real Workflow you would query D1 or an API for the day's numbers.
            return {"day": day, "orders": len(day) * 7}

        @step.do("summarize")
        async def summarize(collect):
            return {"report": f"{collect['orders']} orders on {collect['day']}", "cron": event["payload"]["cron"]}

        return await summarize()


class Default(WorkerEntrypoint):
    async def scheduled(self, controller, env, ctx):
        # One instance per day: its id is the date, so a second firing the same day is a no-op.
        day = datetime.fromtimestamp(controller.scheduledTime / 1000, UTC).date().isoformat()
        try:
            await env.REPORT.create(id=f"report-{day}", params={"day": day, "cron": controller.cron})
        except Exception:
            print(f"report-{day} already exists")

    async def fetch(self, request):
        query = parse_qs(urlparse(request.url).query)
        if "instanceId" in query:
            instance = await self.env.REPORT.get(query["instanceId"][0])
            return Response.json(await instance.status())
        return Response("Fire the cron with GET /__scheduled?cron=0+6+*+*+*\n")
