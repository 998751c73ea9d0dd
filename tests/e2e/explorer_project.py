"""The project the explorer's browser tests and bench run `pyflows dev` on.

`dag-workflow`: two independent steps run together (concurrent=True), a combining step, steps made
in a loop with computed names, a sleep of `params.sleep` (default 1 hour: a test presses Wake now), a
wait for an `approve` event, and a retrying step when `params.flaky`. `xss-workflow`: a step whose
name and output carry an XSS payload.
"""

from __future__ import annotations

from pathlib import Path

XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'

WRANGLER_JSONC = """{
  "name": "explorer-e2e",
  "main": "src/entry.py",
  "compatibility_date": "2026-11-01",
  "compatibility_flags": ["python_workers"],
  "workflows": [
    {"name": "dag-workflow", "binding": "DAG", "class_name": "DagWorkflow"},
    {"name": "xss-workflow", "binding": "XSS", "class_name": "XssWorkflow"}
  ]
}
"""

ENTRY_PY = """
import asyncio

from workers import Response, WorkerEntrypoint, WorkflowEntrypoint

XSS = XSS_LITERAL


class DagWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        params = event["payload"] or {}

        @step.do()
        async def fetch_users():
            return ["ada", "grace"]

        @step.do()
        async def fetch_orders():
            return [1, 2, 3]

        @step.do(concurrent=True)
        async def combine(fetch_users, fetch_orders):
            return {"users": len(fetch_users), "orders": len(fetch_orders)}

        summary = await combine()
        for i in range(params.get("items", 2)):

            @step.do(f"item-{i}")
            async def item():
                return i * 10

            await item()
        if params.get("flaky"):

            @step.do("flaky", config={"retries": {"limit": 3, "delay": "1 hour", "backoff": "constant"}})
            async def flaky(ctx):
                if ctx["attempt"] < 2:
                    raise ValueError("first attempt fails")
                return ctx["attempt"]

            await flaky()
        await step.sleep("nap", params.get("sleep", "1 hour"))
        try:
            approval = await step.wait_for_event("approval", "approve", timeout="1 hour")
        except Exception:
            return {"summary": summary, "approved": False}
        return {"summary": summary, "approved": approval["payload"]}


class XssWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do(XSS)
        async def evil():
            return {"html": XSS}

        return await evil()


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("explorer e2e")
""".replace("XSS_LITERAL", repr(XSS))


def write_project(root: Path) -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "wrangler.jsonc").write_text(WRANGLER_JSONC)
    (root / "src" / "entry.py").write_text(ENTRY_PY)
    return root
