"""The project the benchmarks serve: a three-step workflow without sleeps, a one-hour sleeper, and a
Worker whose fetch handler creates one instance per request and returns its id.

    POST /create   -> {"instanceId"} of a new `bench-three` instance (3 steps, no sleeps)
    POST /sleep    -> {"instanceId"} of a new `bench-sleeper` instance (sleeps one hour)
    POST /batch    -> {"created": n} after `create_batch` of 100 new `bench-sleeper` instances
    GET  /ping     -> "pong-v1" (the hot-reload benchmark rewrites this string)
"""

from __future__ import annotations

from pathlib import Path

PING = "pong-v1"

CONFIG = """{
  "name": "pyflows-bench",
  "main": "src/entry.py",
  "compatibility_date": "2026-11-01",
  "compatibility_flags": ["python_workers"],
  "workflows": [
    {"name": "bench-three", "binding": "THREE", "class_name": "ThreeSteps"},
    {"name": "bench-sleeper", "binding": "SLEEPER", "class_name": "Sleeper"}
  ]
}
"""

ENTRY = """from urllib.parse import urlparse

from workers import Response, WorkerEntrypoint, WorkflowEntrypoint


class ThreeSteps(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("first")
        async def first():
            return {"n": 1}

        @step.do("second")
        async def second():
            return {"n": 2}

        @step.do("third")
        async def third():
            return {"n": 3}

        a = await first()
        b = await second()
        c = await third()
        return {"sum": a["n"] + b["n"] + c["n"]}


class Sleeper(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.sleep("nap", "1 hour")
        return "awake"


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = urlparse(request.url).path
        if path == "/ping":
            return Response("PING")
        if path == "/create":
            instance = await self.env.THREE.create()
            return Response.json({"instanceId": instance.id})
        if path == "/sleep":
            instance = await self.env.SLEEPER.create()
            return Response.json({"instanceId": instance.id})
        if path == "/batch":
            created = await self.env.SLEEPER.create_batch([{} for _ in range(100)])
            return Response.json({"created": len(created)})
        return Response("Not found", status=404)
""".replace("PING", PING)


def write_project(root: Path) -> Path:
    """Write the project into `root` (created); returns the Worker's path."""
    (root / "src").mkdir(parents=True)
    (root / "wrangler.jsonc").write_text(CONFIG)
    entry = root / "src" / "entry.py"
    entry.write_text(ENTRY)
    return entry
