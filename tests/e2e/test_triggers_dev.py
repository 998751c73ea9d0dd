"""Every way a Workflow gets started, under a real `pyflows dev` on a free port (issue 12).

Cron Triggers (the three test routes and --run-crons), workflow `schedules`, Queues (batch acked, retried
then dead-lettered, an un-acked message surviving SIGKILL), Durable Objects (state across requests and
SIGKILL, SQL API, alarm after a restart, two concurrent calls serialized) and a service binding RPC.
Handlers append to a file (`env.LOG`) so what really ran is checked across processes.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from pyflows.testing.devserver import DevServer

API = "/cdn-cgi/local/explorer/api"
pytestmark = pytest.mark.slow

ENTRY = """
import asyncio
import json
import time

from workers import DurableObject, Response, WorkerEntrypoint, WorkflowEntrypoint


def log(env, **what):
    with open(env.LOG, "a") as f:
        f.write(json.dumps(what) + "\\n")


class Started(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do()
        async def record():
            log(self.env, kind="workflow", id=event["instanceId"], payload=event["payload"],
                schedule=event.get("schedule"))
            return {"payload": event["payload"], "schedule": event.get("schedule")}

        return await record()


class Counter(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        self.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS hits (n INTEGER)")

    async def increment(self, by):
        n = (await self.ctx.storage.get("n")) or 0
        await asyncio.sleep(0.05)  # a second call arriving now must wait (input gate)
        await self.ctx.storage.put("n", n + by)
        self.ctx.storage.sql.exec("INSERT INTO hits (n) VALUES (?)", n + by)
        return n + by

    async def hits(self):
        cur = self.ctx.storage.sql.exec("SELECT count(*) AS c, max(n) AS top FROM hits")
        return cur.one()

    async def arm(self, ms):
        await self.ctx.storage.setAlarm(int(time.time() * 1000) + ms)
        return await self.ctx.storage.getAlarm()

    async def alarm(self, info=None):
        log(self.env, kind="alarm", id=str(self.ctx.id))
        inst = await self.env.STARTED.create(params={"from": "alarm"})
        await self.ctx.storage.put("alarm_instance", inst.id)


class Admin(WorkerEntrypoint):
    async def start(self, who):
        inst = await self.env.STARTED.create(params={"from": "service", "who": who})
        return {"id": inst.id}


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = request.url.split("?")[0].rsplit("/", 1)[-1]
        if path == "send":
            body = await request.json()
            await self.env.JOBS.send(body)
            return Response("sent")
        if path == "batch":
            body = await request.json()
            await self.env.JOBS.sendBatch([{"body": b} for b in body])
            return Response("sent")
        if path == "inc":
            return Response.json({"n": await self.env.COUNTER.getByName("a").increment(1)})
        if path == "hits":
            return Response.json(await self.env.COUNTER.getByName("a").hits())
        if path == "arm":
            return Response.json({"at": await self.env.COUNTER.getByName("a").arm(1500)})
        if path == "svc":
            return Response.json(await self.env.ADMIN.start("fetch"))
        return Response("hello")

    async def scheduled(self, controller, env, ctx):
        log(env, kind="scheduled", cron=controller.cron, time=controller.scheduledTime, type=controller.type)
        await env.STARTED.create(params={"cron": controller.cron})

    async def queue(self, batch):
        for m in batch.messages:
            log(self.env, kind="queue", queue=batch.queue, body=m.body, attempts=m.attempts, id=m.id)
            if batch.queue == "dlq":
                m.ack()
                await self.env.STARTED.create(params={"dead": m.body})
            elif m.body.get("hang") and m.attempts == 1:
                await asyncio.sleep(3600)  # killed while in flight
            elif m.body.get("fail"):
                m.retry()
            else:
                m.ack()
                await self.env.STARTED.create(params={"job": m.body})
"""

CONFIG = {
    "name": "starter",
    "main": "src/entry.py",
    "compatibility_date": "2026-02-25",
    "compatibility_flags": ["python_workers"],
    "triggers": {"crons": ["*/30 * * * *"]},
    "workflows": [{"name": "started", "binding": "STARTED", "class_name": "Started"}],
    "queues": {
        "producers": [{"binding": "JOBS", "queue": "jobs"}],
        "consumers": [
            {
                "queue": "jobs",
                "max_batch_size": 3,
                "max_batch_timeout": 1,
                "max_retries": 2,
                "dead_letter_queue": "dlq",
            },
            {"queue": "dlq", "max_batch_timeout": 0},
        ],
    },
    "durable_objects": {"bindings": [{"name": "COUNTER", "class_name": "Counter"}]},
    "migrations": [{"tag": "v1", "new_sqlite_classes": ["Counter"]}],
    "services": [{"binding": "ADMIN", "service": "starter", "entrypoint": "Admin"}],
}


def make_project(root: Path, **overrides: Any) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "entry.py").write_text(ENTRY)
    config = {**CONFIG, **overrides, "vars": {"LOG": str(root / "log.jsonl")}}
    (root / "wrangler.jsonc").write_text(json.dumps(config, indent=2))
    return root


class Dev(DevServer):
    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        path = self.project / "log.jsonl"
        if not path.exists():
            return []
        rows = [json.loads(line) for line in path.read_text().splitlines() if line]
        return [r for r in rows if kind is None or r["kind"] == kind]

    def wait_records(self, kind: str, count: int, timeout: float = 15) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.records(kind)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{count} {kind!r} records did not appear: {self.records()}\n{self.output()}")

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, str]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=15) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def instances(self) -> list[dict[str, Any]]:
        status, text = self.request("GET", f"{API}/workflows/started/instances?per_page=100")
        assert status == 200, text
        return json.loads(text)["result"]

    def wait_complete(self, count: int, timeout: float = 15) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = [i for i in self.instances() if i["status"] == "complete"]
            if len(done) >= count:
                return done
            time.sleep(0.05)
        raise AssertionError(f"{count} complete instances did not appear: {self.instances()}\n{self.output()}")

    def output_of(self, instance_id: str) -> Any:
        status, text = self.request(
            "GET", f"{API}/workflows/started/instances/{urllib.parse.quote(instance_id, safe='')}"
        )
        assert status == 200, text
        return json.loads(text)["result"]["output"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "app")


def test_cron_fired_by_each_test_route_starts_a_workflow(project: Path) -> None:
    dev = Dev(project).ready()
    try:
        cron = urllib.parse.quote("*/30 * * * *")
        assert dev.request("GET", f"/__scheduled?cron={cron}&time=1767225600000") == (200, "ok")
        assert dev.request("GET", f"/cdn-cgi/handler/scheduled?cron={cron}") == (200, "ok")
        status, text = dev.request("POST", f"{API}/local/scheduled?worker=starter", {"cron": "0 9 * * *"})
        assert status == 200 and json.loads(text)["result"] == {"outcome": "ok", "noRetry": False}
        fired = dev.wait_records("scheduled", 3)
        assert [r["cron"] for r in fired] == ["*/30 * * * *", "*/30 * * * *", "0 9 * * *"]
        assert fired[0]["time"] == 1767225600000 and fired[0]["type"] == "scheduled"
        done = dev.wait_complete(3)
        assert sorted(dev.output_of(i["id"])["payload"]["cron"] for i in done) == sorted(r["cron"] for r in fired)
        dev.wait_for_output(r'scheduled "0 9 \* \* \*" at \S+: ok')
        workers = json.loads(dev.request("GET", f"{API}/local/workers")[1])["result"]
        assert workers[0]["triggers"] == {"crons": ["*/30 * * * *"]}
        assert workers[0]["bindings"]["do"][0]["id"] == "starter-Counter"
        # A caller's mistakes are 4xx, never 5xx.
        assert dev.request("POST", f"{API}/local/scheduled?worker=nope", {"cron": "* * * * *"})[0] == 404
        assert dev.request("POST", f"{API}/local/scheduled?worker=starter", {})[0] == 400
        assert dev.request("GET", "/__scheduled?time=soon")[0] == 400
    finally:
        dev.stop()


def test_run_crons_and_workflow_schedules_fire_on_their_schedule(tmp_path: Path) -> None:
    project = make_project(
        tmp_path / "app",
        triggers={"crons": ["* * * * *"]},
        workflows=[{"name": "started", "binding": "STARTED", "class_name": "Started", "schedules": ["* * * * *"]}],
    )
    dev = Dev(project, "--run-crons").ready()
    try:
        line = dev.wait_for_output(r'scheduled "\* \* \* \* \*" at (\S+): ok', timeout=75)
        assert line.group(1).endswith(":00.000Z")  # on the minute, UTC
        created = dev.wait_for_output(
            r'schedule "\* \* \* \* \*" at \S+: created started instance "([^"]+)"', timeout=75
        )
        instance_id = created.group(1)
        deadline = time.monotonic() + 15
        while dev.output_of(instance_id) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        output = dev.output_of(instance_id)
        assert output["payload"] == {}
        assert output["schedule"]["cron"] == "* * * * *"
        assert output["schedule"]["scheduledTime"] % 60_000 == 0
        assert instance_id == f"* * * * *-{output['schedule']['scheduledTime']}"  # Cloudflare's "<cron>-<ms>"
        described = dev.run_cli("instances", "describe", "started", instance_id, "--json")  # the CLI names it
        assert described.returncode == 0, described.stderr
        assert json.loads(described.stdout)["output"]["schedule"] == output["schedule"]
    finally:
        dev.stop()


def test_queue_batch_acked_and_a_failing_message_retried_then_dead_lettered(project: Path) -> None:
    dev = Dev(project).ready()
    try:
        assert dev.request("POST", "/batch", [{"n": 1}, {"n": 2}, {"n": 3}]) == (200, "sent")
        rows = dev.wait_records("queue", 3)
        assert sorted(r["body"]["n"] for r in rows) == [1, 2, 3] and all(r["attempts"] == 1 for r in rows)
        dev.wait_for_output(r"queue jobs \(3 messages\): 3 acked, 0 retried")
        assert dev.request("POST", "/send", {"fail": True}) == (200, "sent")
        dev.wait_records("queue", 3 + 3 + 1, timeout=20)  # 3 deliveries (max_retries 2), then the DLQ
        failing = [r for r in dev.records("queue") if r["body"].get("fail")]
        assert [(r["queue"], r["attempts"]) for r in failing] == [("jobs", 1), ("jobs", 2), ("jobs", 3), ("dlq", 1)]
        assert len({r["id"] for r in failing}) == 1
        done = dev.wait_complete(4)
        payloads = [dev.output_of(i["id"])["payload"] for i in done]
        assert {"dead": {"fail": True}} in payloads and {"job": {"n": 2}} in payloads
        dev.wait_for_output(r"\[WARNING\] Queue jobs: message \S+ failed 3 times and was moved", stream="err")
    finally:
        dev.stop()


def test_unacked_queue_message_survives_kill_and_is_redelivered(project: Path) -> None:
    dev = Dev(project).ready()
    try:
        dev.request("POST", "/send", {"hang": True})
        first = dev.wait_records("queue", 1)
        assert first[0]["attempts"] == 1
        dev.kill()
    finally:
        dev.stop()
    dev = Dev(project).ready()
    try:
        rows = dev.wait_records("queue", 2, timeout=20)
        assert rows[1]["id"] == first[0]["id"] and rows[1]["attempts"] == 2
        dev.wait_complete(1)
    finally:
        dev.stop()


def test_durable_object_state_sql_gate_and_alarm_across_kill(project: Path) -> None:
    dev = Dev(project).ready()
    try:
        results: list[int] = []

        def call() -> None:
            results.append(json.loads(dev.request("GET", "/inc")[1])["n"])

        threads = [threading.Thread(target=call) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [1, 2]  # serialized: without the input gate both would read 0 and return 1
        assert json.loads(dev.request("GET", "/hits")[1]) == {"c": 2, "top": 2}
        at = json.loads(dev.request("GET", "/arm")[1])["at"]
        assert at > time.time() * 1000
        dev.kill()  # before the alarm is due
    finally:
        dev.stop()
    files = list((project / ".wrangler" / "state" / "v3" / "do" / "starter-Counter").glob("*.sqlite"))
    assert len([f for f in files if f.name != "metadata.sqlite"]) == 1 and len(files[0].stem) in (64, 8)
    dev = Dev(project).ready()
    try:
        assert json.loads(dev.request("GET", "/inc")[1])["n"] == 3  # storage survived SIGKILL
        dev.wait_records("alarm", 1, timeout=15)
        done = dev.wait_complete(1)
        assert dev.output_of(done[0]["id"])["payload"] == {"from": "alarm"}
    finally:
        dev.stop()


def test_service_binding_rpc_starts_a_workflow(project: Path) -> None:
    dev = Dev(project).ready()
    try:
        status, text = dev.request("GET", "/svc")
        assert status == 200, text
        instance_id = json.loads(text)["id"]
        dev.wait_complete(1)
        assert dev.output_of(instance_id)["payload"] == {"from": "service", "who": "fetch"}
    finally:
        dev.stop()


def test_a_startup_error_on_the_first_start_waits_for_the_fix(tmp_path: Path) -> None:
    project = make_project(tmp_path / "app")
    entry = project / "src" / "entry.py"
    good = entry.read_text()
    entry.write_text(good.replace("async def scheduled(", "async def not_scheduled("))
    dev = Dev(project)
    try:
        dev.wait_for_output(
            r"triggers\.crons is \['\*/30 \* \* \* \*'\], but src/entry\.py has no scheduled", stream="err"
        )
        dev.wait_for_output(r"Fix it and save again; no server is running", stream="err")
        time.sleep(0.5)
        assert dev.proc.poll() is None, dev.output()  # still running: watching for the fix, as after a reload
        assert "Traceback" not in dev.output()
        entry.write_text(good)  # the fix
        dev.ready()
        assert dev.request("GET", "/__scheduled?cron=*/30+*+*+*+*") == (200, "ok")  # the trigger works
        assert dev.wait_records("scheduled", 1)[0]["cron"] == "*/30 * * * *"
        dev.wait_complete(1)
    finally:
        dev.stop()


A_ENTRY = """
from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        inst = await self.env.BFLOW.create(params={"from": "a"})
        n = await self.env.BOX.getByName("x").bump()
        return Response.json({"id": inst.id, "sum": await self.env.B.add(1, 2), "n": n})
"""

B_ENTRY = """
from workers import DurableObject, WorkerEntrypoint, WorkflowEntrypoint


class BFlow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do()
        async def s():
            return {"payload": event["payload"], "who": self.env.WHO}

        return await s()


class Box(DurableObject):
    async def bump(self):
        n = (await self.ctx.storage.get("n") or 0) + 1
        await self.ctx.storage.put("n", n)
        return n


class Api(WorkerEntrypoint):
    async def add(self, a, b):
        return a + b + len(self.env.WHO)
"""


def test_two_configs_worker_a_starts_a_workflow_defined_by_worker_b(tmp_path: Path) -> None:
    base = {"main": "src/entry.py", "compatibility_date": "2026-02-25", "compatibility_flags": ["python_workers"]}
    a = {
        **base,
        "name": "a",
        "workflows": [{"name": "b-flow", "binding": "BFLOW", "class_name": "BFlow", "script_name": "b"}],
        "services": [{"binding": "B", "service": "b", "entrypoint": "Api"}],
        "durable_objects": {"bindings": [{"name": "BOX", "class_name": "Box", "script_name": "b"}]},
    }
    b = {
        **base,
        "name": "b",
        "vars": {"WHO": "bee"},
        "workflows": [{"name": "b-flow", "binding": "BFLOW", "class_name": "BFlow"}],
        "durable_objects": {"bindings": [{"name": "BOX", "class_name": "Box"}]},
        "migrations": [{"tag": "v1", "new_sqlite_classes": ["Box"]}],
    }
    for name, cfg, entry in (("a", a, A_ENTRY), ("b", b, B_ENTRY)):
        (tmp_path / name / "src").mkdir(parents=True)
        (tmp_path / name / "src" / "entry.py").write_text(entry)
        (tmp_path / name / "wrangler.jsonc").write_text(json.dumps(cfg))
    dev = Dev(tmp_path, "-c", "a/wrangler.jsonc", "-c", "b/wrangler.jsonc").ready()
    try:
        status, text = dev.request("GET", "/")
        assert status == 200, dev.output()
        reply = json.loads(text)
        assert reply["sum"] == 1 + 2 + len("bee") and reply["n"] == 1  # B's entrypoint and object, B's env
        status, text = dev.request("GET", f"{API}/workflows")
        assert [w["name"] for w in json.loads(text)["result"]] == ["b-flow"]
        workers = json.loads(dev.request("GET", f"{API}/local/workers")[1])["result"]
        assert [(w["name"], w["isSelf"]) for w in workers] == [("a", True), ("b", False)]
        assert workers[1]["bindings"]["do"][0]["id"] == "b-Box"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            _, text = dev.request("GET", f"{API}/workflows/b-flow/instances/{reply['id']}")
            if json.loads(text)["result"]["status"] == "complete":
                break
            time.sleep(0.05)
        assert json.loads(text)["result"]["output"] == {"payload": {"from": "a"}, "who": "bee"}
        # Saving B's code reloads the session too.
        b_entry = tmp_path / "b" / "src" / "entry.py"
        b_entry.write_text(b_entry.read_text().replace("return a + b + len", "return 100 + a + b + len"))
        dev.wait_for_output(r"⎔ Reloading: .*entry\.py changed\n⎔ Local server updated and ready")
        assert json.loads(dev.request("GET", "/")[1])["sum"] == 100 + 1 + 2 + len("bee")
    finally:
        dev.stop()


def test_binding_to_a_worker_outside_the_session_is_a_startup_error(tmp_path: Path) -> None:
    project = make_project(tmp_path / "app", services=[{"binding": "ADMIN", "service": "billing"}])
    dev = Dev(project)
    try:
        dev.wait_for_output(r"services\[0\]\.service is 'billing', but no Worker of that name", stream="err")
        dev.wait_for_output(r"Fix it and save again; no server is running", stream="err")
        assert dev.proc.poll() is None  # waits for the fix (issue 12), as after a reload
        config = json.loads((project / "wrangler.jsonc").read_text())
        config["services"] = [{"binding": "ADMIN", "service": "starter", "entrypoint": "Admin"}]
        (project / "wrangler.jsonc").write_text(json.dumps(config))
        dev.ready()
    finally:
        dev.stop()
