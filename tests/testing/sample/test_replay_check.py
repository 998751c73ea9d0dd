"""replay(): re-run `run` against the recorded history and fail on a divergence."""

from __future__ import annotations

import pytest
from pyflows.testing import NonDeterminismError, introspect_workflow_instance

pytestmark = pytest.mark.anyio


async def test_a_deterministic_workflow_replays_cleanly(pyflows_project, calls):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.ORDER, "steady") as instance:
        await instance.modify(lambda m: m.disable_sleeps())
        await env.ORDER.create(id="steady")
        await instance.wait_for_status("waiting")  # mid-way: replay stops at the end of the history
        await instance.replay()
        await instance.modify(lambda m: m.mock_event({"type": "approval", "payload": {"ok": True}}))
        await instance.wait_for_status("complete")
        ran = list(calls)
        await instance.replay()
    assert calls == ran  # no step function ran during the replays


async def test_a_step_called_inside_another_steps_callback_replays_cleanly(pyflows_project, calls):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.REPLAYED, "nested") as instance:
        await env.REPLAYED.create(id="nested", params={"nested": True})
        assert await instance.get_output() == {"done": True}
        assert sorted(s.name for s in instance.steps if s.status == "complete") == ["first", "inner", "second"]
        await instance.replay()  # "first" replays without running its callback, so "inner" is not called


async def test_a_renamed_step_is_a_divergence(pyflows_project, calls):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.REPLAYED, "renamed") as instance:
        await env.REPLAYED.create(id="renamed")
        await instance.wait_for_status("complete")
        pyflows_project.worker.module.STEP_NAMES["second"] = "second, renamed"
        with pytest.raises(NonDeterminismError) as caught:
            await instance.replay()
    assert str(caught.value).startswith(
        "Non-deterministic workflow: on replay, instance 'renamed' called step.do 'second, renamed-1' where its "
        "history has step.do 'second-1'."
    )


async def test_a_different_output_is_a_divergence(pyflows_project, calls):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.REPLAYED, "output") as instance:
        await env.REPLAYED.create(id="output", params={"outputOutsideStep": True})
        assert await instance.get_output() == {"at": "a"}
        pyflows_project.worker.module.STEP_NAMES["output"] = "b"
        with pytest.raises(
            NonDeterminismError, match=r"returned \{'at': 'b'\}, but its recorded output is \{'at': 'a'\}"
        ):
            await instance.replay()


async def test_a_recorded_step_never_called_is_a_divergence(pyflows_project, calls):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.REPLAYED, "short") as instance:
        await env.REPLAYED.create(id="short")
        await instance.wait_for_status("complete")
        pyflows_project.worker.module.STEP_NAMES["stopAfterFirst"] = True
        with pytest.raises(
            NonDeterminismError, match="finished run\\(\\) without calling do 'second-1' that its history has"
        ):
            await instance.replay()
