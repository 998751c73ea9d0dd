"""Every modifier, with Cloudflare's semantics and the traps of its kit fixed (pyflows.testing.modifiers)."""

from __future__ import annotations

import pytest
from pyflows.testing import IntrospectionError, introspect_workflow, introspect_workflow_instance

pytestmark = pytest.mark.anyio
APPROVED = {"type": "approval", "payload": {"ok": True}}


def _mock_order(m, *, charge=None):
    m.disable_sleeps()
    m.mock_event(APPROVED)


@pytest.mark.parametrize("value", [None, False, 0, "", {"charged": 99}])
async def test_mock_step_result_is_a_real_mock_even_when_falsy(pyflows_project, calls, value):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.ORDER, "falsy") as instance:
        await instance.modify(lambda m: (_mock_order(m), m.mock_step_result({"name": "charge"}, value)))
        await env.ORDER.create(id="falsy")
        output = await instance.get_output()
    assert output["charged"] == value
    assert calls == ["reserve", "ship"]  # charge never ran
    charge = instance.steps[1]
    assert (charge.name, charge.status, charge.attempts, charge.mocked) == ("charge", "complete", 1, True)


async def test_mock_step_result_twice_and_error_after_result_are_errors(pyflows_project):
    async with introspect_workflow_instance(pyflows_project.env.ORDER, "twice") as instance:
        await instance.modify(lambda m: m.mock_step_result({"name": "charge"}, None))
        with pytest.raises(IntrospectionError, match=r"step \{'name': 'charge', 'index': 1\} is already mocked"):
            await instance.modify(lambda m: m.mock_step_result({"name": "charge", "index": 1}, 1))
        with pytest.raises(IntrospectionError, match="already has a mocked result"):
            await instance.modify(lambda m: m.mock_step_error({"name": "charge"}, RuntimeError("x")))
        # another index is another step
        await instance.modify(lambda m: m.mock_step_result({"name": "charge", "index": 2}, 2))


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("charge", "a step selector is a dict"),
        ({"index": 1}, "needs a non-empty 'name'"),
        ({"name": "charge", "index": 0}, "must be an integer from 1"),
        ({"name": "charge", "count": 1}, "unknown key"),
    ],
)
async def test_bad_selectors_say_what_is_wrong(pyflows_project, selector, message):
    async with introspect_workflow_instance(pyflows_project.env.ORDER, "bad") as instance:
        with pytest.raises(IntrospectionError, match=message):
            await instance.modify(lambda m: m.mock_step_result(selector, 1))


async def test_mock_step_error_and_forced_timeout_share_one_failure_counter(pyflows_project, calls):
    env = pyflows_project.env
    api = {"name": "call api"}
    async with introspect_workflow_instance(env.FLAKY, "counter") as instance:

        async def modify(m):  # an async fn works too
            m.disable_retry_delays()
            m.mock_step_error(api, RuntimeError("mocked outage"), times=2)
            m.force_step_timeout(api, times=1)

        await instance.modify(modify)
        await env.FLAKY.create(id="counter", params={"succeedOn": 1})
        assert await instance.get_output() == {"attempt": 4}
    assert calls == ["call api#4"]  # attempts 1-3 were answered by the modifiers
    details = await pyflows_project.engine.describe("flaky", "counter")
    errors = [a.error for a in details.steps[0].attempts]  # the engine's records (InstanceDetails)
    assert errors[:2] == [{"name": "RuntimeError", "message": "mocked outage"}] * 2
    assert errors[2] == {"name": "WorkflowTimeoutError", "message": "Execution timed out after 600000ms"}
    assert errors[3] is None


async def test_mock_step_error_on_every_attempt_errors_the_instance(pyflows_project, calls):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.FLAKY, "always") as instance:
        await instance.modify(
            lambda m: (m.disable_retry_delays(), m.mock_step_error({"name": "call api"}, ValueError("bad")))
        )
        await env.FLAKY.create(id="always")
        assert await instance.get_error() == {"name": "ValueError", "message": "bad"}
    assert calls == []
    assert instance.steps[0].attempts == 5  # limit 4 retries: every attempt still runs


async def test_mocked_non_retryable_error_stops_at_once(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.FLAKY, "fatal") as instance:
        error = {"name": "NonRetryableError", "message": "card stolen"}
        await instance.modify(lambda m: m.mock_step_error({"name": "call api"}, error))
        await env.FLAKY.create(id="fatal")
        assert await instance.get_error() == error
    assert instance.steps[0].attempts == 1


async def test_a_mocked_subclass_of_non_retryable_error_stops_at_once_too(pyflows_project):
    from pyflows.testing import NonRetryableError

    class CardDeclined(NonRetryableError):  # real code raising this is not retried either
        pass

    env = pyflows_project.env
    async with introspect_workflow_instance(env.FLAKY, "declined") as instance:
        await instance.modify(lambda m: m.mock_step_error({"name": "call api"}, CardDeclined("card declined")))
        await env.FLAKY.create(id="declined")
        assert await instance.get_error() == {"name": "NonRetryableError", "message": "card declined"}
    assert instance.steps[0].attempts == 1


async def test_a_mock_is_a_copy_of_the_value(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.ORDER, "copy") as instance:
        value = {"charged": 1}
        event = {"type": "approval", "payload": {"ok": True}}
        await instance.modify(
            lambda m: (m.disable_sleeps(), m.mock_event(event), m.mock_step_result({"name": "charge"}, value))
        )
        value["charged"], event["payload"]["ok"] = 2, False  # after modify: changes nothing
        await env.ORDER.create(id="copy")
        output = await instance.get_output()
    assert output["charged"] == {"charged": 1} and output["shipped"] == {"shipped": True}


async def test_force_step_timeout_every_attempt(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.FLAKY, "slow") as instance:
        await instance.modify(lambda m: (m.disable_retry_delays(), m.force_step_timeout({"name": "call api"})))
        await env.FLAKY.create(id="slow")
        error = await instance.get_error()
    assert error["name"] == "WorkflowTimeoutError"


async def test_disable_sleeps_for_selected_steps_only(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.ORDER, "picky") as instance:
        await instance.modify(lambda m: m.disable_sleeps([{"name": "not this one"}]))
        await env.ORDER.create(id="picky")
        await instance.wait_for_status("waiting")
        assert [s.status for s in instance.steps] == ["complete", "complete", "waiting"]
        await instance.modify(lambda m: m.disable_sleeps([{"name": "cool off"}]))
    async with introspect_workflow_instance(env.ORDER, "picked") as instance:
        await instance.modify(lambda m: (m.disable_sleeps([{"name": "cool off"}]), m.mock_event(APPROVED)))
        await env.ORDER.create(id="picked")
        await instance.wait_for_status("complete")


async def test_disable_retry_delays_runs_every_attempt_without_waiting(pyflows_project, calls):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.FLAKY, "quick") as instance:
        await instance.modify(lambda m: m.disable_retry_delays([{"name": "call api"}]))
        await env.FLAKY.create(id="quick", params={"succeedOn": 3})
        assert await instance.get_output(timeout=2) == {"attempt": 3}
    assert calls == ["call api#1", "call api#2", "call api#3"]


async def test_force_event_timeout(pyflows_project, calls):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.ORDER, "late") as instance:
        await instance.modify(
            lambda m: (m.disable_sleeps(), m.mock_event(APPROVED), m.force_event_timeout({"name": "approval"}))
        )
        await env.ORDER.create(id="late")
        output = await instance.get_output()
    assert output["timedOut"] == "WorkflowTimeoutError"  # the mocked event was not taken
    assert instance.steps[-1].error["name"] == "WorkflowTimeoutError"


async def test_mock_event_on_a_waiting_instance(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.ORDER, "later") as instance:
        await instance.modify(lambda m: m.disable_sleeps())
        await env.ORDER.create(id="later")
        await instance.wait_for_status("waiting")
        assert instance.steps[-1].type == "waitForEvent"
        await instance.modify(lambda m: m.mock_event({"type": "approval", "payload": {"ok": False}}))
        assert (await instance.get_output())["shipped"] == {"shipped": False}


async def test_bad_mock_values_and_events(pyflows_project):
    async with introspect_workflow_instance(pyflows_project.env.ORDER, "values") as instance:
        with pytest.raises(IntrospectionError, match="cannot be sent over RPC"):
            await instance.modify(lambda m: m.mock_step_result({"name": "charge"}, (1, 2)))
        with pytest.raises(IntrospectionError, match="mock_event: pass a dict like"):
            await instance.modify(lambda m: m.mock_event("approval"))
        with pytest.raises(IntrospectionError, match="the error must be an exception"):
            await instance.modify(lambda m: m.mock_step_error({"name": "charge"}, "boom"))
        with pytest.raises(IntrospectionError, match="times must be a positive integer"):
            await instance.modify(lambda m: m.force_step_timeout({"name": "charge"}, times=0))
        # a modifier returned instead of called would change nothing
        with pytest.raises(IntrospectionError, match=r"modify: m.disable_sleeps was not called: add the parentheses"):
            await instance.modify(lambda m: (m.mock_event(APPROVED), m.disable_sleeps))
        async with introspect_workflow(pyflows_project.env.FLAKY) as workflow:
            with pytest.raises(IntrospectionError, match=r"modify_all: m.disable_retry_delays was not called"):
                await workflow.modify_all(lambda m: m.disable_retry_delays)
        # a misspelt key would deliver a None payload
        with pytest.raises(IntrospectionError, match="unknown key\\(s\\) 'paylaod'; an event has 'type' and 'payload'"):
            await instance.modify(lambda m: m.mock_event({"type": "approval", "paylaod": {}}))
        # a payload that cannot be stored fails here, not at create() (which left the instance queued)
        with pytest.raises(
            IntrospectionError,
            match="mock_event: The payload of mocked event 'approval' cannot be stored: <class 'set'>",
        ):
            await instance.modify(lambda m: m.mock_event({"type": "approval", "payload": {1, 2}}))
        # a timeout on every attempt and a result: the result is never reached, whichever comes first
        await instance.modify(lambda m: m.force_step_timeout({"name": "reserve"}))
        with pytest.raises(IntrospectionError, match="already times out on every attempt"):
            await instance.modify(lambda m: m.mock_step_result({"name": "reserve"}, 1))
        await instance.modify(lambda m: m.mock_step_result({"name": "ship"}, 1))
        with pytest.raises(IntrospectionError, match="force_step_timeout: step .* already has a mocked result"):
            await instance.modify(lambda m: m.force_step_timeout({"name": "ship"}))
        await instance.modify(lambda m: m.force_step_timeout({"name": "ship"}, times=1))  # then the result: fine
