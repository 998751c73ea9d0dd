"""Property-based fuzzing of the whole Local Explorer API from its own OpenAPI document (schemathesis).

Every operation of `runtime/server/explorer/openapi.json`, with inputs that follow the schema and
inputs that break it, in-process against `create_app` (ASGI, the app's own lifespan opens a real
Store and Engine). Each answer must: not be a 5xx (a caller's mistake is never a server fault), have
a status code and a body the document allows, and on failure be the error envelope
`{"success": false, "errors": [{"code", "message"}], "messages": [], "result": null}`.

The document's workflow-name, namespace, database and bucket parameters are pointed at the configured
ones for most cases (`map_path_parameters` below), so requests reach instances and storage, not only 404s.
The runtime binds one KV namespace, one D1 database (with a table and rows) and one R2 bucket (with
objects), so the storage routes of issue 11 are fuzzed against real data.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pyflows.runtime.bindings.d1 import D1Database
from pyflows.runtime.bindings.kv import KVNamespace
from pyflows.runtime.bindings.r2 import R2Bucket
from pyflows.runtime.server.app import Runtime, create_app
from pyflows.runtime.server.explorer.routes import API_PREFIX, OPENAPI_PATH
from pyflows.runtime.storage.store import Store
from pyflows.runtime.surface.entrypoints import WorkflowEntrypoint
from pyflows.runtime.worker.loader import Env
from pyflows.runtime.workflows.engine import Engine, EngineOptions, WorkflowSpec
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

WORKFLOWS = ("fuzz-quick", "fuzz-wait")
KV_ID, D1_ID, BUCKET = "fuzz-kv", "fuzz-db", "fuzz-bucket"
BASE_URL = f"http://localhost{API_PREFIX}"  # the management API answers loopback hosts only


class Quick(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("first")
        async def first() -> Any:
            return {"params": event["payload"]}

        return await first()


class Waits(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        await step.sleep("nap", "1 hour")
        return await step.wait_for_event("approval", "approve", timeout="1 hour")


def _document() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(OPENAPI_PATH.read_text("utf-8"))
    doc["servers"] = [{"url": API_PREFIX}]
    return doc


async def _storage_bindings(root_v3: Path) -> dict[str, Any]:
    """KV, D1 and R2 bindings with a little data in each, for the storage routes to find."""
    kv, db, bucket = (
        KVNamespace(root_v3, KV_ID, "KV"),
        D1Database(root_v3, D1_ID, "DB"),
        R2Bucket(root_v3, BUCKET, "R2"),
    )
    await kv.put("seed/a", "1", {"metadata": {"n": 1}})
    await kv.put("seed/b", "not json")
    await db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data BLOB); INSERT INTO t (name) VALUES ('a');")
    await bucket.put("seed/a.txt", "hello", {"httpMetadata": {"contentType": "text/plain"}})
    await bucket.put("seed/dir/b.bin", b"\x00\xff", {"customMetadata": {"k": "v"}})
    return {"KV": kv, "DB": db, "R2": bucket}


async def _open_runtime() -> Runtime:
    tmp = Path(tempfile.mkdtemp(prefix="pyflows-fuzz-"))
    store = await Store.open(tmp / "state")
    specs = [
        WorkflowSpec(name=WORKFLOWS[0], binding="QUICK", class_name="Quick", script_name="fuzz", cls=Quick),
        WorkflowSpec(name=WORKFLOWS[1], binding="WAITS", class_name="Waits", script_name="fuzz", cls=Waits),
    ]
    engine = Engine(store, specs, EngineOptions())
    engine.env = Env(await _storage_bindings(tmp / "v3"))
    await engine.start()
    for n in range(3):  # something to find, pause, terminate and delete
        await engine.create(WORKFLOWS[n % 2], id=f"seed-{n}")
    return Runtime(engine=engine, worker=None, env=engine.env, name="fuzz", store=store)


class _FreshRuntimeApp:
    """`create_app` with a new runtime per lifespan: schemathesis ends the lifespan after each test."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan" or self._app is None:
            self._app = create_app(_open_runtime, close_on_shutdown=True)
        await self._app(scope, receive, send)


def _app() -> Any:
    return _FreshRuntimeApp()


APP = _app()
schema = schemathesis.openapi.from_dict(_document())
schema.app = APP
schema.config.generation.update(modes=list(GenerationMode), max_examples=25)


@schema.hook
def map_path_parameters(ctx: Any, path_parameters: dict[str, Any] | None) -> dict[str, Any] | None:
    """Point most cases at a configured workflow, instance, namespace, database or bucket (else nearly all
    are 404s), and some storage keys at seeded data."""
    if not path_parameters:
        return path_parameters
    mapped = dict(path_parameters)
    pick = sum(map(ord, str(sorted(mapped.items(), key=str))))  # deterministic, varies with the case
    if "workflow_name" in mapped and pick % 4:
        mapped["workflow_name"] = WORKFLOWS[pick % 2]
    if "instance_id" in mapped and pick % 3:
        mapped["instance_id"] = f"seed-{pick % 3}"
    for name, known in (("namespace_id", KV_ID), ("database_id", D1_ID), ("bucket_name", BUCKET)):
        if name in mapped and pick % 4:
            mapped[name] = known
    if "key_name" in mapped and pick % 3 == 0:
        mapped["key_name"] = "seed/a"
    if "object_key" in mapped and pick % 3 == 0:
        mapped["object_key"] = "seed/a.txt"
    return mapped


@pytest.fixture(scope="module", autouse=True)
def _shutdown_app() -> Iterator[None]:
    yield
    schemathesis_asgi.shutdown_lifespans()


def _assert_envelope(case: Any, response: Any) -> None:
    if case.method.upper() == "OPTIONS":  # a CORS preflight: 204, no body (as miniflare)
        assert response.status_code == 204 and response.text == ""
        return
    content_type = (response.headers.get("content-type") or [""])[0]
    if response.status_code == 404 and content_type.startswith("text/plain"):
        assert response.text == "404 Not Found"  # a path that names no route (Wrangler's plain 404)
        return
    if response.status_code < 400 and not content_type.startswith("application/json"):
        # A value or object body (KV's values/{key}, R2's objects/{key}): the document's content types
        # for that answer are checked by content_type_conformance below.
        assert case.operation.path.endswith(("/values/{key_name}", "/objects/{object_key}")), case.operation.path
        return
    assert content_type.startswith("application/json"), (response.status_code, content_type, response.text)
    body = response.json()
    assert list(body)[:4] == ["success", "errors", "messages", "result"], body
    if response.status_code >= 400:
        assert body["success"] is False and body["result"] is None and body["messages"] == [], body
        assert body["errors"], body
        for error in body["errors"]:
            assert set(error) == {"code", "message"}, body
            assert isinstance(error["code"], int) and isinstance(error["message"], str) and error["message"]
    else:
        assert body["success"] is True and body["errors"] == [], body


@pytest.mark.slow  # ~30 s: every operation, 25 examples each, positive and negative
@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_operation_answers_with_the_envelope_and_never_5xx(case: Any) -> None:
    response = case.call(base_url=BASE_URL)
    assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text}"
    _assert_envelope(case, response)
    case.validate_response(
        response, checks=[status_code_conformance, content_type_conformance, response_schema_conformance]
    )
