"""The engine and the Workflows SDK semantics (steps, retries, waits, lifecycle), in-process on a real SQLite store."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import time
from datetime import UTC, datetime, timedelta

import pytest
from engine_helpers import EngineFactory, api_details
from pyflows.runtime.errors import (
    InstanceExistsError,
    InstanceNotFoundError,
    InvalidInstanceIdError,
    InvalidTransitionError,
    PayloadTooLargeError,
    StepNotFoundError,
    WorkflowError,
    WorkflowNotFoundError,
)
from pyflows.runtime.workflows.engine import Engine
from pyflows.runtime.workflows.run import Run
from workers import WorkflowEntrypoint
from workers.workflows import NonRetryableError

pytestmark = pytest.mark.anyio
FAST = {"retries": {"limit": 0, "delay": 0, "backoff": "constant"}}


async def finish(engine, workflow, iid, timeout=10.0):
    return await engine.wait_for(workflow, iid, timeout=timeout)


# -- caching and replay ----------------------------------------------------------------------------


async def test_completed_steps_are_not_rerun_when_the_engine_restarts(make_engine: EngineFactory):
    runs = {"a": 0, "b": 0}

    class Cached(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do()
            async def a():
                runs["a"] += 1
                return {"value": 41, "when": datetime(2026, 1, 2, 3, 4, 5)}

            first = await a()
            await step.wait_for_event("go", "go", timeout="1 minute")

            @step.do()
            async def b(a):
                runs["b"] += 1
                return a["value"] + 1

            return {"b": await b(), "when": first["when"].isoformat(), "attr": first.value}

    engine = await make_engine(Cached)
    iid = await engine.create("cached")
    await engine.wait_for("cached", iid, {"waiting"})
    engine = await make_engine.reopen(engine, Cached)  # a new process would see only the database
    await engine.send_event("cached", iid, "go", {})
    status = await finish(engine, "cached", iid)
    assert status["status"] == "complete"
    assert status["output"] == {"b": 42, "when": "2026-01-02T03:04:05", "attr": 41}
    assert runs == {"a": 1, "b": 1}


async def test_repeated_step_names_get_counts(make_engine: EngineFactory):
    seen = []

    class Repeat(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("same")
            async def once(ctx):
                seen.append(ctx["step"]["count"])
                return ctx.step.count

            return [await once(), await once(), await once()]

    engine = await make_engine(Repeat)
    iid = await engine.create("repeat")
    assert (await finish(engine, "repeat", iid))["output"] == [1, 2, 3]
    details = await api_details(engine, "repeat", iid)
    assert [s["name"] for s in details["steps"]] == ["same-1", "same-2", "same-3"]
    assert details["step_count"] == 3


# -- retries, timeouts, errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backoff", "expected_delays"),
    [("constant", [100, 100, 100]), ("linear", [100, 200, 300]), ("exponential", [100, 200, 400])],
)
async def test_retries_follow_the_backoff_and_number_attempts(make_engine, backoff, expected_delays):
    starts: list[tuple[int, float]] = []

    class Flaky(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("flaky", config={"retries": {"limit": 3, "delay": 100, "backoff": backoff}})
            async def flaky(ctx):
                starts.append((ctx["attempt"], time.monotonic()))
                if ctx["attempt"] < 4:
                    raise RuntimeError(f"fail {ctx['attempt']}")
                return "ok"

            return await flaky()

    engine = await make_engine(Flaky)
    iid = await engine.create("flaky")
    assert (await finish(engine, "flaky", iid))["output"] == "ok"
    assert [a for a, _ in starts] == [1, 2, 3, 4]
    gaps = [(starts[i + 1][1] - starts[i][1]) * 1000 for i in range(3)]
    for gap, want in zip(gaps, expected_delays, strict=True):
        assert want - 5 <= gap <= want + 150, (gaps, expected_delays)
    step = (await api_details(engine, "flaky", iid))["steps"][0]
    assert [a["success"] for a in step["attempts"]] == [False, False, False, True]
    assert step["attempts"][0]["error"] == {"name": "RuntimeError", "message": "fail 1"}
    assert step["config"]["retries"] == {"limit": 3, "delay": 100, "backoff": backoff}


async def test_retry_limit_means_limit_plus_one_attempts_then_run_sees_the_error(make_engine):
    attempts = []

    class Exhaust(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("bad", config={"retries": {"limit": 2, "delay": "0 seconds", "backoff": "constant"}})
            async def bad(ctx):
                attempts.append(ctx["attempt"])
                raise ValueError("nope")

            try:
                await bad()
            except ValueError as exc:  # TypeError/ValueError keep their type, with the SDK's prefix
                return {"caught": str(exc)}

    engine = await make_engine(Exhaust)
    iid = await engine.create("exhaust")
    assert (await finish(engine, "exhaust", iid))["output"] == {"caught": "ValueError: nope"}
    assert attempts == [1, 2, 3]


async def test_timeout_bounds_each_attempt(make_engine):
    attempts = []

    class Slow(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("slow", config={"retries": {"limit": 1, "delay": 0, "backoff": "constant"}, "timeout": 50})
            async def slow(ctx):
                attempts.append(ctx["attempt"])
                await asyncio.sleep(5)

            await slow()

    engine = await make_engine(Slow)
    t0 = time.monotonic()
    iid = await engine.create("slow")
    status = await finish(engine, "slow", iid)
    assert time.monotonic() - t0 < 2
    assert attempts == [1, 2]
    assert status["status"] == "errored"
    assert status["error"] == {"name": "WorkflowTimeoutError", "message": "Execution timed out after 50ms"}


async def test_non_retryable_error_stops_retries_and_reaches_run(make_engine):
    attempts = []

    class Fatal(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("charge")
            async def charge(ctx):
                attempts.append(ctx["attempt"])
                raise NonRetryableError("card declined")

            try:
                await charge()
            except NonRetryableError as exc:
                return {"caught": str(exc)}

    engine = await make_engine(Fatal)
    iid = await engine.create("fatal")
    assert (await finish(engine, "fatal", iid))["output"] == {"caught": "card declined"}
    assert attempts == [1]


async def test_caught_step_failure_lets_run_continue(make_engine):
    class Recover(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("boom", config=FAST)
            async def boom():
                raise KeyError("missing")

            @step.do("after")
            async def after():
                return "continued"

            try:
                await boom()
            except Exception as exc:  # other exception types: catch Exception, as on Cloudflare
                note = str(exc)
            return {"note": note, "after": await after()}

    engine = await make_engine(Recover)
    iid = await engine.create("recover")
    assert (await finish(engine, "recover", iid))["output"] == {
        "note": "KeyError: 'missing'",
        "after": "continued",
    }


async def test_uncaught_error_ends_errored_with_name_and_message(make_engine):
    class Crash(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("fine")
            async def fine():
                return 1

            await fine()
            raise RuntimeError(f"bad input {event.payload['x']}")

    engine = await make_engine(Crash)
    iid = await engine.create("crash", params={"x": 7})
    status = await finish(engine, "crash", iid)
    assert status == {
        "status": "errored",
        "error": {"name": "RuntimeError", "message": "bad input 7"},
        "output": None,
    }
    details = await api_details(engine, "crash", iid)
    assert details["error"] == {"name": "RuntimeError", "message": "bad input 7"}
    assert details["end"] is not None


async def test_unknown_config_keys_are_an_error(make_engine):
    class BadConfig(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("x", config={"retry": {"limit": 1}})
            async def x():
                return 1

            await x()

    engine = await make_engine(BadConfig)
    iid = await engine.create("bad-config")
    status = await finish(engine, "bad-config", iid)
    assert status["status"] == "errored"
    assert "retry" in status["error"]["message"] and "allowed" in status["error"]["message"]


# -- results -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ((1, 2), "<class 'tuple'> cannot be sent over RPC."),
        (object(), "<class 'object'> cannot be sent over RPC."),
    ],
)
async def test_non_json_results_fail_the_step(make_engine, value, needle):
    attempts = []

    class BadResult(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("bad", config={"retries": {"limit": 1, "delay": 0, "backoff": "constant"}})
            async def bad():
                attempts.append(1)
                return value

            await bad()

    engine = await make_engine(BadResult)
    iid = await engine.create("bad-result")
    status = await finish(engine, "bad-result", iid)
    assert status["status"] == "errored"
    assert needle in status["error"]["message"]
    assert len(attempts) == 2  # an ordinary, retryable failure


async def test_result_over_one_mib_fails_with_size_and_limit(make_engine):
    class Huge(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("huge")
            async def huge():
                return "x" * (1024 * 1024 + 10)

            await huge()

    engine = await make_engine(Huge)
    iid = await engine.create("huge")
    status = await finish(engine, "huge", iid)
    assert status["status"] == "errored"
    assert "1,048,588 bytes" in status["error"]["message"] and "1,048,576" in status["error"]["message"]
    assert len((await api_details(engine, "huge", iid))["steps"][0]["attempts"]) == 1  # not retried


async def test_results_round_trip_as_attribute_dicts_and_ints(make_engine):
    class Shapes(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("shapes")
            async def shapes():
                return {"f": 2.0, "n": None, "nested": {"k": [1, {"d": datetime(2026, 5, 1, 12, 0)}]}}

            r = await shapes()
            return {
                "f_is_int": type(r["f"]).__name__,
                "attr": r.nested.k[0],
                "date_type": type(r.nested.k[1].d).__name__,
                "n": r.n,
            }

    engine = await make_engine(Shapes)
    iid = await engine.create("shapes")
    assert (await finish(engine, "shapes", iid))["output"] == {
        "f_is_int": "int",
        "attr": 1,
        "date_type": "datetime",
        "n": None,
    }


async def test_sync_step_functions_run_in_a_thread(make_engine):
    import threading

    main_thread = threading.get_ident()

    class Sync(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("blocking")
            def blocking():
                time.sleep(0.05)
                return threading.get_ident() != main_thread

            return await blocking()

    engine = await make_engine(Sync)
    iid = await engine.create("sync")
    assert (await finish(engine, "sync", iid))["output"] is True


# -- sleeping ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("duration", [150, "0.15 seconds", "1 second"])
async def test_sleep_accepts_ms_numbers_and_strings(make_engine, duration):
    class Sleepy(WorkflowEntrypoint):
        async def run(self, event, step):
            t0 = time.monotonic()
            await step.sleep("nap", duration)
            return time.monotonic() - t0

    engine = await make_engine(Sleepy)
    iid = await engine.create("sleepy")
    slept = (await finish(engine, "sleepy", iid))["output"]
    want = 1.0 if duration == "1 second" else 0.15
    assert want - 0.01 <= slept < want + 0.5
    step = (await api_details(engine, "sleepy", iid))["steps"][0]
    assert step["type"] == "sleep" and step["finished"] is True and step["name"] == "nap-1"


@pytest.mark.parametrize("kind", ["naive", "aware", "epoch_ms"])
async def test_sleep_until_datetime_or_epoch_ms(make_engine, kind):
    target = datetime.now(UTC) + timedelta(milliseconds=600)  # still in the future on a loaded machine
    when = {
        "naive": target.replace(tzinfo=None),  # naive means UTC
        "aware": target,
        "epoch_ms": int(target.timestamp() * 1000),
    }[kind]

    class Until(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.sleep_until("alarm", when)
            return time.time()

    engine = await make_engine(Until)
    iid = await engine.create("until")
    woke = (await finish(engine, "until", iid))["output"]
    assert target.timestamp() - 0.01 <= woke < target.timestamp() + 1.5


async def test_sleep_until_the_past_is_an_error(make_engine):
    class Past(WorkflowEntrypoint):
        async def run(self, event, step):
            try:
                await step.sleep_until("late", datetime(2020, 1, 1))
            except ValueError as exc:
                return str(exc)

    engine = await make_engine(Past)
    iid = await engine.create("past")
    assert "in the past" in (await finish(engine, "past", iid))["output"]


async def test_sleep_is_eager(make_engine):
    class Eager(WorkflowEntrypoint):
        async def run(self, event, step):
            t0 = time.monotonic()
            nap = step.sleep("nap", 200)  # starts now, awaited later

            @step.do("work")
            async def work():
                await asyncio.sleep(0.15)
                return 1

            await work()
            await nap
            return time.monotonic() - t0

    engine = await make_engine(Eager)
    iid = await engine.create("eager")
    assert (await finish(engine, "eager", iid))["output"] < 0.33


# -- events --------------------------------------------------------------------------------------------


class Approval(WorkflowEntrypoint):
    async def run(self, event, step):
        try:
            received = await step.wait_for_event(
                "approval", "approve", timeout=event.payload.get("timeout", "1 minute")
            )
        except Exception as exc:
            return {"timed_out": type(exc).__name__, "message": str(exc)}
        return {
            "payload": received["payload"],
            "type": received.type,
            "ts": type(received["timestamp"]).__name__,
        }


async def test_wait_for_event_receives_an_event_sent_later(make_engine):
    engine = await make_engine(Approval)
    iid = await engine.create("approval")
    assert (await engine.wait_for("approval", iid, {"waiting"}))["status"] == "waiting"
    await engine.send_event("approval", iid, "approve", {"ok": True})
    assert (await finish(engine, "approval", iid))["output"] == {
        "payload": {"ok": True},
        "type": "approve",
        "ts": "datetime",
    }
    step = (await api_details(engine, "approval", iid))["steps"][0]
    assert step["type"] == "waitForEvent" and step["finished"] is True
    assert step["output"]["type"] == "approve" and step["output"]["payload"] == {"ok": True}
    assert step["output"]["timestamp"].endswith("Z")


async def test_events_sent_before_the_wait_are_buffered_in_order(make_engine):
    class Two(WorkflowEntrypoint):
        async def run(self, event, step):
            await step.sleep("first let them arrive", 200)
            a = await step.wait_for_event("one", "approve")
            b = await step.wait_for_event("two", "approve")
            return [a["payload"]["n"], b["payload"]["n"]]

    engine = await make_engine(Two)
    iid = await engine.create("two")
    await engine.send_event("two", iid, "approve", {"n": 1})
    await engine.send_event("two", iid, "approve", {"n": 2})
    assert (await finish(engine, "two", iid))["output"] == [1, 2]


async def test_wait_for_event_timeout_raises_into_run_and_is_catchable(make_engine):
    engine = await make_engine(Approval)
    iid = await engine.create("approval", params={"timeout": "1 second"})
    out = (await finish(engine, "approval", iid))["output"]
    assert out == {"timed_out": "WorkflowTimeoutError", "message": "Execution timed out after 1000ms"}
    step = (await api_details(engine, "approval", iid))["steps"][0]
    assert step["error"] == {"name": "WorkflowTimeoutError", "message": "Execution timed out after 1000ms"}


async def test_events_are_refused_once_the_instance_is_final_or_for_bad_types(make_engine):
    engine = await make_engine(Approval)
    iid = await engine.create("approval")
    await engine.wait_for("approval", iid, {"waiting"})
    with pytest.raises(InvalidInstanceIdError, match="bad type"):
        await engine.send_event("approval", iid, "bad type", {})
    await engine.terminate("approval", iid)
    with pytest.raises(InvalidTransitionError, match="it is terminated"):
        await engine.send_event("approval", iid, "approve", {})


# -- DAGs ------------------------------------------------------------------------------------------------


async def test_implicit_dependencies_resolve_concurrently_and_run_once(make_engine):
    spans: dict[str, tuple[float, float]] = {}
    calls = {"base": 0}

    class Dag(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do()
            async def base():
                calls["base"] += 1
                return 10

            @step.do()
            async def left(base):
                t0 = time.monotonic()
                await asyncio.sleep(0.2)
                spans["left"] = (t0, time.monotonic())
                return base + 1

            @step.do()
            async def right(base, ctx):
                t0 = time.monotonic()
                await asyncio.sleep(0.2)
                spans["right"] = (t0, time.monotonic())
                return base + ctx["step"]["count"]

            @step.do(concurrent=True)
            async def total(left, right):
                return left + right

            return await total()

    engine = await make_engine(Dag)
    iid = await engine.create("dag")
    assert (await finish(engine, "dag", iid))["output"] == 22
    assert calls["base"] == 1  # shared by left and right, run once
    (l0, l1), (r0, r1) = spans["left"], spans["right"]
    overlap = min(l1, r1) - max(l0, r0)
    assert overlap > 0.15, spans  # ran together, not one after the other


@pytest.mark.parametrize("suspends", [True, False], ids=["fails after a suspension", "fails at once"])
async def test_a_failing_step_fails_the_steps_depending_on_it_runs_once_and_is_not_reported_lost(
    make_engine, caplog, suspends
):
    calls = {"base": 0}

    class Shared(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do(config=FAST)
            async def base():
                calls["base"] += 1
                if suspends:
                    await asyncio.sleep(0.05)  # still running when the second dependent asks for it
                raise NonRetryableError("base broke")  # at once: done before the second dependent starts

            @step.do()
            async def left(base):
                return base

            @step.do()
            async def right(base):
                return base

            @step.do(concurrent=True)
            async def total(left, right):
                return [left, right]

            @step.do(config=FAST)
            async def alone():  # nothing else waits on this one
                raise NonRetryableError("alone broke")

            caught = []
            for call in (total, alone):
                try:
                    await call()
                except NonRetryableError as exc:
                    caught.append(str(exc))
            return caught

    engine = await make_engine(Shared, memory=not suspends)  # in memory, nothing in the failure suspends
    iid = await engine.create("shared")
    assert (await finish(engine, "shared", iid))["output"] == ["base broke", "alone broke"]
    assert calls["base"] == 1
    gc.collect()  # a failed future nobody awaited is reported when it is collected
    assert "never retrieved" not in caplog.text


async def test_context_variables_a_step_sets_stay_in_that_step(make_engine):
    """A step's callback runs in its own copy of the context, as a task of its own would (Cloudflare
    runs each callback as its own promise): what it sets is not seen by `run` or the next step."""
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    class Scoped(WorkflowEntrypoint):
        async def run(self, event, step):
            var.set("run")

            @step.do()
            async def first():
                seen = var.get()
                var.set("first")
                await asyncio.sleep(0)  # across a suspension too
                return [seen, var.get()]

            @step.do()
            async def second():
                return var.get()

            return [await first(), await second(), var.get()]

    engine = await make_engine(Scoped)
    iid = await engine.create("scoped")
    assert (await finish(engine, "scoped", iid))["output"] == [["run", "first"], "run", "run"]


async def test_events_sent_before_an_instance_first_starts_reach_its_run_in_order(make_engine, monkeypatch):
    release = asyncio.Event()
    loaded: list[str] = []
    original_load = Run.load

    async def spy_load(run: Run) -> None:
        loaded.append(run.inst.id)
        await original_load(run)

    monkeypatch.setattr(Run, "load", spy_load)

    class Lane(WorkflowEntrypoint):
        async def run(self, event, step):
            if event["payload"].get("block"):

                @step.do()
                async def hold():
                    await release.wait()
                    return 0

                return await hold()
            a = await step.wait_for_event("one", "approve")
            b = await step.wait_for_event("two", "approve")
            return [a["payload"]["n"], b["payload"]["n"]]

    engine = await make_engine(Lane, concurrency_limits={"lane": 1})
    await engine.create("lane", params={"block": True})  # holds the lane's only slot
    iid = await engine.create("lane")
    await engine.send_event("lane", iid, "approve", {"n": 1})
    await engine.send_event("lane", iid, "approve", {"n": 2})
    assert (await engine.status("lane", iid))["status"] == "queued"
    release.set()
    assert (await finish(engine, "lane", iid))["output"] == [1, 2]
    assert loaded == []  # both first runs took what they needed from memory, not from a history read
    steps = (await api_details(engine, "lane", iid))["steps"]
    assert [s["output"]["payload"]["n"] for s in steps] == [1, 2]  # each event consumed by its wait


@pytest.mark.parametrize("memory", [False, True], ids=["file store", "in-memory store"])
async def test_an_event_sent_as_the_first_run_is_created_survives_a_pause_before_it_starts(make_engine, memory):
    class Waiter(WorkflowEntrypoint):
        async def run(self, event, step):
            got = await step.wait_for_event("w", "go", timeout="1 minute")
            return got["payload"]

    engine = await make_engine(Waiter, memory=memory)
    iid = await engine.create("waiter")  # its run exists, its task has not started
    await engine.send_event("waiter", iid, "go", {"n": 1})  # handed to that run
    await engine.pause("waiter", iid)  # which is stopped before it starts: the next run must read the event
    await engine.resume("waiter", iid)
    assert (await engine.wait_for("waiter", iid, timeout=5))["output"] == {"n": 1}


def _burn(seconds: float) -> None:
    started = time.thread_time()
    while time.thread_time() - started < seconds:
        pass


async def test_a_step_called_inside_another_steps_callback_has_its_own_cpu_meter(make_engine):
    class NestedCpu(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("whole", config=FAST)
            async def whole():
                total = 0
                for _ in range(3):

                    @step.do("part", config=FAST)
                    async def part():
                        _burn(0.08)  # each under the 200 ms limit; the three together over it
                        return 1

                    total += await part()
                return total

            return await whole()

    engine = await make_engine(NestedCpu, cpu_ms=200)
    iid = await engine.create("nested-cpu")
    status = await engine.wait_for("nested-cpu", iid, timeout=10)
    assert status["status"] == "complete", status["error"]
    assert status["output"] == 3


async def test_a_step_attempt_the_workflow_cancels_or_abandons_stops_counting_as_running(make_engine):
    """`asyncio.wait_for` on a step, or an outer step stopped (CPU limit) while a step called inside it
    runs: the attempt ends there, so the instance can then wait and hibernate, and pause completes."""

    class Abandons(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("slow")
            async def slow():
                await asyncio.sleep(5)
                return 1

            @step.do("inner", config=FAST)
            async def inner():
                await asyncio.sleep(0.01)  # the outer step is over its CPU limit by now
                return 1

            @step.do("outer", config=FAST)
            async def outer():
                _burn(0.25)
                return await inner()

            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(slow(), 0.05)
            with contextlib.suppress(Exception):  # StepFailedError: CpuLimitExceededError
                await outer()
            await step.sleep("rest", "10 minutes")

    engine = await make_engine(Abandons, cpu_ms=200, hibernate_after_ms=100)
    iid = await engine.create("abandons")
    await engine.wait_for("abandons", iid, {"waiting"}, timeout=10)
    async with asyncio.timeout(5):  # nothing is left running: it leaves memory
        while ("abandons", iid) in engine._live:
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("memory", [False, True], ids=["file store", "in-memory store"])
async def test_a_dependency_whose_failure_was_caught_runs_again_for_the_next_dependent(make_engine, memory):
    """A failed step is not memoized (the SDK memoizes results only): a dependent called after the
    failure was caught calls it again, as a retry loop in `run` expects."""
    calls = {"base": 0}

    class Flaky(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("base", config=FAST)
            async def base():
                calls["base"] += 1
                if calls["base"] == 1:
                    raise ValueError("flaky")
                return 5

            @step.do("dep", config=FAST)
            async def dep(base):
                return base + 1

            with contextlib.suppress(Exception):
                await base()
            return await dep()

    engine = await make_engine(Flaky, memory=memory)
    iid = await engine.create("flaky")
    status = await engine.wait_for("flaky", iid, timeout=10)
    assert (status["status"], status["output"], calls["base"]) == ("complete", 6, 2), status["error"]


@pytest.mark.parametrize("memory", [False, True], ids=["file store", "in-memory store"])
async def test_a_pause_requested_during_a_step_stops_the_run_at_that_step(make_engine, memory):
    """Nothing after the step runs while the instance is paused: not the next step (a side effect such
    as charging a card), and not the code between them."""
    release = asyncio.Event()
    log: list[str] = []

    class Charges(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("a")
            async def a():
                await release.wait()
                return 1

            @step.do("b")
            async def b():
                log.append("b ran")
                return 2

            x = await a()
            log.append("after a")
            y = await b()
            log.append("after b")
            return x + y

    engine = await make_engine(Charges, memory=memory)
    iid = await engine.create("charges")
    await engine.wait_for("charges", iid, {"running"}, timeout=5)
    await asyncio.sleep(0.02)  # a is running
    assert await engine.pause("charges", iid) == "waitingForPause"
    release.set()
    await engine.wait_for("charges", iid, {"paused"}, timeout=5)
    await asyncio.sleep(0.1)
    assert log == []
    assert [s["name"] for s in (await api_details(engine, "charges", iid))["steps"]] == ["a-1"]
    await engine.resume("charges", iid)
    assert (await engine.wait_for("charges", iid, timeout=5))["output"] == 3
    assert log == ["after a", "b ran", "after b"]


async def test_a_loop_of_steps_that_never_wait_still_lets_other_tasks_run(make_engine):
    """Each step gives the event loop a turn, even on an in-memory store where nothing in a step
    suspends: a workflow polling a step does not starve the test (or other instances)."""
    flag = {"set": False}

    class Poll(WorkflowEntrypoint):
        async def run(self, event, step):
            n = 0
            while True:

                @step.do("check")
                async def check():
                    return flag["set"]

                n += 1
                if await check():
                    return n

    engine = await make_engine(Poll, memory=True, max_steps=5000)
    iid = await engine.create("poll")

    async def setter() -> None:
        await asyncio.sleep(0.01)
        flag["set"] = True

    task = asyncio.ensure_future(setter())
    status = await engine.wait_for("poll", iid, timeout=30)
    await task
    assert status["status"] == "complete", status["error"]


async def test_depends_under_implicit_dependencies_says_which_flag_brings_it_back(make_engine):
    class Legacyish(WorkflowEntrypoint):
        async def run(self, event, step):
            try:

                @step.do("a", depends=[])
                async def a():
                    return 1
            except TypeError as exc:
                return str(exc)

    engine = await make_engine(Legacyish)
    iid = await engine.create("legacyish")
    message = (await finish(engine, "legacyish", iid))["output"]
    assert message.startswith("step.do() got an unexpected keyword argument 'depends'.")
    assert "add no_python_workflows_implicit_dependencies to compatibility_flags" in message


async def test_legacy_depends_maps_onto_parameters_in_order(make_engine):
    class Legacy(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("step a")
            async def a():
                return "A"

            @step.do("step b")
            async def b():
                return "B"

            @step.do("final step", depends=[a, b], concurrent=False)
            async def final(first=None, ctx=None, second=None):
                return [first, second, ctx["step"]["name"]]

            return await final()

    engine = await make_engine(Legacy, implicit_dependencies=False)
    iid = await engine.create("legacy")
    assert (await finish(engine, "legacy", iid))["output"] == ["A", "B", "final step"]


async def test_dependency_errors_are_type_errors_with_the_sdk_messages(make_engine):
    class Wrong(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("fetch data")
            async def fetch_data():
                return 1

            @step.do()
            async def use(fetch_data):  # implicit dependencies match step *names*
                return fetch_data

            try:
                await use()
            except TypeError as exc:
                return str(exc)

    engine = await make_engine(Wrong)
    iid = await engine.create("wrong")
    assert (await finish(engine, "wrong", iid))["output"] == "Received unexpected parameter fetch_data"

    class WrongLegacy(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("x")
            async def x(one, two):
                return 1

            try:
                await x()
            except TypeError as exc:
                return str(exc)

    engine = await make_engine(WrongLegacy, state="legacy", implicit_dependencies=False)
    iid = await engine.create("wrong-legacy")
    assert (await finish(engine, "wrong-legacy", iid))["output"] == (
        "Step has 2 non-ctx parameter(s) but no 'depends' list provided"
    )


# -- lifecycle -----------------------------------------------------------------------------------------


class Gate(WorkflowEntrypoint):
    """One slow step (waits for a file-free asyncio event kept on the class), then a sleep."""

    release: asyncio.Event | None = None
    started: asyncio.Event | None = None
    runs = 0

    async def run(self, event, step):
        @step.do("slow step", config=FAST)
        async def slow():
            Gate.runs += 1
            if Gate.started is not None:
                Gate.started.set()
            assert Gate.release is not None
            await Gate.release.wait()
            return "done"

        out = await slow()
        await step.sleep("nap", 100)
        return out


async def stays(engine: Engine, workflow: str, iid: str, status: str, *, seconds: float) -> None:
    """A negative check that fails as soon as the status changes, and lasts a stated margin."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert (await engine.status(workflow, iid))["status"] == status
        await asyncio.sleep(0.01)


async def test_pause_during_a_step_waits_for_it_then_resume_continues(make_engine):
    Gate.release, Gate.started, Gate.runs = asyncio.Event(), asyncio.Event(), 0
    engine = await make_engine(Gate)
    iid = await engine.create("gate")
    await asyncio.wait_for(Gate.started.wait(), 10)  # the step's attempt is under way
    assert await engine.pause("gate", iid) == "waitingForPause"
    details = await api_details(engine, "gate", iid)
    assert details["status"] == "waitingForPause"
    assert details["steps"][0]["attempts"][0] == {
        "start": details["steps"][0]["attempts"][0]["start"],
        "end": None,
        "success": None,
        "error": None,
    }
    Gate.release.set()
    assert (await engine.wait_for("gate", iid, {"paused"}))["status"] == "paused"
    # The 100 ms sleep must not run while paused: it stays paused for 3x that, checked every 10 ms.
    await stays(engine, "gate", iid, "paused", seconds=0.3)
    assert [(s.name, s.count) for s in (await engine.describe("gate", iid)).steps] == [("slow step", 1)]
    with pytest.raises(InvalidTransitionError, match="it is paused"):
        await engine.pause("gate", iid)
    await engine.resume("gate", iid)
    assert (await finish(engine, "gate", iid))["output"] == "done"
    assert Gate.runs == 1  # the step finished before the pause and was not run again


async def test_pause_of_a_waiting_instance_is_immediate(make_engine):
    engine = await make_engine(Approval)
    iid = await engine.create("approval")
    await engine.wait_for("approval", iid, {"waiting"})
    assert await engine.pause("approval", iid) == "paused"
    await engine.send_event("approval", iid, "approve", {"ok": 1})  # stored while paused
    await stays(engine, "approval", iid, "paused", seconds=0.3)
    await engine.resume("approval", iid)
    assert (await finish(engine, "approval", iid))["output"]["payload"] == {"ok": 1}


async def test_invalid_transitions_name_the_current_status(make_engine):
    class Quick(WorkflowEntrypoint):
        async def run(self, event, step):
            return 1

    engine = await make_engine(Quick)
    iid = await engine.create("quick")
    await finish(engine, "quick", iid)
    with pytest.raises(InvalidTransitionError, match="Cannot terminate instance .* already complete") as err:
        await engine.terminate("quick", iid)
    assert (err.value.action, err.value.instance_id, err.value.status) == ("terminate", iid, "complete")
    with pytest.raises(InvalidTransitionError, match="it is complete, not paused"):
        await engine.resume("quick", iid)
    with pytest.raises(InvalidTransitionError, match="it is complete"):
        await engine.pause("quick", iid)


async def test_terminate_stops_the_instance_for_good(make_engine):
    engine = await make_engine(Approval)
    iid = await engine.create("approval")
    await engine.wait_for("approval", iid, {"waiting"})
    assert await engine.terminate("approval", iid) == "terminated"
    details = await api_details(engine, "approval", iid)
    assert details["status"] == "terminated" and details["end"] is not None and details["error"] is None


async def test_restart_discards_history_and_runs_again_with_the_same_params(make_engine):
    runs = []

    class Again(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("count")
            async def count():
                runs.append(event.payload["p"])
                return len(runs)

            return await count()

    engine = await make_engine(Again)
    iid = await engine.create("again", params={"p": "x"})
    assert (await finish(engine, "again", iid))["output"] == 1
    await engine.restart("again", iid)
    status = await finish(engine, "again", iid)
    assert status["output"] == 2 and runs == ["x", "x"]
    assert len((await api_details(engine, "again", iid))["steps"]) == 1


async def test_restart_from_a_step_keeps_earlier_history(make_engine):
    runs = {"a": 0, "b": 0}

    class From(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("a")
            async def a():
                runs["a"] += 1
                return 1

            @step.do("b")
            async def b():
                runs["b"] += 1
                return 2

            await a()
            await step.sleep("nap", 10)
            return await b()

    engine = await make_engine(From)
    iid = await engine.create("from")
    await finish(engine, "from", iid)
    with pytest.raises(StepNotFoundError, match='Step "nap" not found') as err:
        await engine.restart("from", iid, {"name": "nap"})  # type defaults to do
    assert err.value.step == {"name": "nap", "count": 1, "type": "do"}
    await engine.restart("from", iid, {"name": "nap", "type": "sleep"})
    await finish(engine, "from", iid)
    assert runs == {"a": 1, "b": 2}


async def test_delete_removes_the_instance_and_its_history(make_engine):
    engine = await make_engine(Approval)
    iid = await engine.create("approval")
    await engine.wait_for("approval", iid, {"waiting"})
    await engine.delete("approval", iid)
    with pytest.raises(InstanceNotFoundError, match=f"Workflow instance '{iid}' not found."):
        await api_details(engine, "approval", iid)
    assert await engine.list_instances("approval") == ([], 0)


# -- concurrency ---------------------------------------------------------------------------------------


async def test_concurrency_limit_queues_oldest_first_and_waiting_does_not_count(make_engine):
    order: list[str] = []
    release = asyncio.Event()

    class Limited(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("work", config=FAST)
            async def work():
                order.append(event.instanceId)
                if event.payload.get("hold"):
                    await release.wait()
                return 1

            await work()
            if event.payload.get("sleep"):
                await step.sleep("rest", 300)
                order.append(f"{event.instanceId} again")  # resumed after its sleep
            return 1

    engine = await make_engine(Limited, max_concurrency=1)
    sleeper = await engine.create("limited", id="sleeper", params={"sleep": True})
    await engine.wait_for("limited", sleeper, {"waiting"})  # waiting: frees its slot
    holder = await engine.create("limited", id="holder", params={"hold": True})
    second = await engine.create("limited", id="second")
    third = await engine.create("limited", id="third")
    await engine.wait_for("limited", holder, {"running"})
    await asyncio.sleep(0.1)
    assert (await engine.status("limited", second))["status"] == "queued"
    assert (await engine.status("limited", third))["status"] == "queued"
    await asyncio.sleep(0.3)  # the sleeper wakes while the holder holds the only slot
    release.set()
    for iid in (sleeper, holder, second, third):
        await finish(engine, "limited", iid)
    # Oldest first, and a returning instance goes before never-started ones that queued earlier.
    assert order == ["sleeper", "holder", "sleeper again", "second", "third"]


async def test_an_event_sent_to_a_queued_instance_is_there_when_it_starts(make_engine):
    # A never-started instance skips reading its (empty) history; an event stored while it waits
    # in the queue must still reach its wait_for_event.
    release = asyncio.Event()

    class Gate(WorkflowEntrypoint):
        async def run(self, event, step):
            if event.payload.get("hold"):

                @step.do("hold", config=FAST)
                async def hold():
                    await release.wait()
                    return 1

                return await hold()
            got = await step.wait_for_event("wait", "go", timeout="1 minute")
            return got["payload"]

    engine = await make_engine(Gate, max_concurrency=1)
    holder = await engine.create("gate", params={"hold": True})
    await engine.wait_for("gate", holder, {"running"})
    queued = await engine.create("gate")
    assert (await engine.status("gate", queued))["status"] == "queued"
    await engine.send_event("gate", queued, "go", {"n": 7})
    release.set()
    assert (await finish(engine, "gate", queued))["output"] == {"n": 7}


# -- limits ----------------------------------------------------------------------------------------------


async def test_step_limit_errors_the_instance_and_sleep_does_not_count(make_engine):
    class Many(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("s")
            async def s():
                return 1

            await step.sleep("free", 1)
            for _ in range(event.payload["n"]):
                await s()
            return "fine"

    engine = await make_engine(Many, max_steps=3)
    ok = await engine.create("many", params={"n": 3})
    assert (await finish(engine, "many", ok))["output"] == "fine"
    over = await engine.create("many", params={"n": 4})
    status = await finish(engine, "many", over)
    assert status["status"] == "errored"
    assert status["error"]["name"] == "StepLimitExceededError"
    assert (
        "3 steps (limits.steps)" in status["error"]["message"] and "Raise `limits.steps`" in status["error"]["message"]
    )


@pytest.mark.parametrize("style", ["async", "sync"])
async def test_cpu_limit_fails_an_attempt_that_burns_too_much_cpu(make_engine, style):
    slices: list[int] = []  # per async attempt: how many 30 ms slices ran before it was stopped

    class Burn(WorkflowEntrypoint):
        async def run(self, event, step):
            if style == "async":

                @step.do("burn", config=FAST)
                async def work():
                    slices.append(0)
                    for _ in range(10):
                        _burn(0.03)
                        slices[-1] += 1
                        await asyncio.sleep(0)
                    return 1
            else:

                @step.do("burn", config=FAST)
                def work():
                    _burn(0.3)
                    return 1

            @step.do("idle")
            async def idle():
                await asyncio.sleep(0.3)  # waiting is not CPU time
                return 2

            await idle()
            return await work()

    engine = await make_engine(Burn, cpu_ms=100)
    iid = await engine.create("burn")
    status = await finish(engine, "burn", iid)
    assert status["status"] == "errored"
    assert status["error"]["name"] == "CpuLimitExceededError"
    assert "over the limit of 100 ms" in status["error"]["message"]
    if style == "async":  # interrupted at an await once over the limit, not only checked at the end
        assert slices and all(n <= 5 for n in slices), slices


async def test_ids_params_and_names_are_validated(make_engine):
    engine = await make_engine(Approval)
    with pytest.raises(InvalidInstanceIdError, match=r"'bad id!' is invalid"):
        await engine.create("approval", id="bad id!")
    with pytest.raises(InvalidInstanceIdError, match="101 characters; the limit is 100"):
        await engine.create("approval", id="a" * 101)
    with pytest.raises(PayloadTooLargeError, match="over the limit of 1,048,576 bytes"):
        await engine.create("approval", params={"blob": "x" * (1024 * 1024)})
    with pytest.raises(WorkflowNotFoundError, match="Workflow 'nope' not found."):
        await engine.create("nope")
    await engine.create("approval", id="taken")
    with pytest.raises(InstanceExistsError, match='id "taken" already exists'):
        await engine.create("approval", id="taken")
    assert [i.id for i in (await engine.list_instances("approval"))[0]] == ["taken"]  # nothing half-made


async def test_determinism_error_names_expected_and_actual_step(make_engine):
    class V1(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("charge card")
            async def a():
                return 1

            await a()
            await step.wait_for_event("wait", "go")

    class V2(WorkflowEntrypoint):  # the code changed while an instance was in flight
        async def run(self, event, step):
            @step.do("reserve stock")
            async def a():
                return 1

            await a()
            await step.wait_for_event("wait", "go")

    V2.__name__ = "V1"
    engine = await make_engine(V1)
    iid = await engine.create("v1")
    await engine.wait_for("v1", iid, {"waiting"})
    engine = await make_engine.reopen(engine, V2)
    await engine.send_event("v1", iid, "go", {})  # wakes it: the replay meets the changed code
    status = await finish(engine, "v1", iid)
    assert status["status"] == "errored"
    assert status["error"]["name"] == "NonDeterminismError"
    assert "'reserve stock-1'" in status["error"]["message"] and "'charge card-1'" in status["error"]["message"]


# -- binding -----------------------------------------------------------------------------------------------


async def test_binding_create_forms_batch_get_and_instance_methods(make_engine):
    engine = await make_engine(Approval)
    binding = engine.env.APPROVAL
    a = await binding.create()
    b = await binding.create({"id": "b-1", "params": {"timeout": "1 minute"}})
    c = await binding.create(id="c-1", params={"x": 1})
    assert len(a.id) == 36 and b.id == "b-1" and c.id == "c-1"
    batch = await binding.create_batch([{"id": "c-1"}, {"id": "d-1"}])  # existing ids are skipped
    assert [i.id for i in batch] == ["d-1"]
    got = await binding.get("b-1")
    await engine.wait_for("approval", "b-1", {"waiting"})
    await got.send_event({"type": "approve", "payload": {"by": "me"}})
    await engine.wait_for("approval", "b-1")
    status = await got.status()
    assert status.status == "complete" and status["output"]["payload"]["by"] == "me"
    await engine.wait_for("approval", "c-1", {"waiting"})
    await (await binding.get("c-1")).sendEvent(type="approve", payload={})
    assert (await engine.wait_for("approval", "c-1"))["status"] == "complete"
    with pytest.raises(InstanceNotFoundError):
        await binding.get("missing")


async def test_an_event_sent_right_after_create_is_never_lost(make_engine):
    """Events racing the start of the wait (or the history load) are buffered, not dropped."""
    engine = await make_engine(Approval)

    async def one(n: int) -> str:
        iid = await engine.create("approval")
        for _ in range(n % 9):
            await asyncio.sleep(0)  # land at every point of the run's start-up
        await engine.send_event("approval", iid, "approve", {"n": n})
        return iid

    ids = await asyncio.gather(*(one(n) for n in range(60)))
    for n, iid in enumerate(ids):
        assert (await engine.wait_for("approval", iid, timeout=5))["output"]["payload"] == {"n": n}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("step_name_too_long", "is 257 characters; the limit is 256"),
        ("step_name_control", "contains control characters"),
        ("sleep_too_long", "longer than the limit of 365 days"),
        ("wait_timeout_too_short", "timeout of 500 ms is out of range: use 1 second to 365 days"),
        ("step_timeout_zero", "step config timeout must be greater than 0"),
        ("bad_backoff", "retries.backoff 'fibonacci' is not one of constant, linear, exponential"),
    ],
)
async def test_limits_inside_run_are_clear_catchable_errors(make_engine, call, message):
    class Limits(WorkflowEntrypoint):
        async def run(self, event, step):
            async def one():
                return 1

            try:
                if call == "step_name_too_long":
                    await step.do("x" * 257)(one)()
                elif call == "step_name_control":
                    await step.do("bad\nname")(one)()
                elif call == "sleep_too_long":
                    await step.sleep("forever", "366 days")
                elif call == "wait_timeout_too_short":
                    await step.wait_for_event("quick", "go", timeout=500)
                elif call == "step_timeout_zero":
                    await step.do("t", config={"timeout": 0})(one)()
                else:
                    await step.do("b", config={"retries": {"backoff": "fibonacci"}})(one)()
            except (TypeError, ValueError) as exc:
                return str(exc)

    engine = await make_engine(Limits)
    iid = await engine.create("limits")
    assert message in (await finish(engine, "limits", iid))["output"]


async def test_create_batch_returns_only_what_it_created(make_engine):
    """Cloudflare's createBatch: existing ids and repeats within the batch are left out (first wins)."""
    engine = await make_engine(Approval)
    binding = engine.env.APPROVAL
    await binding.create(id="existing", params={"v": 0})
    batch = [
        {"id": "existing", "params": {"v": 1}},
        {"id": "new", "params": {"v": 2}},
        {"id": "new", "params": {"v": 3}},
        {"id": "other"},
    ]
    created = await binding.create_batch(batch)
    assert [i.id for i in created] == ["new", "other"]
    details = {i: await api_details(engine, "approval", i) for i in ("existing", "new", "other")}
    assert [details[i]["params"] for i in ("existing", "new", "other")] == [{"v": 0}, {"v": 2}, {}]
    assert (await engine.list_instances("approval"))[1] == 3
    anonymous = await binding.createBatch([{}, {"params": {"x": 1}}])
    assert len({i.id for i in anonymous}) == 2 and all(len(i.id) == 36 for i in anonymous)


async def test_create_batch_refuses_empty_and_invalid_batches_creating_nothing(make_engine):
    engine = await make_engine(Approval)
    binding = engine.env.APPROVAL
    with pytest.raises(WorkflowError, match="^WorkflowError: batchCreate should have at least 1 instance$"):
        await binding.create_batch([])
    with pytest.raises(InvalidInstanceIdError, match="'bad id!' is invalid"):
        await binding.create_batch([{"id": "fine-1"}, {"id": "bad id!"}, {"id": "fine-2"}])
    with pytest.raises(PayloadTooLargeError):
        await binding.create_batch([{"id": "fine-1"}, {"id": "fine-2", "params": {"blob": "x" * (1024 * 1024)}}])
    assert await engine.list_instances("approval") == ([], 0)


async def test_create_batch_takes_at_most_100(make_engine):
    engine = await make_engine(Approval)
    with pytest.raises(WorkflowError, match="^WorkflowError: batchCreate only supports 100 instances at a time$"):
        await engine.env.APPROVAL.create_batch([{} for _ in range(101)])
    assert await engine.list_instances("approval") == ([], 0)


async def test_instance_delete_and_delete_batch_as_cloudflare(make_engine):
    """`instance.delete()` and `binding.deleteBatch(ids)` → `{deleted: [{id}], errors: [{id, code, message}]}`."""
    engine = await make_engine(Approval)
    binding = engine.env.APPROVAL
    handles = [await binding.create(id=f"d-{n}") for n in range(4)]
    await engine.wait_for("approval", "d-0", {"waiting"})
    await handles[0].delete()  # a waiting instance: stopped, then removed with its history
    with pytest.raises(InstanceNotFoundError):
        await binding.get("d-0")
    result = await binding.deleteBatch(["d-1", "missing", "d-1", "d-2"])
    assert result == {
        "deleted": [{"id": "d-1"}, {"id": "d-2"}],
        "errors": [
            {"id": "missing", "code": 10400, "message": "workflows.api.error.instance.not_found"},
            {"id": "d-1", "code": 10400, "message": "workflows.api.error.instance.not_found"},
        ],
    }
    assert result.deleted[0].id == "d-1"  # attribute access, as the SDK's JS objects allow
    assert [i.id for i in (await engine.list_instances("approval"))[0]] == ["d-3"]
    for bad in ([], [f"x-{n}" for n in range(101)], ["d-3", "bad id!"]):
        with pytest.raises(WorkflowError):
            await binding.deleteBatch(bad)
    assert [i.id for i in (await engine.list_instances("approval"))[0]] == ["d-3"]  # nothing deleted


@pytest.mark.parametrize("memory", [False, True], ids=["file store", "new in-memory store"])
async def test_retention_removes_finished_instances_once_it_runs_out(make_engine, memory):
    """create({retention: {successRetention, errorRetention}}): kept that long after finishing, then removed.
    On a new (empty) store, removal starts with the first instance created with a retention: here a batch."""

    class Ends(WorkflowEntrypoint):
        async def run(self, event, step):
            if event["payload"].get("fail"):
                raise ValueError("boom")
            return "ok"

    engine = await make_engine(Ends, retention_sweep_ms=20, memory=memory)
    binding = engine.env.ENDS
    await binding.create_batch([{"id": "batched", "retention": {"success_retention": 150}}])
    await binding.create(id="short", retention={"successRetention": 150, "errorRetention": "1 day"})
    day_or_150 = {"successRetention": "1 day", "errorRetention": 150}
    await binding.create(id="failed", params={"fail": True}, retention=day_or_150)
    await binding.create(id="kept-error", params={"fail": True}, retention={"successRetention": 150})
    await binding.create(id="forever")
    for iid in ("short", "failed", "kept-error", "forever", "batched"):
        await engine.wait_for("ends", iid)

    async def remaining() -> list[str]:
        return sorted(i.id for i in (await engine.list_instances("ends"))[0])

    async with asyncio.timeout(5):
        while await remaining() != ["forever", "kept-error"]:
            await asyncio.sleep(0.02)
    with pytest.raises(InstanceNotFoundError):
        await binding.get("short")
    for bad in ({"successRetention": "31 days"}, {"successRetention": 0}, {"keep": "1 day"}, "1 day"):
        with pytest.raises(WorkflowError, match="retention"):
            await binding.create(retention=bad)


async def test_a_new_in_memory_store_removes_an_instance_created_with_a_retention(make_engine):
    class Quick(WorkflowEntrypoint):
        async def run(self, event, step):
            return "ok"

    engine = await make_engine(Quick, retention_sweep_ms=20, memory=True)
    await engine.env.QUICK.create(id="gone", retention={"successRetention": 100})
    await engine.wait_for("quick", "gone")
    async with asyncio.timeout(5):
        while (await engine.list_instances("quick"))[0]:
            await asyncio.sleep(0.02)


async def test_a_failing_instance_created_hook_leaves_no_instance_queued(make_engine: EngineFactory):
    """The hook (pyflows.testing's modifiers) runs after the insert: if it raises, create() raises,
    and every instance created is still scheduled, in a batch too (it had stranded the rest)."""

    class Done(WorkflowEntrypoint):
        async def run(self, event, step):
            return "done"

    class Hooks:
        def for_instance(self, workflow, instance_id):
            return None

        async def instance_created(self, workflow, instance_id):
            if instance_id.startswith("bad"):
                raise RuntimeError(f"hook failed for {instance_id}")

        def changed(self, workflow, instance_id, *, step=False):
            pass

    engine = await make_engine(Done, memory=True, hooks=Hooks())
    with pytest.raises(RuntimeError, match="hook failed for bad-1"):
        await engine.create("done", "bad-1", {})
    with pytest.raises(RuntimeError, match="hook failed for bad-2"):
        await engine.create_batch("done", [{"id": "ok-1"}, {"id": "bad-2"}, {"id": "ok-2"}])
    for iid in ("bad-1", "ok-1", "bad-2", "ok-2"):
        assert (await finish(engine, "done", iid))["status"] == "complete"


async def test_close_names_a_run_that_goes_on_after_being_cancelled(make_engine: EngineFactory, monkeypatch):
    """Its step swallows CancelledError: close() gives up after CLOSE_TIMEOUT_S and says which run and
    step, for one still attached to its instance and one a terminate left going on."""
    import pyflows.runtime.workflows.engine as engine_module

    monkeypatch.setattr(engine_module, "CLOSE_TIMEOUT_S", 0.2)

    class Stubborn(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("poll")
            async def poll():
                for _ in range(80):  # 0.8 s at least, then it ends: the test's loop can close afterwards
                    try:
                        await asyncio.sleep(0.01)
                    except BaseException:  # noqa: S110 - the mistake under test
                        pass

            await poll()

    engine = await make_engine(Stubborn, memory=True)
    for iid in ("attached", "terminated"):
        await engine.create("stubborn", iid, {})
    await asyncio.sleep(0.05)  # both are in their step
    await engine.terminate("stubborn", "terminated")
    await engine.close()
    assert len(engine.stuck) == 2, engine.stuck
    for iid, line in zip(("attached", "terminated"), sorted(engine.stuck), strict=True):
        assert line.startswith(f"Instance {iid!r} of workflow 'stubborn' did not stop within 0.2 s of being cancelled")
        assert "its code in step.do 'poll' catches asyncio.CancelledError" in line
    await asyncio.sleep(0.9)  # let the stubborn steps run out before the fixture closes the store again
