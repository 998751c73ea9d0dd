"""Instance events with a cursor (Cloudflare's subscribe() types), Wake now and Retry now (issue 15/16)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from engine_helpers import EngineFactory
from pyflows.runtime.errors import InvalidTransitionError
from pyflows.runtime.workflows import queries
from pyflows.runtime.workflows.binding import WorkflowInstance
from workers import WorkflowEntrypoint

pytestmark = pytest.mark.anyio


class Sleepy(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("first")
        async def first() -> int:
            return 1

        await first()
        await step.sleep("nap", "1 hour")
        try:
            got = await step.wait_for_event("approval", "approve", timeout="1 hour")
        except Exception as exc:
            return {"timed_out": type(exc).__name__}
        return {"approved": got["payload"]}


class Flaky(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("flaky", config={"retries": {"limit": 2, "delay": "1 hour", "backoff": "constant"}})
        async def flaky(ctx: Any) -> int:
            if ctx["attempt"] < 2:
                raise ValueError("first attempt fails")
            return int(ctx["attempt"])

        return await flaky()


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


async def until(engine: Any, wf: str, iid: str, predicate: Any, timeout: float = 5.0) -> list[dict[str, Any]]:
    async with asyncio.timeout(timeout):
        while True:
            events = await engine.subscribe_history(wf, iid)
            if predicate(events):
                return events
            await asyncio.sleep(0.01)


async def test_events_follow_cloudflare_types_and_wake_ends_the_sleep_durably(make_engine: EngineFactory) -> None:
    engine = await make_engine(Sleepy)
    iid = await engine.create("sleepy", id="a")
    events = await until(engine, "sleepy", "a", lambda ev: "sleep_started" in types(ev))
    assert types(events)[:8] == [
        "workflow_queued", "workflow_started", "workflow_running", "step_started", "attempt_started",
        "attempt_completed", "step_completed", "sleep_started",
    ]  # fmt: skip
    assert [e["eventId"] for e in events] == list(range(1, len(events) + 1))
    nap = next(e for e in events if e["type"] == "sleep_started")
    assert nap["stepName"] == "nap" and nap["durationMs"] == 3_600_000 and nap["instanceId"] == iid
    await engine.wait_for("sleepy", "a", {"waiting"})
    assert await engine.wake("sleepy", "a") == 1
    # Settled in the event wait: `workflow_waiting` follows `wait_started` (taking the cursor before it
    # arrived made the next assertion racy).
    events = await until(
        engine, "sleepy", "a", lambda ev: "wait_started" in types(ev) and ev[-1]["type"] == "workflow_waiting"
    )
    assert "sleep_completed" in types(events)
    # The cursor: only what came after it.
    cursor = events[-1]["eventId"]
    assert await engine.subscribe_history("sleepy", "a", cursor) == []
    # Waking the event wait ends its timeout: it times out into run(), which returns.
    await engine.wait_for("sleepy", "a", {"waiting"})
    await engine.wake("sleepy", "a")
    status = await engine.wait_for("sleepy", "a")
    assert status["status"] == "complete"
    after = await engine.subscribe_history("sleepy", "a", cursor)
    assert "wait_timed_out" in types(after)
    assert after[-1]["type"] == "workflow_completed" and after[-1]["output"] == {"timed_out": "WorkflowTimeoutError"}
    with pytest.raises(InvalidTransitionError, match="it is complete"):
        await engine.wake("sleepy", "a")


async def test_wake_survives_a_restart_of_the_engine(make_engine: EngineFactory) -> None:
    engine = await make_engine(Sleepy)
    await engine.create("sleepy", id="b")
    await until(engine, "sleepy", "b", lambda ev: "sleep_started" in types(ev))
    await engine.wait_for("sleepy", "b", {"waiting"})
    # Stored first: the new deadline is what a fresh process replays.
    pk = (await engine._row("sleepy", "b"))["pk"]
    assert await engine.store.write(lambda c: queries.wake_timers_txn(c, pk, 1, only_retries=False)) == 1
    engine2 = await make_engine.reopen(engine, Sleepy)
    events = await until(engine2, "sleepy", "b", lambda ev: "wait_started" in types(ev))
    assert "sleep_completed" in types(events)  # rebuilt from storage: the sleep ended at startup


async def test_retry_now_runs_the_next_attempt_and_history_is_rebuilt(make_engine: EngineFactory) -> None:
    engine = await make_engine(Flaky)
    await engine.create("flaky", id="c")
    events = await until(engine, "flaky", "c", lambda ev: "attempt_errored" in types(ev))
    errored = next(e for e in events if e["type"] == "attempt_errored")
    assert errored["error"] == {"name": "ValueError", "message": "first attempt fails"}
    assert errored["retryDelayMs"] == 3_600_000
    assert await engine.retry_now("flaky", "c") == "running"
    status = await engine.wait_for("flaky", "c")
    assert status["status"] == "complete"
    # A fresh engine rebuilds the same step history from storage.
    engine2 = await make_engine.reopen(engine, Flaky)
    rebuilt = await engine2.subscribe_history("flaky", "c")
    assert types(rebuilt) == [
        "workflow_queued", "workflow_started", "step_started", "attempt_started", "attempt_errored",
        "attempt_started", "attempt_completed", "step_completed", "workflow_completed",
    ]  # fmt: skip


async def test_binding_subscribe_replays_then_follows_and_ends(make_engine: EngineFactory) -> None:
    engine = await make_engine(Sleepy)
    await engine.create("sleepy", id="d")
    sub = await WorkflowInstance(engine, "sleepy", "d").subscribe({"filter": ["sleep_started", "workflow_completed"]})
    first = await sub.next()
    assert first.done is False and first.value.type == "sleep_started"
    await engine.wait_for("sleepy", "d", {"waiting"})
    await engine.wake("sleepy", "d")
    await engine.wait_for("sleepy", "d", {"waiting"})
    await engine.send_event("sleepy", "d", "approve", {"ok": True})
    seen = [e.type async for e in sub]
    assert seen == ["workflow_completed"]
    assert (await sub.next()).done is True


async def test_wake_a_hibernated_instance(make_engine: EngineFactory) -> None:
    engine = await make_engine(Sleepy, hibernate_after_ms=50)
    await engine.create("sleepy", id="h")
    await until(engine, "sleepy", "h", lambda ev: "sleep_started" in types(ev))
    async with asyncio.timeout(5):
        while ("sleepy", "h") in engine._live:  # hibernated: only its row is left
            await asyncio.sleep(0.01)
    assert await engine.wake("sleepy", "h") == 1
    events = await until(engine, "sleepy", "h", lambda ev: "wait_started" in types(ev))
    assert "sleep_completed" in types(events)


class Big(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("big")
        async def big() -> str:
            return "x" * 100_000

        @step.do("secret", config={"sensitive": "output"})
        async def secret() -> str:
            return "hunter2"

        await big()
        return await secret()


async def test_large_and_sensitive_outputs_in_events(make_engine: EngineFactory) -> None:
    engine = await make_engine(Big)
    await engine.create("big", id="b")
    await engine.wait_for("big", "b")
    completed = {e["stepName"]: e["output"] for e in await engine.subscribe_history("big", "b")
                 if e["type"] == "step_completed"}  # fmt: skip
    assert completed["big"].startswith("[too large to stream: 100002 bytes")
    assert completed["secret"] == "[REDACTED]"
