from urllib.parse import parse_qs, urlparse

from workers import Response, WorkerEntrypoint, WorkflowEntrypoint


class JobWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        job = event["payload"]

        @step.do("process")
        async def process():
            return {"job": job["job"], "result": job.get("value", 0) * 2, "deadLettered": job.get("dead", False)}

        return await process()


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        query = parse_qs(urlparse(request.url).query)
        if "instanceId" in query:
            try:
                instance = await self.env.JOB_WORKFLOW.get(query["instanceId"][0])
            except Exception:
                # The consumer has not received the message yet (a batch waits up to 1 second).
                return Response.json({"status": "unknown", "error": None, "output": None})
            return Response.json(await instance.status())
        if request.method == "POST":
            job = await request.json()
            await self.env.JOBS.send(job)
            return Response.json({"queued": job["job"], "instanceId": f"job-{job['job']}"})
        return Response('POST {"job": "a1", "value": 21} to queue a job\n')

    async def queue(self, batch):
        for message in batch.messages:
            job = message.body
            if batch.queue == "jobs-dlq":
                # Out of retries: record it as a Workflow instance too, then ack.
                await self.env.JOB_WORKFLOW.create(id=f"job-{job['job']}", params={**job, "dead": True})
                message.ack()
            elif job.get("fail"):
                message.retry()  # redelivered until max_retries, then sent to jobs-dlq
            else:
                await self.env.JOB_WORKFLOW.create(id=f"job-{job['job']}", params=job)
                message.ack()
