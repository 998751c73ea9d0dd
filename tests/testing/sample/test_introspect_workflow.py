"""introspect_workflow captures every instance created afterwards, however it is created."""

from __future__ import annotations

import pytest
from pyflows.testing import IntrospectionError, introspect_workflow, introspect_workflow_instance

pytestmark = pytest.mark.anyio
APPROVED = {"type": "approval", "payload": {"ok": True}}


async def test_captures_instances_created_through_fetch(pyflows_project, calls):
    async with introspect_workflow(pyflows_project.env.ORDER) as workflow:
        await workflow.modify_all(lambda m: (m.disable_sleeps(), m.mock_event(APPROVED)))
        resp = await pyflows_project.fetch("/orders", method="POST", json={"amount": 3})
        assert resp.status == 200
        created = (await resp.json())["id"]
        (instance,) = await workflow.get()
        assert instance.id == created
        assert (await instance.get_output())["charged"] == {"charged": 3}


async def test_captures_create_batch_and_create_and_applies_modify_all_to_each(pyflows_project, calls):
    env = pyflows_project.env
    async with introspect_workflow(env.ORDER) as workflow:

        async def modify(m):
            m.disable_sleeps()
            m.mock_event(APPROVED)
            m.mock_step_result({"name": "reserve"}, {"reserved": "mocked"})

        await workflow.modify_all(modify)
        ids = (await (await pyflows_project.fetch("/batch", method="POST")).json())["ids"]
        await env.ORDER.create(id="direct")
        instances = await workflow.get()
        assert [i.id for i in instances] == [*ids, "direct"]
        for instance in instances:
            assert (await instance.get_output())["reserved"] == {"reserved": "mocked"}
    assert "reserve" not in calls and calls.count("ship") == 4


async def test_an_instance_with_its_own_handle_keeps_it_inside_a_session(pyflows_project, calls):
    env = pyflows_project.env
    async with (
        introspect_workflow(env.ORDER) as workflow,
        introspect_workflow_instance(env.ORDER, "own") as own,
    ):
        await workflow.modify_all(lambda m: (m.mock_step_result({"name": "reserve"}, "mocked"), m.disable_sleeps()))
        await own.modify(lambda m: (m.disable_sleeps(), m.mock_event(APPROVED)))
        await env.ORDER.create(id="own")
        await env.ORDER.create(id="captured")
        assert [h.id for h in await workflow.get()] == ["captured"]
        assert (await own.get_output())["reserved"] == {"reserved": True}  # its own modifiers only: reserve ran
        (captured,) = await workflow.get()
        await captured.wait_for_status("waiting")
        assert captured.steps[0].output == "mocked"
        with pytest.raises(IntrospectionError, match=r"that handle is in `await workflow.get\(\)`"):
            introspect_workflow_instance(env.ORDER, "captured")
    assert calls.count("reserve") == 1


async def test_one_session_per_workflow_and_disposed_sessions(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow(env.ORDER) as workflow:
        with pytest.raises(IntrospectionError) as caught:
            introspect_workflow(env.ORDER)
        assert str(caught.value).startswith(
            'Workflow "order" already has an active introspection session for binding "ORDER".'
        )
        async with introspect_workflow(env.FLAKY):  # another workflow is fine
            pass
    with pytest.raises(IntrospectionError, match='workflow "order" does not have an active introspection session'):
        await workflow.get()
    async with introspect_workflow(env.ORDER):  # a new session after the old one ended
        pass


async def test_modify_all_checks_calls_at_once(pyflows_project):
    async with introspect_workflow(pyflows_project.env.ORDER) as workflow:
        with pytest.raises(IntrospectionError, match="a step selector is a dict"):
            await workflow.modify_all(lambda m: m.disable_sleeps(["cool off"]))
        await workflow.modify_all(lambda m: m.mock_step_result({"name": "charge"}, 0))
        with pytest.raises(IntrospectionError, match="already mocked"):
            await workflow.modify_all(lambda m: m.mock_step_result({"name": "charge"}, 1))


async def test_bindings_that_do_not_exist_or_are_not_workflows(pyflows_project):
    with pytest.raises(
        AttributeError,
        match=r"env has no binding or variable 'NOPE' \(defined: CACHE, DB, FILES, FLAKY, GREETING, JOBS, ORDER",
    ):
        introspect_workflow(pyflows_project.env.NOPE)
    with pytest.raises(
        IntrospectionError, match=r"takes a Workflow binding such as project.env.MY_WORKFLOW, not the string 'ORDER'"
    ):
        introspect_workflow("ORDER")
    names_hint = r"fixture's methods take names: pyflows_project.introspect_workflow\('ORDER'"
    with pytest.raises(IntrospectionError, match=names_hint):
        introspect_workflow("ORDER")
    with pytest.raises(
        IntrospectionError,
        match=r"such as project.env.MY_WORKFLOW \(a `workflows\[\].binding` of the wrangler config\), got 42",
    ):
        introspect_workflow_instance(42, "x")
    with pytest.raises(IntrospectionError, match="is already being introspected"):
        async with introspect_workflow_instance(pyflows_project.env.ORDER, "dup"):
            introspect_workflow_instance(pyflows_project.env.ORDER, "dup")
    with pytest.raises(IntrospectionError, match="introspect_workflow_instance\\(\\): "):
        introspect_workflow_instance(pyflows_project.env.ORDER, "bad id!")
    with pytest.raises(AttributeError, match="env has no binding"):
        pyflows_project.introspect_workflow("NOPE")


async def test_a_dev_server_engine_is_refused(tmp_path):
    from pyflows.runtime.storage.store import Store
    from pyflows.runtime.workflows.binding import WorkflowBinding
    from pyflows.runtime.workflows.engine import Engine

    store = await Store.open(tmp_path / "state")
    try:
        binding = WorkflowBinding(Engine(store, []), "order")
        with pytest.raises(IntrospectionError, match="was not started by pyflows.testing"):
            introspect_workflow(binding)
    finally:
        await store.close()
