"""The test clock steps through sleeps, retry back-offs, sleep_until and event timeouts."""

from __future__ import annotations

import pytest
from pyflows.testing import introspect_workflow_instance

pytestmark = pytest.mark.anyio


async def test_advance_through_a_sleep_and_an_event_timeout(pyflows_project, calls):
    env, clock = pyflows_project.env, pyflows_project.clock
    clock.freeze()
    async with introspect_workflow_instance(env.ORDER, "clocked") as instance:
        await env.ORDER.create(id="clocked")
        await clock.run_until_idle()
        assert [(s.name, s.status) for s in instance.steps][-1] == ("cool off", "waiting")

        await clock.advance("59 minutes")
        assert instance.steps[-1].status == "waiting"
        await clock.advance("1 minute")
        assert [(s.name, s.status) for s in instance.steps][-2:] == [("cool off", "complete"), ("approval", "waiting")]

        await clock.advance("119 minutes")
        assert (await pyflows_project.engine.status("order", "clocked"))["status"] == "waiting"
        await clock.advance("1 minute")
        output = await instance.get_output(timeout=1)
    assert output["timedOut"] == "WorkflowTimeoutError"
    assert instance.steps[-1].error["name"] == "WorkflowTimeoutError"


async def test_advance_through_retry_back_offs(pyflows_project, calls):
    env, clock = pyflows_project.env, pyflows_project.clock
    clock.freeze()
    async with introspect_workflow_instance(env.FLAKY, "backoff") as instance:
        await env.FLAKY.create(id="backoff", params={"succeedOn": 3})
        await clock.run_until_idle()
        assert calls == ["call api#1"]
        await clock.advance("59 seconds")
        assert calls == ["call api#1"]
        await clock.advance("1 second")  # delay 1 minute before retry 1
        assert calls == ["call api#1", "call api#2"]
        await clock.advance("119 seconds")
        assert len(calls) == 2
        await clock.advance("1 second")  # exponential: 2 minutes before retry 2
        assert await instance.get_output(timeout=1) == {"attempt": 3}


async def test_advance_through_sleep_until_and_hibernation(pyflows_project, calls):
    env, clock = pyflows_project.env, pyflows_project.clock
    clock.freeze()
    async with introspect_workflow_instance(env.FLAKY, "tomorrow") as instance:
        await env.FLAKY.create(id="tomorrow", params={"succeedOn": 1, "sleepUntil": True})
        await instance.wait_for_status("waiting")
        await clock.advance("3 seconds")  # a wait over 2 s away hibernates: the run leaves memory
        assert ("flaky", "tomorrow") not in pyflows_project.engine._live  # only its row is left
        assert instance.steps[-1].status == "waiting"
        await clock.advance("1 day")
        assert await instance.get_output(timeout=1) == {"attempt": 1}
    assert calls == ["call api#1"]  # the replay after hibernation did not run the step again


async def test_sleep_until_a_time_the_test_clock_has_passed_ends_at_once(pyflows_project):
    """The workflow computes its time from datetime.utcnow(), which advance() does not move: a day
    from now in real time is already past on a clock moved two days on. It has come; not an error."""
    env, clock = pyflows_project.env, pyflows_project.clock
    clock.freeze()
    await clock.advance("2 days")
    async with introspect_workflow_instance(env.FLAKY, "passed") as instance:
        await env.FLAKY.create(id="passed", params={"succeedOn": 1, "sleepUntil": True})
        assert await instance.get_output(timeout=2) == {"attempt": 1}
        assert instance.steps[-1].type == "sleep" and instance.steps[-1].status == "complete"


async def test_unfrozen_clock_still_flows_in_real_time(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.FLAKY, "real") as instance:
        await env.FLAKY.create(id="real", params={"succeedOn": 2})
        await instance.wait_for_status("waiting")
        before = pyflows_project.clock.now_ms()
        await pyflows_project.clock.advance(60_000)  # ms numbers work too
        assert pyflows_project.clock.now_ms() - before >= 60_000
        assert await instance.get_output(timeout=1) == {"attempt": 2}
