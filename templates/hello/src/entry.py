from urllib.parse import parse_qs, urlparse

from workers import Response, WorkerEntrypoint, WorkflowEntrypoint


class MyWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        # A step's return value is persisted: if the Workflow is interrupted or a later
        # step fails, it resumes from here without running this step again.
        @step.do("fetch data")
        async def fetch_data():
            # Mock: in a real Workflow you would call an API here.
            name = event["payload"].get("name", "World")
            return {"name": name, "greeting": "Hello"}

        data = await fetch_data()

        # Sleeping costs nothing; in production this could be "1 day".
        await step.sleep("pause", "2 seconds")

        @step.do(
            "process data",
            config={"retries": {"limit": 3, "delay": "5 seconds", "backoff": "linear"}},
        )
        async def process_data():
            return {"message": f"{data['greeting']}, {data['name']}!"}

        # The return value of `run` becomes the instance's output.
        return await process_data()


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlparse(request.url)
        if url.path != "/":
            return Response("Not found", status=404)

        query = parse_qs(url.query)

        # GET /?instanceId=<id>: the status of an existing instance.
        if "instanceId" in query:
            instance = await self.env.MY_WORKFLOW.get(query["instanceId"][0])
            return Response.json(await instance.status())

        # GET / or POST / (optionally ?name=Alice): start a new instance.
        name = query.get("name", ["World"])[0]
        instance = await self.env.MY_WORKFLOW.create({"params": {"name": name}})
        return Response.json({"instanceId": instance.id})
