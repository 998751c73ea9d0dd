"""Many sleeping instances cost rows, not memory: the wake timers page them in from SQLite.

A hibernated instance is dropped from the engine's memory once its row says `waiting` with a wake
time; a start loads only what must run soon plus one page of wake times; status counts come from a
table the database keeps exact with triggers.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest
from engine_helpers import EngineFactory
from workers import WorkflowEntrypoint

pytestmark = pytest.mark.anyio


class Sleeper(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.sleep("nap", event.payload["ms"])
        return event.payload["n"]


async def _until(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.01)


async def test_a_hibernated_instance_is_not_held_in_memory(make_engine: EngineFactory) -> None:
    engine = await make_engine(Sleeper, hibernate_after_ms=100)
    iid = await engine.create("sleeper", params={"ms": 3_600_000, "n": 1})
    await _until(lambda: ("sleeper", iid) not in engine._live)
    assert (await engine.status("sleeper", iid))["status"] == "waiting"
    # An operation on it loads it from its row: pause, resume (it goes back to sleep), terminate.
    assert await engine.pause("sleeper", iid) == "paused"
    await engine.resume("sleeper", iid)
    await engine.wait_for("sleeper", iid, {"waiting"})
    assert await engine.terminate("sleeper", iid) == "terminated"
    assert (await engine.status("sleeper", iid))["status"] == "terminated"


async def test_a_restart_reads_one_page_of_wake_times_and_pages_in_the_rest(make_engine: EngineFactory) -> None:
    engine = await make_engine(Sleeper, hibernate_after_ms=100, wake_page=8)
    now = time.time() * 1000
    ids = [await engine.create("sleeper", params={"ms": 1_500 + 40 * n, "n": n}) for n in range(30)]
    await _until(lambda: not any(("sleeper", i) in engine._live for i in ids))
    engine = await make_engine.reopen(engine, Sleeper, hibernate_after_ms=100, wake_page=8)
    assert not engine._live  # nothing loaded but one page of wake times...
    assert len(engine.timers._heap) <= 8
    done = [await engine.wait_for("sleeper", i, timeout=20) for i in ids]  # ...and every one wakes, paged in
    assert [d["output"] for d in done] == list(range(30))
    assert time.time() * 1000 - now >= 1_500


async def test_new_sleepers_beyond_two_pages_are_left_on_disk_and_still_wake(make_engine: EngineFactory) -> None:
    # A fresh engine has every wake time in memory; creating many sleepers must not keep them all.
    engine = await make_engine(Sleeper, hibernate_after_ms=100, wake_page=8)
    ids = [await engine.create("sleeper", params={"ms": 1_200 + 30 * n, "n": n}) for n in range(40)]
    await _until(lambda: not any(("sleeper", i) in engine._live for i in ids))
    assert len(engine.timers._heap) <= 16
    done = [await engine.wait_for("sleeper", i, timeout=20) for i in ids]
    assert [d["output"] for d in done] == list(range(40))


async def test_due_sleepers_and_events_are_taken_up_at_start(make_engine: EngineFactory) -> None:
    class Waiter(WorkflowEntrypoint):
        async def run(self, event, step):
            got = await step.wait_for_event("w", "go", timeout="1 hour")
            return got["payload"]

    engine = await make_engine(Sleeper, Waiter, hibernate_after_ms=100)
    short = await engine.create("sleeper", params={"ms": 1_000, "n": 7})
    waiter = await engine.create("waiter")
    await _until(lambda: ("waiter", waiter) not in engine._live and ("sleeper", short) not in engine._live)
    await make_engine.close_one(engine)
    # While the server is down an event arrives for the waiter (stored, as the API does) and the sleep ends.
    conn = sqlite3.connect(make_engine.tmp_path / "state" / "workflows.sqlite")
    pk = conn.execute("SELECT pk FROM instances WHERE id = ?", (waiter,)).fetchone()[0]
    conn.execute(
        "INSERT INTO events (instance_pk, type, payload, received_at_epoch_ms) VALUES (?, 'go', '5', ?)",
        (pk, int(time.time() * 1000)),
    )
    conn.commit()
    conn.close()
    await asyncio.sleep(1.0)
    engine = await make_engine(Sleeper, Waiter, hibernate_after_ms=100)
    assert (await engine.wait_for("sleeper", short))["output"] == 7
    assert (await engine.wait_for("waiter", waiter))["output"] == 5


async def test_status_counts_stay_exact_through_every_transition(make_engine: EngineFactory) -> None:
    engine = await make_engine(Sleeper, hibernate_after_ms=100)
    a = await engine.create("sleeper", params={"ms": 3_600_000, "n": 1})
    b = await engine.create("sleeper", params={"ms": 10, "n": 2})
    c = await engine.create("sleeper", params={"ms": 3_600_000, "n": 3})
    await engine.wait_for("sleeper", b)
    await engine.wait_for("sleeper", a, {"waiting"})
    await engine.wait_for("sleeper", c, {"waiting"})
    await engine.terminate("sleeper", c)
    await engine.delete("sleeper", b)
    await engine.pause("sleeper", a)

    def counted() -> dict[str, int]:
        conn = sqlite3.connect(make_engine.tmp_path / "state" / "workflows.sqlite")
        try:
            rows = conn.execute("SELECT status, count(*) FROM instances WHERE workflow = 'sleeper' GROUP BY status")
            return dict(rows.fetchall())
        finally:
            conn.close()

    await engine.store.write(lambda conn: None)  # every queued status write committed
    counts = await engine.status_counts("sleeper")
    assert {k: v for k, v in counts.items() if v} == counted() == {"paused": 1, "terminated": 1}
    _, total = await engine.list_instances("sleeper")
    assert total == 2


async def test_create_batch_writes_once_and_skips_existing_ids(make_engine: EngineFactory) -> None:
    engine = await make_engine(Sleeper, hibernate_after_ms=100)
    await engine.create("sleeper", id="old", params={"ms": 10, "n": 0})
    ids = await engine.create_batch("sleeper", [{"id": f"i{n}", "params": {"ms": 10, "n": n}} for n in range(50)])
    assert ids[:3] == ["i0", "i1", "i2"] and len(ids) == 50
    for n in (0, 49):
        assert (await engine.wait_for("sleeper", f"i{n}"))["output"] == n
    assert (await engine.status_counts("sleeper"))["complete"] >= 2


async def test_a_workflow_concurrency_limit_queues_its_own_instances_only(make_engine: EngineFactory) -> None:
    release = asyncio.Event()
    running: list[str] = []
    peak = {"capped": 0}

    class Capped(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("work")
            async def work():
                running.append(event.instanceId)
                peak["capped"] = max(peak["capped"], len(running))
                await release.wait()
                running.remove(event.instanceId)
                return 1

            await work()
            if event.payload.get("nap"):
                await step.sleep("nap", 3_600_000)  # waiting: gives its slot back
            return 1

    class Free(WorkflowEntrypoint):
        async def run(self, event, step):
            return "free"

    engine = await make_engine(Capped, Free, concurrency_limits={"capped": 2}, hibernate_after_ms=100)
    napper = await engine.create("capped", id="napper", params={"nap": True})
    ids = [await engine.create("capped", id=f"c{n}") for n in range(4)]
    await _until(lambda: len(running) == 2)
    statuses = [(await engine.status("capped", i))["status"] for i in ids]
    assert statuses.count("queued") >= 2  # over the limit: queued, oldest first
    assert (await engine.wait_for("free", await engine.create("free")))["output"] == "free"  # other workflows run
    release.set()
    for iid in ids:
        assert (await engine.wait_for("capped", iid))["status"] == "complete"
    assert (await engine.wait_for("capped", napper, {"waiting"}))["status"] == "waiting"
    assert peak["capped"] == 2


async def test_a_hibernated_run_is_freed(make_engine: EngineFactory) -> None:
    import gc

    from pyflows.runtime.workflows.run import Run

    engine = await make_engine(Sleeper, hibernate_after_ms=100)
    ids = await engine.create_batch("sleeper", [{"params": {"ms": 3_600_000, "n": n}} for n in range(20)])
    await _until(lambda: not any(("sleeper", i) in engine._live for i in ids))

    def runs_alive() -> int:
        gc.collect()
        # type(), not isinstance(): isinstance() asks lazy proxies (Django's settings) for __class__.
        return sum(type(o) is Run for o in gc.get_objects())

    await _until(lambda: runs_alive() == 0, timeout=5)  # nothing keeps a sleeping run in memory
