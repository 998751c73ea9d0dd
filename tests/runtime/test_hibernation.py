"""Long waits cost rows, not coroutines: waiting-only runs are evicted and replayed on wake."""

from __future__ import annotations

import time

import pytest
from engine_helpers import EngineFactory
from workers import WorkflowEntrypoint

pytestmark = pytest.mark.anyio


class Napper(WorkflowEntrypoint):
    replays = 0
    work = 0

    async def run(self, event, step):
        Napper.replays += 1

        @step.do("work")
        async def work():
            Napper.work += 1
            return event.payload["n"]

        n = await work()
        if event.payload.get("event"):
            got = await step.wait_for_event("ping", "ping", timeout="1 hour")
            n += got["payload"]["add"]
        else:
            await step.sleep("nap", 800)  # hibernates if the idle check runs within 700 ms: slack for a loaded CI
        return n


async def test_a_sleeping_instance_hibernates_and_wakes_on_time(make_engine: EngineFactory) -> None:
    Napper.replays = Napper.work = 0
    engine = await make_engine(Napper, hibernate_after_ms=100)
    t0 = time.monotonic()
    iid = await engine.create("napper", params={"n": 5})
    await engine.wait_for("napper", iid, {"waiting"})
    assert (await engine.status("napper", iid))["status"] == "waiting"
    status = await engine.wait_for("napper", iid)
    assert status["output"] == 5 and 0.79 <= time.monotonic() - t0 < 2.5
    assert Napper.replays == 2  # evicted while sleeping, replayed at wake time
    assert Napper.work == 1  # ...without running the completed step again


async def test_an_event_wakes_a_hibernated_instance(make_engine: EngineFactory) -> None:
    Napper.replays = Napper.work = 0
    engine = await make_engine(Napper, hibernate_after_ms=100)
    iid = await engine.create("napper", params={"n": 1, "event": True})
    await engine.wait_for("napper", iid, {"waiting"})
    await engine.send_event("napper", iid, "ping", {"add": 41})
    assert (await engine.wait_for("napper", iid))["output"] == 42
    assert Napper.work == 1


async def test_short_waits_stay_in_memory(make_engine: EngineFactory) -> None:
    Napper.replays = Napper.work = 0
    engine = await make_engine(Napper, hibernate_after_ms=5_000)
    iid = await engine.create("napper", params={"n": 3})
    assert (await engine.wait_for("napper", iid))["output"] == 3
    assert Napper.replays == 1
