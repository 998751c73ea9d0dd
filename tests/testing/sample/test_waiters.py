"""Waiters and results: Cloudflare's semantics and texts, many waiters per key, failures that say why."""

from __future__ import annotations

import asyncio

import pytest
from pyflows.testing import (
    IntrospectionError,
    StepFailedError,
    WaitError,
    WaitTimeoutError,
    introspect_workflow_instance,
)

pytestmark = pytest.mark.anyio
APPROVED = {"type": "approval", "payload": {"ok": True}}


async def test_wait_for_step_result_returns_the_result(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.ORDER, "r") as instance:
        await env.ORDER.create(id="r", params={"amount": 7})
        assert await instance.wait_for_step_result({"name": "charge"}) == {"charged": 7}
        assert await instance.wait_for_step_result({"name": "reserve", "index": 1}) == {"reserved": True}


async def test_many_waiters_on_the_same_status_and_step_all_settle(pyflows_project):
    """Cloudflare keeps one waiter per key: a second one replaces the first, which never settles."""
    env = pyflows_project.env
    async with introspect_workflow_instance(env.ORDER, "many") as instance:
        await instance.modify(lambda m: (m.disable_sleeps(), m.mock_event(APPROVED)))
        waiters = [instance.wait_for_status("complete") for _ in range(3)]
        waiters += [instance.wait_for_step_result({"name": "ship"}) for _ in range(3)]
        tasks = [asyncio.ensure_future(w) for w in waiters]
        await asyncio.sleep(0.01)  # all of them are waiting before the instance exists
        await env.ORDER.create(id="many")
        results = await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert results == [None, None, None] + [{"shipped": True}] * 3


async def test_wait_for_status_waiting_works(pyflows_project):
    """Cloudflare's local engine never sets `waiting`, so waitForStatus("waiting") never resolves there."""
    env = pyflows_project.env
    async with introspect_workflow_instance(env.ORDER, "w") as instance:
        await env.ORDER.create(id="w")
        await instance.wait_for_status("waiting")
        assert instance.steps[-1].type == "sleep" and instance.steps[-1].status == "waiting"


async def test_wait_for_status_rejects_when_another_final_status_is_reached(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.FLAKY, "doomed") as instance:
        await instance.modify(
            lambda m: m.mock_step_error({"name": "call api"}, {"name": "NonRetryableError", "message": "no"})
        )
        await env.FLAKY.create(id="doomed")
        with pytest.raises(WaitError) as caught:
            await instance.wait_for_status("complete")
    assert str(caught.value) == (
        "[pyflows.testing] The Workflow instance doomed has reached status 'errored'. This is a finite status that "
        "prevents it from ever reaching the expected status of 'complete'. Its error: NonRetryableError: no"
    )


async def test_wait_for_status_queued_returns_at_once_and_unknown_status_is_an_error(pyflows_project):
    async with introspect_workflow_instance(pyflows_project.env.ORDER, "q") as instance:
        await instance.wait_for_status("queued")  # as Cloudflare: even before create
        with pytest.raises(IntrospectionError, match="unknown status 'done'; use one of queued, running"):
            await instance.wait_for_status("done")


async def test_wait_for_step_result_of_a_failed_step_raises_its_error(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.FLAKY, "f") as instance:
        await instance.modify(
            lambda m: (m.disable_retry_delays(), m.mock_step_error({"name": "call api"}, ConnectionError("down")))
        )
        await env.FLAKY.create(id="f")
        with pytest.raises(StepFailedError) as caught:
            await instance.wait_for_step_result({"name": "call api"})
    assert (caught.value.name, caught.value.message) == ("ConnectionError", "down")


@pytest.mark.parametrize(
    ("selector", "error", "message"),
    [
        (  # a step.do the instance never reached: the steps it did reach
            {"name": "ship", "index": 2},
            WaitError,
            "Instance 'n' ended with status 'complete' without reaching step {'name': 'ship', 'index': 2}. Steps it "
            "reached: step.do {'name': 'reserve', 'index': 1}, step.do {'name': 'charge', 'index': 1}, step.sleep "
            "{'name': 'cool off', 'index': 1}, step.wait_for_event {'name': 'approval', 'index': 1}, step.do "
            "{'name': 'ship', 'index': 1}.",
        ),
        (  # a step of that name that is not a step.do: no result to wait for
            {"name": "approval"},
            IntrospectionError,
            "wait_for_step_result: instance 'n' ended ('complete') without a step.do {'name': 'approval', 'index': "
            "1}; the step of that name is a step.wait_for_event, which has no result. wait_for_step_result waits "
            "for a step.do's; use wait_for_status, or read instance.steps.",
        ),
    ],
)
async def test_a_step_do_never_reached_fails_saying_what_was(pyflows_project, selector, error, message):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.ORDER, "n") as instance:
        await instance.modify(lambda m: (m.disable_sleeps(), m.mock_event(APPROVED)))
        await env.ORDER.create(id="n")
        with pytest.raises(error) as caught:
            await instance.wait_for_step_result(selector, timeout=2)
    assert str(caught.value) == message


async def test_a_timeout_says_what_the_instance_is_doing(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.ORDER, "sleepy") as instance:
        await env.ORDER.create(id="sleepy")
        with pytest.raises(WaitTimeoutError) as caught:
            await instance.wait_for_status("complete", timeout=0.2)
        message = str(caught.value)
        assert message.startswith("Timed out after 0.2 s waiting for instance 'sleepy' to reach status 'complete'.")
        assert "Instance 'sleepy' is waiting; sleeping in step.sleep {'name': 'cool off', 'index': 1} until" in message

        await instance.modify(lambda m: m.disable_sleeps())  # does not shorten a sleep already running
        await pyflows_project.clock.advance("1 hour")
        with pytest.raises(WaitTimeoutError, match="waiting for an event of type 'approval' in step.wait_for_event"):
            await instance.get_output(timeout=0.1)


async def test_a_mistyped_event_is_named_when_the_wait_for_it_fails(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.ORDER, "typo") as instance:
        await instance.modify(
            lambda m: (m.disable_sleeps(), m.mock_event({"type": "aproval", "payload": {"ok": True}}))
        )
        await env.ORDER.create(id="typo")
        unused = (
            "Events sent to it (or mocked) that no step.wait_for_event took: type 'aproval'; an event is taken "
            "only by a wait for exactly its type."
        )
        with pytest.raises(WaitTimeoutError) as waiting:  # still waiting for 'approval'
            await instance.wait_for_status("complete", timeout=0.1)
        assert "waiting for an event of type 'approval'" in str(waiting.value)
        assert str(waiting.value).endswith(unused)

        await pyflows_project.clock.advance("2 hours")  # the wait times out; run catches it and returns
        with pytest.raises(WaitError) as ended:
            await instance.wait_for_step_result({"name": "ship"})
    message = str(ended.value)
    assert "ended with status 'complete' without reaching step {'name': 'ship'" in message, message
    assert message.endswith(unused), message

    async with introspect_workflow_instance(env.FLAKY, "typo-2") as flaky:  # never waits for an event
        await flaky.modify(
            lambda m: (
                m.mock_event({"type": "approval", "payload": {}}),
                m.mock_step_error({"name": "call api"}, {"name": "NonRetryableError", "message": "no"}),
            )
        )
        await env.FLAKY.create(id="typo-2")
        with pytest.raises(WaitError) as errored:
            await flaky.wait_for_status("complete")
    assert str(errored.value).endswith(
        "Its error: NonRetryableError: no. Events sent to it (or mocked) that no step.wait_for_event took: "
        "type 'approval'; an event is taken only by a wait for exactly its type."
    ), str(errored.value)


@pytest.mark.parametrize("timeout", [float("nan"), "5", True, -1])
async def test_a_timeout_that_is_not_a_number_of_seconds_is_an_error(pyflows_project, timeout):
    """NaN never elapses (the waiter hung); a string failed deep inside with a TypeError."""
    async with introspect_workflow_instance(pyflows_project.env.ORDER, "t") as instance:
        with pytest.raises(IntrospectionError, match="wait_for_status: timeout must be a number of real seconds"):
            await instance.wait_for_status("complete", timeout=timeout)
        with pytest.raises(IntrospectionError, match="get_output: timeout must be a number of real seconds"):
            await instance.get_output(timeout=timeout)
    with pytest.raises(IntrospectionError, match="run_until_idle: timeout must be a number of real seconds"):
        await pyflows_project.clock.run_until_idle(timeout=timeout)
    with pytest.raises(ValueError, match="expected a finite number of milliseconds"):
        await pyflows_project.clock.advance(float("inf"))


async def test_an_event_not_taken_yet_is_not_called_unused(pyflows_project):
    """Mocked while the instance sleeps before its wait: it will be taken; no hint of a mistyped type."""
    env = pyflows_project.env
    async with introspect_workflow_instance(env.ORDER, "early") as instance:
        await instance.modify(lambda m: m.mock_event(APPROVED))
        await env.ORDER.create(id="early")
        with pytest.raises(WaitTimeoutError) as caught:
            await instance.wait_for_status("complete", timeout=0.1)
    assert "sleeping in step.sleep" in str(caught.value) and "no step.wait_for_event took" not in str(caught.value)


async def test_wait_for_step_result_of_a_step_do_named_like_a_sleep(pyflows_project):
    """Counts are per kind: step.sleep('x') and step.do('x') are both {'name': 'x', 'index': 1}."""
    env = pyflows_project.env
    async with introspect_workflow_instance(env.SAME_NAME, "same") as instance:
        await instance.modify(lambda m: m.disable_sleeps())
        await env.SAME_NAME.create(id="same")
        assert await instance.wait_for_step_result({"name": "x"}) == 5


async def test_a_finished_instance_is_not_described_as_waiting(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.ORDER, "ended") as instance:
        await env.ORDER.create(id="ended")
        await instance.wait_for_status("waiting")  # in the one-hour sleep
        await (await env.ORDER.get("ended")).terminate()
        with pytest.raises(WaitError) as caught:
            await instance.get_output()
        with pytest.raises(IntrospectionError, match="mock_event: .*terminated"):  # a finished instance takes no event
            await instance.modify(lambda m: m.mock_event(APPROVED))
    message = str(caught.value)
    assert "Instance 'ended' is terminated. Steps reached:" in message and "sleeping" not in message, message


async def test_a_retrying_step_shows_its_last_error(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.FLAKY, "again") as instance:
        await env.FLAKY.create(id="again")
        await instance.wait_for_status("waiting")  # the 1 minute back-off after attempt 1
        (entry,) = instance.steps
    assert entry.status == "retrying"
    assert entry.error == {"name": "ConnectionError", "message": "api down (attempt 1)"}


async def test_a_timeout_before_create_says_so(pyflows_project):
    async with introspect_workflow_instance(pyflows_project.env.ORDER, "ghost") as instance:
        with pytest.raises(WaitTimeoutError, match=r"Instance 'ghost' was never created \(call create\(\) with id="):
            await instance.wait_for_step_result({"name": "reserve"}, timeout=0.05)


async def test_get_output_and_get_error_need_the_right_final_status(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.FLAKY, "ok") as instance:
        await instance.modify(lambda m: m.disable_retry_delays())
        await env.FLAKY.create(id="ok", params={"succeedOn": 1})
        assert await instance.get_output() == {"attempt": 1}
        with pytest.raises(
            WaitError, match='Cannot retrieve error: Workflow instance is in status "complete" but must'
        ):
            await instance.get_error()
    async with introspect_workflow_instance(env.FLAKY, "ko") as instance:
        await instance.modify(
            lambda m: m.mock_step_error({"name": "call api"}, {"name": "NonRetryableError", "message": "x"})
        )
        await env.FLAKY.create(id="ko")
        assert await instance.get_error() == {"name": "NonRetryableError", "message": "x"}
        with pytest.raises(
            WaitError, match='Cannot retrieve output: Workflow instance is in status "errored" but must be "complete"'
        ):
            await instance.get_output()


async def test_steps_log_reads_like_a_table(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.ORDER, "log") as instance:
        await instance.modify(
            lambda m: (m.disable_sleeps(), m.mock_event(APPROVED), m.mock_step_result({"name": "reserve"}, 1))
        )
        await env.ORDER.create(id="log")
        await instance.wait_for_status("complete")
    steps = instance.steps
    assert steps.names() == ["reserve", "charge", "cool off", "approval", "ship"]
    assert [s.type for s in steps] == ["do", "do", "sleep", "waitForEvent", "do"]
    text = str(steps)
    assert text.splitlines()[0].split() == [
        "1.",
        "do",
        "'reserve'",
        "#1",
        "complete",
        "attempts=1",
        "(mocked)",
        "output=1",
    ]
    assert steps[3].output["payload"] == {"ok": True}


async def test_disposed_handles_refuse_work_and_terminate_running_instances(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.ORDER, "gone") as instance:
        await env.ORDER.create(id="gone")
        await instance.wait_for_status("waiting")
    assert (await pyflows_project.engine.status("order", "gone"))["status"] == "terminated"
    with pytest.raises(IntrospectionError, match="does not have an active introspection session"):
        await instance.wait_for_status("complete")
