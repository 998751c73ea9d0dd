import json
from urllib.parse import parse_qs, urlparse

from workers import Response, WorkerEntrypoint, WorkflowEntrypoint

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS reports (id TEXT PRIMARY KEY, name TEXT NOT NULL, "
    "object_key TEXT NOT NULL, size INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 1)"
)


class ReportWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        report_id = event["instanceId"]
        name = event["payload"].get("name", "World")
        fail_once = event["payload"].get("fail_once", False)

        # Binding writes are NOT rolled back when a step fails and is retried (as on Cloudflare).
        # So every write here is idempotent: keyed by the instance id, safe to repeat.
        @step.do("store report")
        async def store_report():
            key = f"reports/{report_id}.json"  # same key on every attempt: a retry overwrites, never duplicates
            body = json.dumps({"id": report_id, "greeting": f"Hello, {name}!"})
            obj = await self.env.BUCKET.put(
                key, body, {"httpMetadata": {"contentType": "application/json"}, "customMetadata": {"name": name}}
            )
            return {"key": key, "size": obj.size, "etag": obj.etag}

        stored = await store_report()

        @step.do("record in D1", config={"retries": {"limit": 2, "delay": "1 second", "backoff": "constant"}})
        async def record(ctx):
            await self.env.DB.exec(SCHEMA)
            # INSERT ... ON CONFLICT: the row is written once however many attempts run.
            await (
                self.env.DB.prepare(
                    "INSERT INTO reports (id, name, object_key, size) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(id) DO UPDATE SET attempts = attempts + 1"
                )
                .bind(report_id, name, stored["key"], stored["size"])
                .run()
            )
            if fail_once and ctx["attempt"] == 1:
                raise RuntimeError("simulated failure after the write: the retry must not duplicate it")
            row = await self.env.DB.prepare("SELECT * FROM reports WHERE id = ?").bind(report_id).first()
            return {"id": row["id"], "attempts": row["attempts"]}

        return {"report": await record(), "object": stored}


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlparse(request.url)
        query = parse_qs(url.query)

        # GET /reports: every recorded report, from D1.
        if url.path == "/reports":
            await self.env.DB.exec(SCHEMA)
            result = await self.env.DB.prepare("SELECT * FROM reports ORDER BY id").all()
            return Response.json(result.results)

        # GET /reports/<id>: the stored object, from R2, with its HTTP metadata.
        if url.path.startswith("/reports/"):
            obj = await self.env.BUCKET.get(f"reports/{url.path.removeprefix('/reports/')}.json")
            if obj is None:
                return Response("Not found", status=404)
            headers = {}
            obj.writeHttpMetadata(headers)
            return Response(await obj.text(), headers=headers)

        if url.path != "/":
            return Response("Not found", status=404)

        # GET /?instanceId=<id>: the status of an instance.
        if "instanceId" in query:
            instance = await self.env.REPORTS_WORKFLOW.get(query["instanceId"][0])
            return Response.json(await instance.status())

        # GET /?name=Alice[&fail_once=1]: start an instance.
        params = {"name": query.get("name", ["World"])[0], "fail_once": "fail_once" in query}
        instance = await self.env.REPORTS_WORKFLOW.create({"params": params})
        return Response.json({"instanceId": instance.id})
