"""In-process tests for runtime/triggers and runtime/bindings: config, crons, schedules, queues, Durable Objects."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from pyflows.runtime.bindings.durable_objects import DurableObjectNamespace, do_root, id_from_name
from pyflows.runtime.bindings.queues import QueueProducerBinding, QueueStore
from pyflows.runtime.config import load
from pyflows.runtime.config.triggers import QueueConsumer, WorkflowSchedule
from pyflows.runtime.errors import ConfigSchemaError, InstanceExistsError, InvalidInstanceIdError, UserCodeError
from pyflows.runtime.protocol.limits import check_addressable_instance_id, check_instance_id
from pyflows.runtime.surface.entrypoints import DurableObject, WorkflowEntrypoint
from pyflows.runtime.triggers.cron import next_fire_ms, previous_fire_ms
from pyflows.runtime.triggers.queue_consumer import MessageBatch, QueueConsumerLoop
from pyflows.runtime.triggers.schedules import WorkflowScheduler, schedule_instance_id

pytestmark = pytest.mark.anyio


def write_project(root: Path, entry: str = "", **config: Any) -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "entry.py").write_text(entry or "from workers import WorkerEntrypoint\n")
    base = {
        "name": "t",
        "main": "src/entry.py",
        "compatibility_date": "2026-02-25",
        "compatibility_flags": ["python_workers"],
    }
    (root / "wrangler.jsonc").write_text(json.dumps({**base, **config}))
    return root


# -- config ------------------------------------------------------------------------------------------


def test_config_reads_every_trigger_key(tmp_path: Path) -> None:
    cfg = load(
        write_project(
            tmp_path,
            triggers={"crons": ["*/5 * * * *", "0 9 * * MON-FRI"]},
            workflows=[
                {"name": "wf", "binding": "WF", "class_name": "WF", "schedules": ["0 * * * *", "5 4 * * *"]},
                {"name": "one", "binding": "ONE", "class_name": "WF", "schedules": "*/15 * * * *"},
            ],
            queues={
                "producers": [{"binding": "Q", "queue": "jobs", "delivery_delay": 2}],
                "consumers": [{"queue": "jobs", "max_batch_size": 50, "dead_letter_queue": "dlq"}],
            },
            durable_objects={"bindings": [{"name": "C", "class_name": "Counter"}]},
            migrations=[{"tag": "v1", "new_sqlite_classes": ["Counter"]}],
            services=[{"binding": "S", "service": "t", "entrypoint": "Admin"}],
        )
    )
    t = cfg.triggers
    assert t.crons == ("*/5 * * * *", "0 9 * * MON-FRI")
    assert t.workflow_schedules == (  # an array of crons, or one cron string (as Wrangler accepts)
        WorkflowSchedule("wf", "0 * * * *"),
        WorkflowSchedule("wf", "5 4 * * *"),
        WorkflowSchedule("one", "*/15 * * * *"),
    )
    assert t.producers[0].delivery_delay == 2
    c = t.consumers[0]
    assert (c.max_batch_size, c.max_batch_timeout, c.max_retries, c.retry_delay, c.dead_letter_queue) == (
        50,
        5.0,
        3,
        0,
        "dlq",
    )
    assert t.migrated_classes == ("Counter",) and t.services[0].entrypoint == "Admin"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"triggers": {"crons": ["*/5 * * *"]}},
            r'triggers\.crons\[0\] is "\*/5 \* \* \*": not a valid cron expression',
        ),
        ({"triggers": {"crons": ["61 * * * *"]}}, r'triggers\.crons\[0\] is "61 \* \* \* \*": not a valid cron'),
        (
            {"workflows": [{"name": "w", "binding": "W", "class_name": "W", "schedules": ["nope"]}]},
            r'workflows\[0\]\.schedules\[0\] is "nope"',
        ),
        (
            {"workflows": [{"name": "w", "binding": "W", "class_name": "W", "schedules": "nope"}]},
            r'workflows\[0\]\.schedules is "nope": not a valid cron',
        ),
        (
            {"workflows": [{"name": "w", "binding": "W", "class_name": "W", "schedules": []}]},
            r"workflows\[0\]\.schedules is \[\]: .* a cron string or an array of them",
        ),
        (  # the control plane's {cron} objects are not config (Wrangler refuses them too)
            {"workflows": [{"name": "w", "binding": "W", "class_name": "W", "schedules": [{"cron": "* * * * *"}]}]},
            r"workflows\[0\]\.schedules",
        ),
        ({"queues": {"consumers": [{"queue": "q", "max_batch_size": 101}]}}, r"max_batch_size is 101"),
        ({"queues": {"consumers": [{"queue": "q", "max_batch_timeout": 61}]}}, r"max_batch_timeout is 61"),
        ({"queues": {"consumers": [{"queue": "q"}, {"queue": "q"}]}}, r"already consumes this queue"),
        ({"queues": {"consumers": [{"queue": "q", "dead_letter_queue": "q"}]}}, r"dead_letter_queue is \"q\""),
        (
            {"queues": {"producers": [{"binding": "Q", "queue": "q", "delivery_delay": 50000}]}},
            r"delivery_delay is 50000",
        ),
        ({"services": [{"binding": "X", "service": "a"}, {"binding": "X", "service": "b"}]}, r"'X' is used twice"),
    ],
)
def test_bad_trigger_config_names_the_key_and_value(tmp_path: Path, config: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigSchemaError, match=expected):
        load(write_project(tmp_path, **config))


def test_crons_are_inherited_by_environments_but_bindings_are_not(tmp_path: Path) -> None:
    cfg = load(
        write_project(
            tmp_path,
            triggers={"crons": ["* * * * *"]},
            queues={"producers": [{"binding": "Q", "queue": "q"}]},
            env={"staging": {}},
        ),
        env="staging",
    )
    assert cfg.triggers.crons == ("* * * * *",) and cfg.triggers.producers == ()
    assert any("`queues` exists at the top level" in w for w in cfg.warnings)


ENTRY = """
from workers import DurableObject, WorkerEntrypoint

class Counter(DurableObject):
    pass

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return None
"""


@pytest.mark.parametrize(
    ("config", "entry", "expected"),
    [
        (
            {"triggers": {"crons": ["* * * * *"]}},
            ENTRY,
            r"triggers\.crons is \['\* \* \* \* \*'\], but src/entry\.py has no scheduled",
        ),
        (
            {"queues": {"consumers": [{"queue": "jobs"}]}},
            ENTRY,
            r"queues\.consumers\[0\]\.queue is 'jobs', but .* no queue handler",
        ),
        (
            {"durable_objects": {"bindings": [{"name": "C", "class_name": "Nope"}]}},
            ENTRY,
            r"durable_objects\.bindings\[0\]\.class_name is 'Nope', but .*found: Counter",
        ),
        (
            {"durable_objects": {"bindings": [{"name": "C", "class_name": "Counter"}]}},
            ENTRY,
            r"'Counter' has no migration\. Add \"migrations\"",
        ),
        (
            {"services": [{"binding": "S", "service": "elsewhere"}]},
            ENTRY,
            r"services\[0\]\.service is 'elsewhere', but no Worker",
        ),
        ({"services": [{"binding": "S", "service": "t", "entrypoint": "Admin"}]}, ENTRY, r"entrypoint is 'Admin'"),
    ],
)
def test_code_the_config_needs_but_the_module_lacks_is_a_startup_error(
    tmp_path: Path, config: dict[str, Any], entry: str, expected: str
) -> None:
    from pyflows.runtime.worker.loader import load_worker

    cfg = load(write_project(tmp_path, entry, **config))
    with pytest.raises(UserCodeError, match=expected):
        load_worker(cfg)


def test_legacy_on_scheduled_satisfies_crons(tmp_path: Path) -> None:
    from pyflows.runtime.worker.loader import load_worker

    entry = "def on_scheduled(controller, env, ctx):\n    pass\n"
    cfg = load(write_project(tmp_path, entry, compatibility_date="2025-01-01", triggers={"crons": ["* * * * *"]}))
    assert load_worker(cfg).handler("scheduled") is not None


# -- crons and schedules --------------------------------------------------------------------------------


def ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp() * 1000)


def test_cron_times_are_utc_minutes() -> None:
    assert next_fire_ms("*/15 * * * *", ms("2026-01-01T10:07:30")) == ms("2026-01-01T10:15:00")
    assert next_fire_ms("*/15 * * * *", ms("2026-01-01T10:15:00")) == ms("2026-01-01T10:30:00")
    assert previous_fire_ms("*/15 * * * *", ms("2026-01-01T10:15:00")) == ms("2026-01-01T10:15:00")
    assert previous_fire_ms("0 9 * * MON", ms("2026-01-01T10:00:00")) == ms("2025-12-29T09:00:00")


def test_schedule_instance_ids_are_cloudflares() -> None:
    # workers-sdk packages/workflows-shared/tests/cron.test.ts: "0 * * * *" at 1700000000000
    assert schedule_instance_id("0 * * * *", 1_700_000_000_000) == "0 * * * *-1700000000000"
    for cron in ("* * * * *", "*/5 0-6 1,15 * MON-FRI", "0 9 L * *", "0 9 * * 1#2"):
        generated = schedule_instance_id(cron, 1767225600000)
        assert check_addressable_instance_id(generated) == generated  # the API and CLI can name it
        with pytest.raises(InvalidInstanceIdError):  # but a user's create() may not use it
            check_instance_id(generated)


class Flow(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        return {"schedule": event.get("schedule"), "payload": event["payload"]}


async def test_a_schedule_creates_its_instance_as_cloudflare_does(tmp_path: Path, make_engine: Any) -> None:
    engine = await make_engine(Flow)
    with pytest.raises(InvalidInstanceIdError, match=r"use letters, digits, '-' and '_'"):
        await engine.create("flow", id="*/5 * * * *-1767225600000")  # only a schedule makes such ids
    scheduler = WorkflowScheduler(engine, [WorkflowSchedule("flow", "*/5 * * * *")], tmp_path)
    try:
        instance_id = await scheduler.fire(scheduler.schedules[0], 1767225600000)
        assert instance_id == "*/5 * * * *-1767225600000"
        status = await engine.wait_for("flow", instance_id)
        assert status["output"] == {"schedule": {"cron": "*/5 * * * *", "scheduledTime": 1767225600000}, "payload": {}}
        assert await scheduler.fire(scheduler.schedules[0], 1767225600000) is None  # a firing never creates two
        assert await engine.delete_batch("flow", [instance_id]) == ([instance_id], [])
    finally:
        await scheduler.close()


class FakeEngine:
    def __init__(self) -> None:
        self.created: list[tuple[str, str]] = []
        self.event_extra: Any = None

    async def create(self, workflow: str, id: str, params: Any, scheduled: bool = False) -> str:
        assert scheduled
        if (workflow, id) in self.created:
            raise InstanceExistsError(workflow, id)
        self.created.append((workflow, id))
        return id


async def test_missed_schedule_ticks_run_once_at_start(tmp_path: Path) -> None:
    schedule = WorkflowSchedule("wf", "* * * * *")
    engine = FakeEngine()
    first = WorkflowScheduler(engine, [schedule], tmp_path)
    await first.start()
    await first.close()
    assert engine.created == []  # a new schedule only records the time
    db = sqlite3.connect(tmp_path / "triggers.sqlite")
    with db:  # the server was down for ten minutes
        db.execute("UPDATE schedules SET last_epoch_ms = last_epoch_ms - 600000")
    db.close()
    again = WorkflowScheduler(engine, [schedule], tmp_path)
    await again.start()
    await again.close()
    assert len(engine.created) == 1
    missed = previous_fire_ms("* * * * *", int(time.time() * 1000))
    assert engine.created[0] == ("wf", schedule_instance_id("* * * * *", missed))
    third = WorkflowScheduler(engine, [schedule], tmp_path)
    await third.start()
    assert third.event_extra("wf", engine.created[0][1]) == {"schedule": {"cron": "* * * * *", "scheduledTime": missed}}
    await third.close()
    assert len(engine.created) == 1  # nothing missed since


# -- queues ---------------------------------------------------------------------------------------------


async def run_consumer(
    tmp_path: Path, config: QueueConsumer, handler: Any, send: Any, until: Any, timeout: float = 5
) -> QueueStore:
    store = QueueStore.open(tmp_path / "queues.sqlite")
    loop: QueueConsumerLoop | None = None
    producer = QueueProducerBinding(store, config.queue, on_send=lambda q: loop.wake() if loop else None)
    loop = QueueConsumerLoop(store, config, handler)
    loop.start()
    try:
        await send(producer)
        deadline = time.monotonic() + timeout
        while not until() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert until()
    finally:
        await loop.close()
    return store


async def test_batches_fill_by_size(tmp_path: Path) -> None:
    batches: list[list[Any]] = []

    async def handler(batch: MessageBatch) -> None:
        batches.append([m.body for m in batch.messages])
        batch.ackAll()

    async def send(q: QueueProducerBinding) -> None:
        await q.sendBatch([{"body": {"n": i}} for i in range(7)])

    cfg = QueueConsumer("q", max_batch_size=3, max_batch_timeout=60)
    store = await run_consumer(tmp_path, cfg, handler, send, lambda: sum(map(len, batches)) >= 6)
    assert batches == [[{"n": 0}, {"n": 1}, {"n": 2}], [{"n": 3}, {"n": 4}, {"n": 5}]]  # 7th waits for the timeout
    assert store.depth("q") == 1


async def test_a_partial_batch_is_sent_after_max_batch_timeout(tmp_path: Path) -> None:
    seen: list[float] = []
    started = time.monotonic()

    async def handler(batch: MessageBatch) -> None:
        seen.append(time.monotonic() - started)

    async def send(q: QueueProducerBinding) -> None:
        await q.send("one", {"contentType": "text"})

    store = await run_consumer(
        tmp_path, QueueConsumer("q", max_batch_size=10, max_batch_timeout=0.3), handler, send, lambda: seen
    )
    assert 0.25 <= seen[0] < 3
    assert store.depth("q") == 0  # returned without ack/retry: acked


async def test_handler_error_retries_then_dead_letters(tmp_path: Path) -> None:
    attempts: list[int] = []

    async def handler(batch: MessageBatch) -> None:
        attempts.append(batch.messages[0].attempts)
        raise RuntimeError("boom")

    async def send(q: QueueProducerBinding) -> None:
        await q.send({"x": 1})

    cfg = QueueConsumer("q", max_batch_timeout=0, max_retries=2, dead_letter_queue="dlq")
    store = await run_consumer(tmp_path, cfg, handler, send, lambda: store_depth(tmp_path, "dlq") == 1)
    assert attempts == [1, 2, 3]
    assert store.depth("q") == 0


def store_depth(tmp_path: Path, queue: str) -> int:
    db = sqlite3.connect(tmp_path / "queues.sqlite")
    try:
        rows = db.execute("SELECT attempts FROM message_groups WHERE queue = ?", (queue,))
        return sum(sum(a is not None for a in json.loads(text)) for (text,) in rows)
    finally:
        db.close()


async def test_retry_delay_and_delivery_delay(tmp_path: Path) -> None:
    times: list[float] = []
    started = time.monotonic()

    async def handler(batch: MessageBatch) -> None:
        times.append(time.monotonic() - started)
        if len(times) == 1:
            batch.messages[0].retry({"delaySeconds": 1})

    async def send(q: QueueProducerBinding) -> None:
        await q.send("x", contentType="text", delaySeconds=1)

    await run_consumer(tmp_path, QueueConsumer("q", max_batch_timeout=0), handler, send, lambda: len(times) == 2)
    assert 0.9 <= times[0] < 1.8 and 1.9 <= times[1] < 3.5


async def test_producer_limits_and_unserializable_bodies(tmp_path: Path) -> None:
    store = QueueStore.open(tmp_path / "queues.sqlite")
    q = QueueProducerBinding(store, "q", on_send=lambda name: None)
    with pytest.raises(ValueError, match="128,000 bytes per message"):
        await q.send("x" * 130_000, {"contentType": "text"})
    with pytest.raises(ValueError, match="at most 100 per batch"):
        await q.sendBatch([{"body": i} for i in range(101)])
    with pytest.raises(ValueError, match="256,000 bytes per batch"):
        await q.sendBatch([{"body": "x" * 100_000, "contentType": "text"} for _ in range(3)])
    with pytest.raises(TypeError, match="cannot be sent over RPC"):
        await q.send((1, 2))
    with pytest.raises(ValueError, match="delaySeconds is 50000"):
        await q.send(1, {"delaySeconds": 50000})
    assert store.depth("q") == 0
    await q.send(b"\x00\x01", {"contentType": "bytes"})
    assert store.depth("q") == 1
    store.close()


async def test_in_flight_messages_are_released_when_the_store_reopens(tmp_path: Path) -> None:
    store = QueueStore.open(tmp_path / "queues.sqlite")
    await QueueProducerBinding(store, "q", on_send=lambda n: None).send({"a": 1})
    [(group, indexes)] = store.take("q", 10, int(time.time() * 1000))
    assert indexes == [0] and group.body(0) == {"a": 1}
    assert store.take("q", 10, int(time.time() * 1000)) == []
    store.conn.close()  # the process died with the message in flight
    again = QueueStore.open(tmp_path / "queues.sqlite")
    [(group, indexes)] = again.take("q", 10, int(time.time() * 1000))
    assert indexes == [0] and group.attempts == [2]  # the lost delivery counted
    again.close()


# -- Durable Objects ------------------------------------------------------------------------------------


class Box(DurableObject):
    async def put(self, key: str, value: Any) -> None:
        await self.ctx.storage.put(key, value)

    async def slow_increment(self) -> int:
        n = (await self.ctx.storage.get("n")) or 0
        await asyncio.sleep(0.02)
        await self.ctx.storage.put("n", n + 1)
        return int(n + 1)

    async def fail_in_txn(self) -> None:
        async def body(txn: Any) -> None:
            await txn.put("t", 1)
            self.ctx.storage.sql.exec("INSERT INTO items VALUES (?)", "in-txn")
            raise ValueError("undo")

        await self.ctx.storage.transaction(body)


def namespace(tmp_path: Path, cls: type = Box) -> DurableObjectNamespace:
    return DurableObjectNamespace(cls, script="w", root=tmp_path / "do", env_getter=lambda: None)


def test_id_from_name_follows_workerds_formula() -> None:
    import hashlib
    import hmac

    key = hashlib.sha256(b"w-Box").digest()
    a = hmac.new(key, b"room", hashlib.sha256).digest()[:16]
    b = hmac.new(key, a, hashlib.sha256).digest()[:16]
    assert id_from_name("w-Box", "room") == (a + b).hex()
    assert id_from_name("w-Box", "room") != id_from_name("w-Other", "room")


async def test_storage_kv_api(tmp_path: Path) -> None:
    ns = namespace(tmp_path)
    stub = ns.getByName("a")
    await stub.put("k", {"when": dt.datetime(2026, 1, 1), "n": [1, 2.0]})
    live = ns._object(stub.id)
    storage = live.state.storage
    assert await storage.get("k") == {"when": dt.datetime(2026, 1, 1), "n": [1, 2]}
    await storage.put({"a:1": 1, "a:2": 2, "b:1": 3})
    assert await storage.get(["a:1", "missing", "b:1"]) == {"a:1": 1, "b:1": 3}
    assert list(await storage.list({"prefix": "a:"})) == ["a:1", "a:2"]
    assert list(await storage.list(reverse=True, limit=2)) == ["k", "b:1"]
    assert list(await storage.list({"start": "a:2", "end": "b:2"})) == ["a:2", "b:1"]
    assert await storage.delete("a:1") is True and await storage.delete("a:1") is False
    assert await storage.delete(["a:2", "b:1", "zz"]) == 2
    await storage.deleteAll()
    assert await storage.list() == {}
    await ns.close()
    assert (tmp_path / "do" / "w-Box" / f"{stub.id}.sqlite").is_file()


async def test_sql_api_and_transaction_rollback(tmp_path: Path) -> None:
    ns = namespace(tmp_path)
    stub = ns.getByName("a")
    sql = ns._object(stub.id).state.storage.sql
    sql.exec("CREATE TABLE items (name TEXT)")
    cur = sql.exec("INSERT INTO items VALUES (?), (?)", "x", "y")
    assert cur.rowsWritten == 2
    cur = sql.exec("SELECT name FROM items ORDER BY name")
    assert cur.columnNames == ["name"] and cur.toArray() == [{"name": "x"}, {"name": "y"}] and cur.rowsRead == 2
    assert [r["name"] for r in sql.exec("SELECT name FROM items")] == ["x", "y"]
    assert list(sql.exec("SELECT name FROM items WHERE name = 'x'").raw()) == [["x"]]
    with pytest.raises(ValueError, match="Expected exactly one result"):
        sql.exec("SELECT name FROM items").one()
    with pytest.raises(ValueError, match="undo"):
        await stub.fail_in_txn()
    assert sql.exec("SELECT count(*) AS c FROM items").one() == {"c": 2}
    assert await ns._object(stub.id).state.storage.get("t") is None
    await ns.close()


async def test_input_gate_serializes_calls_to_one_object(tmp_path: Path) -> None:
    ns = namespace(tmp_path)
    a, b = ns.getByName("a"), ns.getByName("b")
    results = await asyncio.gather(*(a.slow_increment() for _ in range(5)), b.slow_increment())
    assert sorted(results[:5]) == [1, 2, 3, 4, 5] and results[5] == 1
    await ns.close()


async def test_ids_and_stubs(tmp_path: Path) -> None:
    ns = namespace(tmp_path)
    named = ns.idFromName("a")
    assert named == ns.idFromName("a") and named.name == "a" and ns.idFromString(str(named)) == named
    assert ns.newUniqueId() != ns.newUniqueId()
    with pytest.raises(TypeError, match="Invalid Durable Object ID"):
        ns.idFromString("nope")
    with pytest.raises(TypeError, match="does not implement the method 'missing'"):
        await ns.get(named).missing()
    await ns.close()


class Alarmed(DurableObject):
    fired: list[str] = []

    async def arm(self, delay_ms: int) -> None:
        await self.ctx.storage.setAlarm(int(time.time() * 1000) + delay_ms)

    async def alarm(self) -> None:
        Alarmed.fired.append(str(self.ctx.id))


async def test_alarm_persists_and_fires_after_reopen(tmp_path: Path) -> None:
    Alarmed.fired = []
    ns = namespace(tmp_path, Alarmed)
    stub = ns.getByName("a")
    await stub.arm(300)
    assert await ns._object(stub.id).state.storage.getAlarm() is not None
    await ns.close()  # "restart" before it is due
    again = namespace(tmp_path, Alarmed)
    await again.start()
    deadline = time.monotonic() + 5
    while not Alarmed.fired and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert Alarmed.fired == [str(stub.id)]
    assert again.get_alarm(str(stub.id)) is None
    await again.close()


def test_do_root_uses_wranglers_layout_for_the_default_state_dir(tmp_path: Path) -> None:
    assert do_root(tmp_path / ".pyflows" / "state", tmp_path) == tmp_path / ".wrangler" / "state" / "v3" / "do"
    assert do_root(tmp_path / "elsewhere", tmp_path) == tmp_path / "elsewhere" / "v3" / "do"


def test_a_session_needs_distinct_worker_and_workflow_names(tmp_path: Path) -> None:
    from pyflows.runtime.config.session import load_session
    from pyflows.runtime.errors import ConfigError

    wf = {"name": "flow", "binding": "F", "class_name": "F"}
    write_project(tmp_path / "a", name="a", workflows=[wf])
    write_project(tmp_path / "b", name="b", workflows=[{**wf, "script_name": "a"}])
    write_project(tmp_path / "c", name="a")
    write_project(tmp_path / "d", name="d", workflows=[wf])
    cfg = load_session(tmp_path, [Path("a/wrangler.jsonc"), Path("b/wrangler.jsonc")])
    assert cfg.name == "a" and [s.name for s in cfg.siblings] == ["b"]
    with pytest.raises(ConfigError, match="both name their Worker 'a'"):
        load_session(tmp_path, [Path("a/wrangler.jsonc"), Path("c/wrangler.jsonc")])
    with pytest.raises(ConfigError, match="Workflow 'flow' is defined by both 'a' and 'd'"):
        load_session(tmp_path, [Path("a/wrangler.jsonc"), Path("d/wrangler.jsonc")])


@pytest.mark.parametrize(
    "body",
    [{"a": 1, "b": "x", "c": None, "d": True}, {"when": dt.datetime(2026, 1, 1, 12)}, {"f": 2.5, "n": [1, {"x": "y"}]}],
)
def test_message_bodies_round_trip_like_rpc_values(body: dict[str, Any]) -> None:
    from pyflows.runtime.bindings.queues import decode_body, encode_body
    from pyflows.runtime.surface.values import python_from_rpc, python_to_rpc

    decoded = decode_body(encode_body(body), "json")
    assert decoded == python_from_rpc(python_to_rpc(body))
    assert all(getattr(decoded, key) == decoded[key] for key in body)  # attribute access, as JsDict
    with pytest.raises(TypeError, match="cannot be sent over RPC"):
        encode_body({"t": (1, 2)})


class Warm(DurableObject):
    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        self.loaded: list[str] = []

        async def load() -> None:
            await asyncio.sleep(0.05)
            self.loaded.append("ready")

        ctx.blockConcurrencyWhile(load)

    async def state(self) -> list[str]:
        return self.loaded

    async def fetch(self, request: Any) -> Any:
        from pyflows.runtime.surface.http import Response

        return Response(f"{request.method} {request.url} {self.loaded}")


async def test_block_concurrency_while_in_the_constructor_runs_before_any_call(tmp_path: Path) -> None:
    ns = namespace(tmp_path, Warm)
    stub = ns.getByName("w")
    assert await stub.state() == ["ready"]
    response = await stub.fetch("http://do/path", method="POST")
    assert response.status == 200 and response.body == b"POST http://do/path ['ready']"
    await ns.close()


async def test_legacy_queue_and_scheduled_handlers_get_env_and_ctx(tmp_path: Path) -> None:
    from pyflows.runtime.triggers.cron import fire
    from pyflows.runtime.worker.loader import load_worker

    entry = (
        "seen = []\n"
        "def on_queue(batch, env, ctx):\n    seen.append(('queue', batch.queue, env['K'], hasattr(ctx, 'waitUntil')))\n"
        "async def on_scheduled(controller):\n    seen.append(('cron', controller.cron, controller.scheduledTime))\n"
    )
    cfg = load(
        write_project(
            tmp_path,
            entry,
            compatibility_date="2025-01-01",
            triggers={"crons": ["* * * * *"]},
            queues={"consumers": [{"queue": "q"}]},
        )
    )
    worker = load_worker(cfg)
    await worker.queue(MessageBatch("q", []), {"K": "v"})
    assert await fire(worker, {}, "* * * * *", 5) == {"outcome": "ok", "noRetry": False}
    assert worker.module.seen == [("queue", "q", "v", True), ("cron", "* * * * *", 5)]


async def test_a_failing_scheduled_handler_reports_exception(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pyflows.runtime.triggers.cron import fire
    from pyflows.runtime.worker.loader import load_worker

    entry = (
        "from workers import WorkerEntrypoint\n"
        "class Default(WorkerEntrypoint):\n"
        "    async def scheduled(self, controller, env, ctx):\n"
        "        controller.noRetry()\n"
        "        raise ValueError('no report today')\n"
    )
    worker = load_worker(load(write_project(tmp_path, entry, triggers={"crons": ["0 6 * * *"]})))
    assert await fire(worker, {}, "0 6 * * *", 1767247200000) == {"outcome": "exception", "noRetry": True}
    out, err = capsys.readouterr()
    assert 'scheduled "0 6 * * *" at 2026-01-01T06:00:00.000Z: exception' in out
    assert "✘ [ERROR] Uncaught ValueError in scheduled() for cron '0 6 * * *': no report today" in err


async def test_max_concurrency_delivers_batches_at_once(tmp_path: Path) -> None:
    running = 0
    peak = 0
    done = 0

    async def handler(batch: MessageBatch) -> None:
        nonlocal running, peak, done
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.1)
        running -= 1
        done += len(batch.messages)

    async def send(q: QueueProducerBinding) -> None:
        await q.sendBatch([{"body": i} for i in range(6)])

    cfg = QueueConsumer("q", max_batch_size=2, max_batch_timeout=0, max_concurrency=3)
    await run_consumer(tmp_path, cfg, handler, send, lambda: done == 6)
    assert peak == 3
    (tmp_path / "queues.sqlite").unlink()
    peak = done = 0
    await run_consumer(
        tmp_path, QueueConsumer("q", max_batch_size=2, max_batch_timeout=0), handler, send, lambda: done == 6
    )
    assert peak == 1
