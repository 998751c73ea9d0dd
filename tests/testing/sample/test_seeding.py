"""Seeding a test's storage (D1 migrations, KV, R2) and the queue trigger, async and sync."""

from __future__ import annotations

import pytest
from pyflows.runtime.bindings.d1 import D1Error
from pyflows.runtime.errors import UserCodeError
from pyflows.testing import IntrospectionError


@pytest.fixture
def queued(pyflows_project):
    module = (pyflows_project.project if hasattr(pyflows_project, "project") else pyflows_project).worker.module
    module.QUEUED.clear()
    return module.QUEUED


@pytest.mark.anyio
async def test_apply_d1_migrations_runs_the_pending_files_in_order(pyflows_project):
    assert await pyflows_project.apply_d1_migrations("DB") == ["0001_orders.sql", "0002_seed.sql"]
    assert await pyflows_project.apply_d1_migrations(pyflows_project.env.DB) == []  # recorded: nothing pending
    resp = await pyflows_project.fetch("/orders/total")
    assert await resp.json() == {"total": 5}
    applied = await pyflows_project.env.DB.prepare("SELECT name FROM d1_migrations ORDER BY id").raw()
    assert applied == [["0001_orders.sql"], ["0002_seed.sql"]]  # Wrangler's table: `pyflows d1 migrations list` agrees


@pytest.mark.anyio
async def test_each_test_starts_with_an_empty_d1_database(pyflows_project):
    with pytest.raises(D1Error, match="no such table: orders"):  # the previous test's migrations are not here
        await pyflows_project.env.DB.prepare("SELECT * FROM orders").all()


@pytest.mark.anyio
async def test_a_failing_migration_names_itself_and_applies_nothing(pyflows_project):
    await pyflows_project.env.DB.exec("CREATE TABLE orders (id TEXT)")  # 0001 will collide with it
    with pytest.raises(D1Error, match=r"Migration 0001_orders.sql failed with the following errors:\ntable orders"):
        await pyflows_project.apply_d1_migrations("DB")
    applied = await pyflows_project.env.DB.prepare("SELECT count(*) AS n FROM d1_migrations").first("n")
    assert applied == 0


@pytest.mark.anyio
async def test_seed_kv_and_r2(pyflows_project):
    await pyflows_project.seed_kv("CACHE", {"flag": "on", "raw": b"\x00\x01"})
    await pyflows_project.seed_r2(pyflows_project.env.FILES, {"README.txt": "hello", "logo.png": b"\x89PNG"})
    resp = await pyflows_project.fetch("/config")
    assert await resp.json() == {"flag": "on", "readme": "hello"}
    assert await pyflows_project.env.CACHE.get("raw", "arrayBuffer") == b"\x00\x01"
    assert await (await pyflows_project.env.FILES.get("logo.png")).bytes() == b"\x89PNG"


@pytest.mark.anyio
async def test_seeding_the_wrong_kind_of_binding_names_the_right_ones(pyflows_project):
    with pytest.raises(IntrospectionError, match=r"seed_kv: 'FILES' is not one of .* kv_namespaces bindings: 'CACHE'"):
        await pyflows_project.seed_kv("FILES", {"k": "v"})
    with pytest.raises(IntrospectionError, match=r"apply_d1_migrations: 'NOPE' .*d1_databases bindings: 'DB'"):
        await pyflows_project.apply_d1_migrations("NOPE")


@pytest.mark.anyio
async def test_queue_delivers_one_batch_and_reports_each_outcome(pyflows_project, queued):
    result = await pyflows_project.queue("jobs", [{"order": "a"}, {"fail": True}, {"order": "b"}])
    assert queued == ["a", "b"]
    assert result["outcome"] == "ok" and result["error"] is None
    outcomes = [(m["outcome"], m["delaySeconds"]) for m in result["messages"]]
    assert outcomes == [("ack", None), ("retry", 30), ("ack", None)]
    assert len({m["id"] for m in result["messages"]}) == 3


@pytest.mark.anyio
async def test_a_crashing_consumer_is_an_exception_outcome(pyflows_project, queued, capfd):
    result = await pyflows_project.queue("jobs", [{"order": "a"}, {"crash": True}, {"order": "never"}])
    assert result["outcome"] == "exception"
    assert result["error"] == {"name": "RuntimeError", "message": "the consumer crashed"}
    # acked before the crash; the rest are retried, as Cloudflare retries a batch whose handler throws
    assert [m["outcome"] for m in result["messages"]] == ["ack", "retry", "retry"]
    assert "Uncaught RuntimeError in queue() for queue 'jobs'" in capfd.readouterr().err


@pytest.mark.anyio
async def test_queue_with_an_unknown_queue_names_the_consumers(pyflows_project):
    with pytest.raises(UserCodeError, match=r"No Worker consumes queue 'job' \(consumer queues: 'jobs'\)"):
        await pyflows_project.queue("job", [{"order": "a"}])


def test_sync_twins(pyflows_project, queued):
    project = pyflows_project
    assert project.apply_d1_migrations("DB") == ["0001_orders.sql", "0002_seed.sql"]
    project.seed_kv("CACHE", {"flag": "sync"})
    project.seed_r2("FILES", {"README.txt": "sync readme"})
    assert project.fetch("/config").json() == {"flag": "sync", "readme": "sync readme"}
    assert project.fetch("/orders/total").json() == {"total": 5}
    assert project.queue("jobs", [{"order": "s"}])["messages"][0]["outcome"] == "ack"
    assert queued == ["s"]
