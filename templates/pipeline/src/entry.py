import json
from urllib.parse import parse_qs, urlparse

from workers import Response, WorkerEntrypoint, WorkflowEntrypoint
from workers.workflows import NonRetryableError


class PipelineWorkflow(WorkflowEntrypoint):
    """Summarise a list of numbers with a DAG of steps.

    extract ──┬──> total ──┐
              ├──> mean  ──┼──> load
              └──> spread ─┘
    """

    async def run(self, event, step):
        # Each parameter of a step function names an earlier step: that step runs first
        # (once, even when several steps depend on it) and its result is passed in.
        # A parameter called `ctx` receives the step context instead.

        @step.do()
        async def extract():
            numbers = event["payload"].get("numbers")
            if not _is_list_of_numbers(numbers):
                # Retrying cannot fix bad input: fail now, without further attempts.
                raise NonRetryableError(f"'numbers' must be a non-empty list of numbers, got {numbers!r}")
            return numbers

        @step.do()
        async def total(extract):
            return sum(extract)

        @step.do()
        async def mean(extract):
            return round(sum(extract) / len(extract), 2)

        @step.do()
        async def spread(extract):
            return {"min": min(extract), "max": max(extract)}

        # concurrent=True: this step's dependencies (total, mean, spread) run at the same time.
        @step.do(
            concurrent=True,
            config={
                "retries": {"limit": 3, "delay": "1 second", "backoff": "exponential"},
                "timeout": "30 seconds",
            },
        )
        async def load(extract, total, mean, spread, ctx):
            # Mock: the warehouse is busy on the first attempt. The step is retried after
            # 1 second (then 2, then 4: exponential backoff), and the second attempt succeeds.
            if ctx["attempt"] == 1:
                raise ConnectionError("warehouse busy, try again later")
            return {
                "count": len(extract),
                "total": total,
                "mean": mean,
                "min": spread["min"],
                "max": spread["max"],
                "loadedOnAttempt": ctx["attempt"],
            }

        # Awaiting the last step runs the whole DAG.
        return await load()


def _is_list_of_numbers(value):
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in value)
    )


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlparse(request.url)
        if url.path != "/":
            return Response("Not found", status=404)

        # POST / {"numbers": [...]}: start a run.
        if request.method == "POST":
            text = await request.text()
            params = json.loads(text) if text else {}
            instance = await self.env.PIPELINE_WORKFLOW.create({"params": params})
            return Response.json({"instanceId": instance.id})

        # GET /?instanceId=<id>: the status of a run.
        query = parse_qs(url.query)
        if "instanceId" in query:
            instance = await self.env.PIPELINE_WORKFLOW.get(query["instanceId"][0])
            return Response.json(await instance.status())

        return Response(
            'POST / with {"numbers": [3, 1, 4, 1, 5]} to start a run, then GET /?instanceId=<id>\n',
            status=400,
        )
