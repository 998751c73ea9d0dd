"""Replay after a restart with concurrent branches: the determinism check must not race them.

Regression tests for the code review's §2 item 1 / §3.4: the old check yielded the event loop 8
times and then declared "the code changed", which a gather branch with 5+ recorded steps lost.
"""

from __future__ import annotations

import asyncio

import pytest
from engine_helpers import EngineFactory, api_details
from workers import WorkflowEntrypoint
from workers.workflows import NonRetryableError

pytestmark = pytest.mark.anyio


async def _recorded(engine, workflow: str, iid: str) -> int:
    return sum(1 for s in (await api_details(engine, workflow, iid))["steps"] if s.get("success"))


async def _until_recorded(engine, workflow: str, iid: str, n: int) -> None:
    async with asyncio.timeout(30):
        while await _recorded(engine, workflow, iid) < n:
            await asyncio.sleep(0.01)


async def test_replay_with_a_long_concurrent_branch_is_not_nondeterminism(make_engine: EngineFactory):
    gate = {"block": True, "ev": asyncio.Event()}

    class FanOut(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do()
            async def slow_call():
                if gate["block"]:
                    await gate["ev"].wait()  # in flight when the "server" stops
                return "x"

            async def branch():
                out = []
                for i in range(8):  # 4 passed with the yield-counting check, 5+ failed

                    @step.do(f"item {i}")
                    async def item():  # awaited in this iteration (a parameter would name a step)
                        return i  # noqa: B023

                    out.append(await item())
                return out

            return await asyncio.gather(slow_call(), branch())

    engine = await make_engine(FanOut)
    iid = await engine.create("fan-out")
    await _until_recorded(engine, "fan-out", iid, 8)
    gate["block"] = False
    engine = await make_engine.reopen(engine, FanOut)  # = reload / Ctrl-C / kill -9
    status = await engine.wait_for("fan-out", iid, timeout=30)
    assert status["status"] == "complete", status["error"]
    assert status["output"] == ["x", list(range(8))]


async def test_replay_of_a_legacy_depends_chain_5_deep_is_not_nondeterminism(make_engine: EngineFactory):
    gate = {"block": True, "ev": asyncio.Event()}
    runs: list[str] = []

    class Chain(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("slow")
            async def slow():
                runs.append("slow")
                if gate["block"]:
                    await gate["ev"].wait()
                return 0

            @step.do("z1")
            async def z1():
                runs.append("z1")
                return 1

            @step.do("z2", depends=[z1])
            async def z2(z1):
                runs.append("z2")
                return z1 + 1

            @step.do("z3", depends=[z2])
            async def z3(z2):
                runs.append("z3")
                return z2 + 1

            @step.do("z4", depends=[z3])
            async def z4(z3):
                runs.append("z4")
                return z3 + 1

            @step.do("y", depends=[z4])
            async def y(z4):
                runs.append("y")
                return z4 * 10

            return await asyncio.gather(slow(), y())

    engine = await make_engine(Chain, implicit_dependencies=False)
    iid = await engine.create("chain")
    await _until_recorded(engine, "chain", iid, 5)
    gate["block"] = False
    engine = await make_engine.reopen(engine, Chain, implicit_dependencies=False)
    status = await engine.wait_for("chain", iid, timeout=30)
    assert status["status"] == "complete", status["error"]
    assert status["output"] == [0, 40]
    assert runs == ["slow", "z1", "z2", "z3", "z4", "y", "slow"]  # recorded steps never ran again


async def test_a_new_step_where_a_concurrent_branch_expects_a_recorded_one_is_nondeterminism(
    make_engine: EngineFactory,
):
    """A real divergence inside one branch is still caught while another branch is in flight."""
    gate = {"block": True, "ev": asyncio.Event()}
    version = {"first": "charge card"}

    class Branches(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do()
            async def slow_call():
                if gate["block"]:
                    await gate["ev"].wait()
                return "x"

            async def branch():
                @step.do(version["first"])
                async def first():
                    return 1

                @step.do("second")
                async def second():
                    return 2

                return [await first(), await second()]

            return await asyncio.gather(slow_call(), branch())

    engine = await make_engine(Branches)
    iid = await engine.create("branches")
    await _until_recorded(engine, "branches", iid, 2)
    gate["block"] = False
    version["first"] = "reserve stock"  # the code changed while the instance was in flight
    engine = await make_engine.reopen(engine, Branches)
    status = await engine.wait_for("branches", iid, timeout=30)
    assert status["status"] == "errored"
    assert status["error"]["name"] == "NonDeterminismError"
    message = status["error"]["message"]
    assert "called step.do 'reserve stock-1' where its history has step.do 'charge card-1'" in message


async def test_tasks_a_step_callback_creates_do_not_renumber_the_runs_own_tasks(make_engine: EngineFactory):
    """A task created inside a step's callback belongs to that step (as when each step ran in a task of
    its own, whose lineages are in stored histories), not to the task that called the step. Otherwise
    the callback runs the first time and not on replay (its result is recorded), the run's own tasks
    of the same coroutine are numbered differently on replay, and a new step can land on the lineage of
    a recorded one: a false non-determinism error."""
    gate = {"block": True, "ev": asyncio.Event()}

    class Renumber(WorkflowEntrypoint):
        async def run(self, event, step):
            async def work(n):
                if n == 0:
                    return 0  # created inside prep's callback: no steps
                if n == 1:
                    await asyncio.sleep(0.05)  # calls its step after the other branch calls its own

                @step.do(f"s{n}")
                async def s():
                    if n == 2 and gate["block"]:
                        await gate["ev"].wait()  # in flight when the "server" stops
                    return n

                return await s()

            @step.do()
            async def prep():
                return await asyncio.gather(work(0))

            await prep()
            return await asyncio.gather(work(1), work(2))

    engine = await make_engine(Renumber)
    iid = await engine.create("renumber")
    await _until_recorded(engine, "renumber", iid, 2)  # prep and s1; s2 is waiting on the gate
    gate["block"] = False
    engine = await make_engine.reopen(engine, Renumber)
    # On replay prep's callback does not run: work(1) and work(2) must keep their first-run names.
    assert (await engine.wait_for("renumber", iid, timeout=10))["output"] == [1, 2]


async def test_a_step_called_inside_another_steps_callback_replays_after_a_restart(make_engine: EngineFactory):
    """The outer step's callback does not run on replay (its result is recorded), so the inner step is
    not called then either: it must not take a place in the lineage of the calling task."""
    after_step = {"block": True, "ev": asyncio.Event(), "fail": False}

    class Nested(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("inner")
            async def inner():
                return 1

            @step.do("outer")
            async def outer():
                return await inner() + 1

            @step.do("after")
            async def after():
                if after_step["block"]:
                    await after_step["ev"].wait()  # in flight when the "server" stops
                if after_step["fail"]:
                    raise NonRetryableError("flaky dependency")
                return 3

            return [await outer(), await after()]

    engine = await make_engine(Nested)
    iid = await engine.create("nested")
    await _until_recorded(engine, "nested", iid, 2)
    after_step["block"] = False
    engine = await make_engine.reopen(engine, Nested)
    status = await engine.wait_for("nested", iid, timeout=10)
    assert status["status"] == "complete", status["error"]
    assert status["output"] == [2, 3]

    after_step["fail"] = True  # and "Retry now" from a failed step after it: the same replay, no restart
    iid = await engine.create("nested")
    assert (await engine.wait_for("nested", iid, timeout=10))["status"] == "errored"
    after_step["fail"] = False
    await engine.retry_now("nested", iid)
    status = await engine.wait_for("nested", iid, timeout=10)
    assert status["status"] == "complete", status["error"]


async def test_branches_calling_a_step_of_the_same_name_get_their_own_results_on_replay(make_engine: EngineFactory):
    """Steps of one name are numbered in call order. On replay, branch x replays its first step and
    must not overtake branch y to its "s": each replayed step still gives the event loop a turn, as
    executing it did, so the calls come in the recorded order and each branch gets its own result."""

    class Race(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("a")
            async def a():
                await asyncio.sleep(0.05)
                return "a"

            async def x():
                await a()

                @step.do("s")
                async def s():
                    return "x"

                return await s()

            async def y():
                @step.do("s")
                async def s():
                    return "y"

                return await s()

            branches = await asyncio.gather(x(), y())
            await step.wait_for_event("go", "go", timeout="1 hour")
            return branches

    engine = await make_engine(Race)
    iid = await engine.create("race")
    await engine.wait_for("race", iid, {"waiting"}, timeout=10)
    engine = await make_engine.reopen(engine, Race)  # the replay of a, s-1 (y's) and s-2 (x's)
    await engine.send_event("race", iid, "go", {})
    assert (await engine.wait_for("race", iid, timeout=10))["output"] == ["x", "y"]
