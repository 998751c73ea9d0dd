"""The project fixture: in-process fetch, env, reset, sync tests and both async runners."""

from __future__ import annotations

import pytest
from pyflows.testing import IntrospectionError, SyncProject, introspect_workflow, introspect_workflow_instance

APPROVED = {"type": "approval", "payload": {"ok": True}}


@pytest.mark.anyio
async def test_fetch_env_and_vars(pyflows_project):
    resp = await pyflows_project.fetch("/")
    assert (resp.status, await resp.text()) == (200, "hello from the sample")
    assert pyflows_project.env.GREETING == "hello"
    assert pyflows_project.path.name == "sample"


@pytest.mark.anyio
async def test_reset_forgets_instances_and_sessions(pyflows_project):
    env = pyflows_project.env
    await env.ORDER.create(id="before")
    session = introspect_workflow(env.ORDER)
    await pyflows_project.reset()
    assert await pyflows_project.engine.list_instances("order") == ([], 0)
    with pytest.raises(Exception, match="does not have an active introspection session"):
        await session.get()
    await env.ORDER.create(id="before")  # the id is free again


@pytest.mark.asyncio
async def test_runs_under_pytest_asyncio(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.ORDER, "aio") as instance:
        await instance.modify(lambda m: (m.disable_sleeps(), m.mock_event(APPROVED)))
        await env.ORDER.create(id="aio")
        assert (await instance.get_output())["shipped"] == {"shipped": True}


def test_sync_project_in_a_plain_def_test(pyflows_project):
    project = pyflows_project
    assert isinstance(project, SyncProject)
    resp = project.fetch("/")
    assert (resp.status, resp.text()) == (200, "hello from the sample")
    with project.introspect_workflow_instance("ORDER", "sync-1") as instance:
        instance.modify(lambda m: (m.disable_sleeps(), m.mock_event(APPROVED)))
        assert project.create("ORDER", id="sync-1", params={"amount": 4}) == "sync-1"
        instance.wait_for_status("complete")
        assert instance.get_output()["charged"] == {"charged": 4}
        assert instance.steps.names()[-1] == "ship"
    with project.introspect_workflow("ORDER") as workflow:
        workflow.modify_all(lambda m: m.disable_sleeps())
        created = project.fetch("/orders", method="POST", json={}).json()["id"]
        (captured,) = workflow.get()
        assert captured.id == created
        captured.wait_for_status("waiting")
    status = project.run(lambda: _status(project, created))
    assert status["status"] == "terminated"  # disposing the session terminated it


def test_sync_bindings_by_object_and_the_async_handles_say_what_to_use(pyflows_project):
    project = pyflows_project
    env = project.env
    with project.introspect_workflow_instance(env.ORDER, "sync-obj") as instance:  # the binding itself
        instance.modify(lambda m: (m.disable_sleeps(), m.mock_event(APPROVED)))
        assert project.create(env.ORDER, id="sync-obj", params={"amount": 1}) == "sync-obj"
        instance.wait_for_status("complete")
    with pytest.raises(IntrospectionError, match=r"plain `def` test.*pyflows_project.introspect_workflow_instance"):
        with introspect_workflow_instance(env.ORDER, "wrong-api"):
            pass
    with pytest.raises(IntrospectionError, match=r"pyflows_project.introspect_workflow\(\.\.\.\)"):
        with introspect_workflow(env.ORDER):
            pass


async def _status(project, instance_id):
    instance = await project.env.ORDER.get(instance_id)
    return await instance.status()


def test_sync_clock(pyflows_project):
    project = pyflows_project
    project.clock.freeze()
    with project.introspect_workflow_instance("FLAKY", "sync-clock") as instance:
        project.create("FLAKY", id="sync-clock", params={"succeedOn": 2})
        project.run_until_idle()
        project.advance("1 minute")
        assert instance.get_output(timeout=1) == {"attempt": 2}
    # the clock itself blocks too (its async advance() returned a coroutine: the clock did not move)
    before = project.clock.now_ms()
    project.clock.advance("1 hour")
    project.clock.run_until_idle()
    assert project.clock.now_ms() - before == 3_600_000
    # and the underlying objects are there, as on the async Project
    assert project.store is project.project.store and project.worker is project.project.worker
    assert project.triggers is project.project.triggers and project.state_dir == project.project.state_dir


@pytest.mark.anyio
async def test_scheduled_runs_the_cron_handler(pyflows_project):
    async with introspect_workflow(pyflows_project.env.ORDER) as workflow:
        await workflow.modify_all(lambda m: (m.disable_sleeps(), m.mock_event(APPROVED)))
        await pyflows_project.scheduled("0 * * * *")
        (instance,) = await workflow.get()
        assert instance.id == "cron-order"
        assert (await instance.get_output())["shipped"] == {"shipped": True}
