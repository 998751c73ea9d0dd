"""The Local Explorer API, in-process against a real Store and Engine.

Expected shapes, codes and messages are the ones Wrangler 4.164 really serves:
`wrangler workflows ... --local` must be able to drive `pyflows dev` unchanged.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pyflows.runtime.server.app import Runtime, create_app
from pyflows.runtime.server.explorer.routes import API_PREFIX, OPENAPI_PATH
from pyflows.runtime.storage.store import Store
from pyflows.runtime.surface.entrypoints import WorkflowEntrypoint
from pyflows.runtime.worker.loader import Env
from pyflows.runtime.workflows.engine import Engine, EngineOptions, WorkflowSpec

pytestmark = pytest.mark.anyio

ENVELOPE_KEYS = ["success", "errors", "messages", "result"]
DETAIL_KEYS = ["status", "params", "queued", "start", "end", "output", "error", "steps", "step_count"]
STEP_KEYS = ["name", "start", "end", "success", "type", "output", "config", "attempts"]
WAIT_KEYS = ["name", "start", "end", "finished", "type", "error", "output"]
COUNT_KEYS = [
    "complete",
    "errored",
    "paused",
    "queued",
    "running",
    "terminated",
    "waiting",
    "waitingForPause",
]
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class QuickWorkflow(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("first step")
        async def first() -> dict[str, Any]:
            return {"n": 42, "params": event["payload"]}

        return await first()


class ApprovalWorkflow(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("prepare")
        async def prepare() -> int:
            return 1

        await prepare()
        received = await step.wait_for_event("approval", "approve", timeout="1 hour")
        return {"approved": received["payload"]}


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    store = await Store.open(tmp_path / "state")
    specs = [
        WorkflowSpec(
            name="my-workflow",
            binding="MY_WORKFLOW",
            class_name="QuickWorkflow",
            script_name="wf-test",
            cls=QuickWorkflow,
        ),
        WorkflowSpec(
            name="approval-workflow",
            binding="APPROVAL",
            class_name="ApprovalWorkflow",
            script_name="wf-test",
            cls=ApprovalWorkflow,
        ),
    ]
    engine = Engine(store, specs, EngineOptions())
    env = Env({})
    engine.env = env
    await engine.start()
    rt = Runtime(engine=engine, worker=None, env=env, name="wf-test", store=store)
    yield rt
    await rt.close()


@pytest.fixture
async def api(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    # What the wrangler CLI sends: host localhost:<port>, JSON bodies with a content type.
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url=f"http://localhost:8787{API_PREFIX}") as client:
        yield client


def ok(reply: httpx.Response) -> Any:
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert list(body)[:4] == ENVELOPE_KEYS
    assert body["success"] is True and body["errors"] == [] and body["messages"] == []
    return body["result"]


def failed(reply: httpx.Response, status: int, code: int) -> str:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert body == {
        "success": False,
        "errors": [{"code": code, "message": body["errors"][0]["message"]}],
        "messages": [],
        "result": None,
    }
    return str(body["errors"][0]["message"])


async def wait_status(api: httpx.AsyncClient, workflow: str, instance: str, *wanted: str) -> dict[str, Any]:
    for _ in range(300):
        details = ok(await api.get(f"/workflows/{workflow}/instances/{instance}"))
        if details["status"] in wanted:
            return details  # type: ignore[no-any-return]
        await asyncio.sleep(0.01)
    raise AssertionError(f"{instance} stayed {details['status']}, wanted {wanted}")


# Workflows ---------------------------------------------------------------------------------------


async def test_list_and_describe_workflows(api: httpx.AsyncClient) -> None:
    reply = await api.get("/workflows")
    assert reply.json()["result_info"] == {"count": 2}
    assert ok(reply) == [
        {"name": "my-workflow", "class_name": "QuickWorkflow", "script_name": "wf-test"},
        {"name": "approval-workflow", "class_name": "ApprovalWorkflow", "script_name": "wf-test"},
    ]
    details = ok(await api.get("/workflows/my-workflow"))
    assert list(details) == ["name", "class_name", "script_name", "instances"]
    assert list(details["instances"]) == COUNT_KEYS and set(details["instances"].values()) == {0}
    for method in ("GET", "DELETE"):
        message = failed(await api.request(method, "/workflows/no-such-wf"), 404, 10501)
        assert message == "Workflow 'no-such-wf' not found."


async def test_delete_workflow_removes_its_instances(api: httpx.AsyncClient) -> None:
    ok(await api.post("/workflows/my-workflow/instances", json={"id": "a"}))
    assert ok(await api.delete("/workflows/my-workflow")) == {"status": "ok", "success": True}
    assert ok(await api.get("/workflows/my-workflow/instances")) == []


# Instances ---------------------------------------------------------------------------------------


async def test_create_describe_and_list(api: httpx.AsyncClient) -> None:
    created = ok(await api.post("/workflows/my-workflow/instances", json={"id": "my-custom-id-1", "params": {"a": 2}}))
    assert created == {"id": "my-custom-id-1"}
    details = await wait_status(api, "my-workflow", "my-custom-id-1", "complete")
    assert list(details) == DETAIL_KEYS
    assert details["params"] == {"a": 2} and details["error"] is None
    assert details["output"] == {"n": 42, "params": {"a": 2}}
    assert all(ISO.match(details[k]) for k in ("queued", "start", "end"))
    assert details["step_count"] == 1
    step = details["steps"][0]
    assert [k for k in STEP_KEYS if k in step] == STEP_KEYS  # extra engine keys allowed after these
    assert step["name"] == "first step-1" and step["type"] == "step" and step["success"] is True
    assert step["config"] == {
        "retries": {"limit": 5, "delay": 1000, "backoff": "exponential"},
        "timeout": "10 minutes",
    }
    assert [list(a) for a in step["attempts"]] == [["start", "end", "success", "error"]]

    # No body, or a body that is not JSON: a new instance with a random id (as Wrangler).
    random_id = ok(await api.post("/workflows/my-workflow/instances"))["id"]
    assert re.fullmatch(r"[0-9a-f-]{36}", random_id)
    ok(
        await api.post(
            "/workflows/my-workflow/instances", content=b"{bad", headers={"content-type": "application/json"}
        )
    )

    reply = await api.get("/workflows/my-workflow/instances", params={"per_page": 2})
    rows = ok(reply)
    assert len(rows) == 2 and all(list(r) == ["id", "status", "created_on"] for r in rows)
    info = reply.json()["result_info"]
    assert {k: info[k] for k in ("page", "per_page", "total_count", "total_pages")} == {
        "page": 1,
        "per_page": 2,
        "total_count": 3,
        "total_pages": 2,
    }
    assert sum(info["status_counts"].values()) == 3 and 0 not in info["status_counts"].values()
    assert ok(await api.get("/workflows/my-workflow/instances", params={"page": 99})) == []
    done = ok(await api.get("/workflows/my-workflow/instances", params={"status": "complete"}))
    assert "my-custom-id-1" in {r["id"] for r in done}
    future = ok(await api.get("/workflows/my-workflow/instances", params={"date_start": "2999-01-01T00:00:00Z"}))
    assert future == []


async def test_create_errors(api: httpx.AsyncClient) -> None:
    ok(await api.post("/workflows/my-workflow/instances", json={"id": "dup"}))
    # Wrangler answers these two with 500; a caller's mistake is a 4xx here (README, Compatibility).
    message = failed(await api.post("/workflows/my-workflow/instances", json={"id": "dup"}), 409, 10001)
    assert message.startswith('WorkflowError: (instance.already_exists) Workflow instance with id "dup" already exists')
    message = failed(await api.post("/workflows/my-workflow/instances", json={"id": "bad id!"}), 400, 10001)
    # Wrangler: "WorkflowError: Workflow instance has invalid id"; the engine says which rule too.
    assert message.startswith("WorkflowError: Workflow instance") and "invalid" in message
    failed(await api.post("/workflows/no-such-wf/instances", json={}), 404, 10501)


@pytest.mark.parametrize(
    ("query", "code", "messages"),
    [
        ({"per_page": "200"}, 10001, ["per_page: Too big: expected number to be <=100"]),
        ({"per_page": "0"}, 10001, ["per_page: Too small: expected number to be >=1"]),
        ({"page": "0"}, 10001, ["page: Too small: expected number to be >=1"]),
        ({"page": "abc"}, 10001, ['page: Expected query param to be number but received "abc"']),
        ({"page": "Infinity"}, 10001, ["page: Expected an integer but received inf"]),
        ({"page": "1.5"}, 10001, ["page: Expected an integer but received 1.5"]),
        ({"date_start": "2026-02-30T00:00:00Z"}, 10001, ["date_start: Invalid ISO datetime"]),
        ({"date_end": "yesterday"}, 10001, ["date_end: Invalid ISO datetime"]),
        (
            {"status": "bogus"},
            10001,
            [
                'status: Invalid option: expected one of "queued"|"running"|"paused"|'
                '"errored"|"terminated"|"complete"|"waitingForPause"|"waiting"'
            ],
        ),
        (
            {"page": "0", "per_page": "101"},
            10001,
            ["page: Too small: expected number to be >=1", "per_page: Too big: expected number to be <=100"],
        ),
        (
            {"date_start": "2026-11-22T00:00:00Z", "date_end": "2026-11-21T23:59:59.999Z"},
            10502,
            [
                "'date_start' must not be after 'date_end'. Update 'date_start' or 'date_end' "
                "so 'date_start' is before or equal to 'date_end'."
            ],
        ),
    ],
)
async def test_list_query_validation(
    api: httpx.AsyncClient, query: dict[str, str], code: int, messages: list[str]
) -> None:
    reply = await api.get("/workflows/my-workflow/instances", params=query)
    assert reply.status_code == 400
    assert reply.json() == {
        "success": False,
        "errors": [{"code": code, "message": m} for m in messages],
        "messages": [],
        "result": None,
    }


async def test_unknown_instance(api: httpx.AsyncClient) -> None:
    base = "/workflows/my-workflow/instances/no-such-instance"
    for reply in (
        await api.get(base),
        await api.delete(base),
        await api.patch(base + "/status", json={"status": "pause"}),
        await api.post(base + "/events/approve", json={}),
    ):
        assert failed(reply, 404, 10501) == "Workflow instance 'no-such-instance' not found."
    assert ok(await api.get("/workflows/my-workflow/instances")) == []  # no phantom instance was made


async def test_events_and_status_changes(api: httpx.AsyncClient) -> None:
    wf = "/workflows/approval-workflow/instances"
    ok(await api.post(wf, json={"id": "appr-1"}))
    waiting = await wait_status(api, "approval-workflow", "appr-1", "waiting")
    assert waiting["steps"][-1]["type"] == "waitForEvent"

    paused = ok(await api.patch(f"{wf}/appr-1/status", json={"status": "pause"}))
    assert list(paused) == ["status", "timestamp"] and paused["status"] == "paused" and ISO.match(paused["timestamp"])
    assert ok(await api.patch(f"{wf}/appr-1/status", json={"status": "resume"}))["status"] in (
        "running",
        "queued",
        "waiting",
    )

    assert ok(await api.post(f"{wf}/appr-1/events/approve", json={"ok": True})) == {"success": True}
    done = await wait_status(api, "approval-workflow", "appr-1", "complete")
    assert done["output"] == {"approved": {"ok": True}}
    event_step = done["steps"][-1]
    assert [k for k in WAIT_KEYS if k in event_step] == WAIT_KEYS
    assert event_step["name"] == "approval-1" and event_step["finished"] is True
    assert event_step["output"]["type"] == "approve" and event_step["output"]["payload"] == {"ok": True}

    # Not errors in Wrangler's API: pause/resume of a finished instance, an event sent to it.
    for action in ("pause", "resume"):
        assert ok(await api.patch(f"{wf}/appr-1/status", json={"status": action}))["status"] == "complete"
    assert ok(await api.post(f"{wf}/appr-1/events/approve", json={"late": True})) == {"success": True}
    assert (await wait_status(api, "approval-workflow", "appr-1", "complete"))["output"] == {"approved": {"ok": True}}

    message = failed(await api.patch(f"{wf}/appr-1/status", json={"status": "terminate"}), 409, 10001)
    assert message.startswith("WorkflowError: (instance.cannot_terminate)")

    restarted = ok(await api.patch(f"{wf}/appr-1/status", json={"status": "restart", "from": {"name": "prepare"}}))
    assert restarted["status"] in ("queued", "running", "waiting")
    reply = await api.patch(f"{wf}/appr-1/status", json={"status": "restart", "from": {"name": "nap", "type": "sleep"}})
    assert "nap" in failed(reply, 409, 10001)

    ok(await api.post(wf, json={"id": "appr-2"}))
    assert (
        ok(await api.patch(f"{wf}/appr-2/status", json={"status": "terminate", "rollback": True}))["status"]
        == "terminated"
    )


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        ({"status": "explode"}, None, "Invalid input"),
        ({}, None, "Invalid input"),
        ({"status": "pause"}, {"content-type": "text/plain"}, "Invalid input"),
        ({"status": "pause", "rollback": True}, None, "'rollback' is only valid when terminating."),
        ({"status": "restart", "from": {"name": ""}}, None, "Invalid input"),
        ({"status": "restart", "from": {"name": "x", "type": "nap"}}, None, "Invalid input"),
        ({"status": "restart", "from": {"name": "x", "count": 0}}, None, "Invalid input"),
        (b"{not json", {"content-type": "application/json"}, "Invalid JSON request body"),
    ],
)
async def test_status_body_validation(
    api: httpx.AsyncClient, body: Any, headers: dict[str, str] | None, message: str
) -> None:
    ok(await api.post("/workflows/my-workflow/instances", json={"id": "x1"}))
    url = "/workflows/my-workflow/instances/x1/status"
    if isinstance(body, bytes):
        reply = await api.patch(url, content=body, headers=headers)
    elif headers:
        reply = await api.patch(url, content=httpx.Request("PATCH", "/", json=body).content, headers=headers)
    else:
        reply = await api.patch(url, json=body)
    assert failed(reply, 400, 10001) == message


async def test_delete_one_and_batch(api: httpx.AsyncClient) -> None:
    for instance in ("d1", "d2", "d3"):
        ok(await api.post("/workflows/my-workflow/instances", json={"id": instance}))
    assert ok(await api.delete("/workflows/my-workflow/instances/d1")) == {"success": True}
    failed(await api.get("/workflows/my-workflow/instances/d1"), 404, 10501)

    result = ok(
        await api.post("/workflows/my-workflow/instances/batch/delete", json={"instances": ["d2", "nope", "d3"]})
    )
    assert result == {
        "deleted": [{"id": "d2"}, {"id": "d3"}],
        "errors": [{"id": "nope", "code": 10400, "message": "workflows.api.error.instance.not_found"}],
    }
    failed(await api.post("/workflows/my-workflow/instances/batch/delete", json={"ids": ["x"]}), 400, 10001)


async def test_an_instance_a_cron_schedule_created_is_addressed_by_its_id(
    api: httpx.AsyncClient, runtime: Runtime
) -> None:
    from pyflows.client.management import _segment

    cron_id = "*/15 * * * *-1767225600000"  # Cloudflare's "<cron>-<scheduledTime>": spaces, * and /
    await runtime.engine.create("my-workflow", id=cron_id, scheduled=True)
    path = f"/workflows/my-workflow/instances/{_segment(cron_id)}"  # as the CLI (and Wrangler) encode it
    assert path.endswith("/*%2F15%20*%20*%20*%20*-1767225600000")
    details = await wait_status(api, "my-workflow", _segment(cron_id), "complete")
    assert details["output"]["n"] == 42
    listed = ok(await api.get("/workflows/my-workflow/instances"))
    assert [i["id"] for i in listed] == [cron_id]
    ok(await api.patch(path + "/status", json={"status": "restart"}))
    await wait_status(api, "my-workflow", _segment(cron_id), "complete")
    assert ok(await api.delete(path)) == {"success": True}
    failed(await api.get(path), 404, 10501)


# The rest of the API surface ---------------------------------------------------------------------


async def test_openapi_document_describes_what_is_served(api: httpx.AsyncClient) -> None:
    doc = (await api.get("")).json()
    assert doc["info"]["title"] == "Local Explorer API"
    assert doc["servers"] == [{"description": "Local Explorer", "url": API_PREFIX}]
    served = {
        ("get", "/workflows"),
        ("get", "/workflows/{workflow_name}"),
        ("delete", "/workflows/{workflow_name}"),
        ("get", "/workflows/{workflow_name}/instances"),
        ("post", "/workflows/{workflow_name}/instances"),
        ("post", "/workflows/{workflow_name}/instances/batch/delete"),
        ("get", "/workflows/{workflow_name}/instances/{instance_id}"),
        ("delete", "/workflows/{workflow_name}/instances/{instance_id}"),
        ("patch", "/workflows/{workflow_name}/instances/{instance_id}/status"),
        ("post", "/workflows/{workflow_name}/instances/{instance_id}/events/{event_type}"),
        ("get", "/local/workers"),
        # KV, D1 and R2 (issue 11), as Cloudflare's Local Explorer document has them
        ("get", "/storage/kv/namespaces"),
        ("get", "/storage/kv/namespaces/{namespace_id}/keys"),
        ("get", "/storage/kv/namespaces/{namespace_id}/values/{key_name}"),
        ("put", "/storage/kv/namespaces/{namespace_id}/values/{key_name}"),
        ("delete", "/storage/kv/namespaces/{namespace_id}/values/{key_name}"),
        ("put", "/storage/kv/namespaces/{namespace_id}/bulk"),
        ("post", "/storage/kv/namespaces/{namespace_id}/bulk/delete"),
        ("post", "/storage/kv/namespaces/{namespace_id}/bulk/get"),
        ("get", "/d1/database"),
        ("post", "/d1/database/{database_id}/raw"),
        ("get", "/r2/buckets"),
        ("get", "/r2/buckets/{bucket_name}"),
        ("get", "/r2/buckets/{bucket_name}/objects"),
        ("delete", "/r2/buckets/{bucket_name}/objects"),
        ("get", "/r2/buckets/{bucket_name}/objects/{object_key}"),
        ("put", "/r2/buckets/{bucket_name}/objects/{object_key}"),
        ("delete", "/r2/buckets/{bucket_name}/objects/{object_key}"),
    }
    assert {(m, p) for p, ops in doc["paths"].items() for m in ops} == served
    assert OPENAPI_PATH.is_file()


async def test_local_workers(api: httpx.AsyncClient) -> None:
    workers = ok(await api.get("/local/workers"))
    assert workers == [
        {
            "isSelf": True,
            "name": "wf-test",
            "bindings": {
                "workflows": [
                    {
                        "id": "my-workflow",
                        "bindingName": "MY_WORKFLOW",
                        "className": "QuickWorkflow",
                        "scriptName": "wf-test",
                    },
                    {
                        "id": "approval-workflow",
                        "bindingName": "APPROVAL",
                        "className": "ApprovalWorkflow",
                        "scriptName": "wf-test",
                    },
                ]
            },
        }
    ]


async def test_unknown_paths_and_methods_are_plain_404(api: httpx.AsyncClient) -> None:
    for method, path in (
        ("GET", "/nope"),
        ("PUT", "/workflows"),
        ("GET", "/workflows/"),
        ("POST", "/workflows/my-workflow"),
    ):
        reply = await api.request(method, path)
        assert (reply.status_code, reply.text) == (404, "404 Not Found")


async def test_unexpected_errors_are_500_10000(
    api: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(runtime.engine, "status_counts", broken)
    assert failed(await api.get("/workflows/my-workflow"), 500, 10000) == "disk on fire"


# Host / Origin / CORS ------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8787", "localhost.evil.example", "10.0.0.1:8787"])
async def test_foreign_host_is_refused(api: httpx.AsyncClient, host: str) -> None:
    reply = await api.get("/workflows", headers={"host": host})
    assert (reply.status_code, reply.text) == (403, "Invalid Host header")


@pytest.mark.parametrize("host", ["localhost:8787", "127.0.0.1:1", "[::1]:8787", "localhost"])
async def test_loopback_hosts_are_accepted(api: httpx.AsyncClient, host: str) -> None:
    assert (await api.get("/workflows", headers={"host": host})).status_code == 200


async def test_origin_check_and_cors(api: httpx.AsyncClient) -> None:
    reply = await api.get("/workflows", headers={"origin": "https://evil.example"})
    assert (reply.status_code, reply.text) == (403, "Invalid Origin header")
    reply = await api.get("/workflows", headers={"origin": "http://localhost:5173"})
    assert reply.status_code == 200 and reply.headers["access-control-allow-origin"] == "http://localhost:5173"

    preflight = await api.options("/workflows/my-workflow/instances", headers={"origin": "http://127.0.0.1:3000"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "http://127.0.0.1:3000"
    assert preflight.headers["access-control-allow-methods"] == "GET, POST, PUT, PATCH, DELETE, OPTIONS"
    assert preflight.headers["access-control-max-age"] == "86400"
    assert (await api.options("/workflows")).headers["access-control-allow-origin"] == "*"
    refused = await api.options("/workflows", headers={"origin": "http://evil.example"})
    assert refused.status_code == 403


async def test_instances_are_listed_newest_first(api: httpx.AsyncClient) -> None:
    for name in ("oldest", "middle", "newest"):
        ok(await api.post("/workflows/my-workflow/instances", json={"id": name}))
        await wait_status(api, "my-workflow", name, "complete")
        await asyncio.sleep(0.002)  # distinct creation milliseconds (not a negative check)
    rows = ok(await api.get("/workflows/my-workflow/instances"))
    assert [r["id"] for r in rows] == ["newest", "middle", "oldest"]  # what Wrangler's API returns


class RetryLaterWorkflow(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("flaky", config={"retries": {"limit": 1, "delay": "1 hour", "backoff": "constant"}})
        async def flaky() -> None:
            raise ValueError("not yet")

        return await flaky()


async def test_a_step_waiting_to_retry_says_when(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "state")
    spec = WorkflowSpec(
        name="retry-later", binding="R", class_name="RetryLaterWorkflow", script_name="wf-test", cls=RetryLaterWorkflow
    )
    engine = Engine(store, [spec], EngineOptions())
    env = Env({})
    engine.env = env
    await engine.start()
    rt = Runtime(engine=engine, worker=None, env=env, name="wf-test", store=store)
    transport = httpx.ASGITransport(app=create_app(rt))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=f"http://localhost:8787{API_PREFIX}") as api:
            ok(await api.post("/workflows/retry-later/instances", json={"id": "r-1"}))
            for _ in range(300):
                details = await wait_status(api, "retry-later", "r-1", "waiting")
                step = details["steps"][0]
                if step["attempts"] and step["attempts"][0]["success"] is False:
                    break
                await asyncio.sleep(0.01)
            assert "retry_at" in step, step  # the CLI shows it; without it, it can only estimate
            failed_at = datetime.fromisoformat(step["attempts"][0]["end"].replace("Z", "+00:00"))
            retry_at = datetime.fromisoformat(step["retry_at"].replace("Z", "+00:00"))
            assert ISO.match(step["retry_at"]) and abs((retry_at - failed_at).total_seconds() - 3600) < 1
    finally:
        await rt.close()


# -- a caller's mistake is a 4xx; every request value is range-checked at the edge (issue 16) --------


async def test_out_of_range_numbers_are_400_not_500(api: httpx.AsyncClient) -> None:
    reply = await api.get("/workflows/my-workflow/instances", params={"page": "1.1e308"})
    assert failed(reply, 400, 10001) == "page: Too big: expected number to be <=9007199254740991"
    assert ok(await api.get("/workflows/my-workflow/instances", params={"page": str(2**53 - 1)})) == []
    ok(await api.post("/workflows/approval-workflow/instances", json={"id": "far"}))
    for count in (1e308, 2**63, -1, 0, 1.5):
        body = {"status": "restart", "from": {"name": "prepare", "count": count}}
        assert failed(await api.patch("/workflows/approval-workflow/instances/far/status", json=body), 400, 10001)
    body = {"status": "restart", "from": {"name": "prepare", "count": 2**53 - 1}}
    reply = await api.patch("/workflows/approval-workflow/instances/far/status", json=body)
    assert failed(reply, 409, 10001).startswith('WorkflowError: (instance.cannot_restart) Step "prepare" not found')
    reply = await api.get("/workflows/" + "w" * 2000)
    assert failed(reply, 400, 10001) == "Path segment of 2000 characters is too long (the limit is 1024)."


async def test_json_is_read_as_javascript_reads_it(api: httpx.AsyncClient) -> None:
    # 1e400 is Infinity in JavaScript and null once stored; NaN is not JSON at all (create ignores the body).
    raw = b'{"id": "huge", "params": {"big": 1e400, "n": 12345678901234567890}}'
    reply = await api.post(
        "/workflows/my-workflow/instances", content=raw, headers={"content-type": "application/json"}
    )
    assert ok(reply) == {"id": "huge"}
    details = await wait_status(api, "my-workflow", "huge", "complete")
    assert details["params"] == {"big": None, "n": 12345678901234567890}
    reply = await api.post("/workflows/my-workflow/instances", content=b'{"id": "nan", "params": NaN}')
    assert ok(reply)["id"] != "nan"
    bad = await api.patch(
        "/workflows/my-workflow/instances/huge/status",
        content=b'{"status": "pause", "x": Infinity}',
        headers={"content-type": "application/json"},
    )
    assert failed(bad, 400, 10001) == "Invalid JSON request body"


async def test_caller_mistakes_are_4xx_with_wranglers_codes(api: httpx.AsyncClient) -> None:
    wf = "/workflows/approval-workflow/instances"
    ok(await api.post(wf, json={"id": "held"}))
    reply = await api.post(f"{wf}/held/events/bad type!", json={})
    assert failed(reply, 400, 10001).startswith("WorkflowError: Event type 'bad type!' is invalid")
    reply = await api.post(f"{wf}/held/events/{'t' * 101}", json={})
    assert "101 characters; the limit is 100" in failed(reply, 400, 10001)
    ok(await api.patch(f"{wf}/held/status", json={"status": "pause"}))
    assert (await wait_status(api, "approval-workflow", "held", "paused"))["status"] == "paused"
    message = failed(await api.patch(f"{wf}/held/status", json={"status": "pause"}), 409, 10001)
    assert message == (
        "WorkflowError: Cannot pause instance 'held': it is paused. Only queued, running or waiting instances "
        "can be paused."
    )
    big = {"id": "big", "params": {"blob": "x" * (1024 * 1024)}}
    assert "over the limit of 1,048,576 bytes" in failed(await api.post(wf, json=big), 413, 10001)


def test_every_engine_error_has_a_4xx_row_in_the_one_table() -> None:
    from pyflows.runtime import errors
    from pyflows.runtime.server.explorer.present import ERRORS, api_failure

    engine_errors = [
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.WorkflowError) and cls is not errors.WorkflowError
    ]
    assert len(engine_errors) >= 9
    for cls in engine_errors:
        assert cls in ERRORS, f"{cls.__name__} has no row in present.ERRORS"
        assert 400 <= ERRORS[cls].status < 500, cls
    assert api_failure(RuntimeError("disk on fire")) == (500, 10000, ["disk on fire"])
    status, code, messages = api_failure(errors.InstanceExistsError("wf", "dup"))
    assert (status, code) == (409, 10001)
    assert messages[0].startswith('WorkflowError: (instance.already_exists) Workflow instance with id "dup"')
