"""A child process that runs the engine until the parent SIGKILLs it (tests/runtime/test_recovery.py).

    python crash_child.py STATE_DIR LOG_FILE SCENARIO [INSTANCE_ID]

Steps append a line to LOG_FILE when they run, so the parent can count executions across processes.
With no INSTANCE_ID it only recovers (re-opens the store) and exits when every instance is final.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_helpers import EngineFactory, api_details  # noqa: E402
from workers import WorkflowEntrypoint  # noqa: E402

STATE, LOG, SCENARIO = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
RELEASE = STATE.parent / "release"


def mark(line: str) -> None:
    with LOG.open("a") as f:
        f.write(line + "\n")


class DuringStep(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("a")
        async def a():
            mark("a")
            return 1

        @step.do("b", config={"retries": {"limit": 0, "delay": 0, "backoff": "constant"}})
        async def b():
            mark("b-start")
            while not RELEASE.exists():  # the first process is killed in here
                await asyncio.sleep(0.02)
            mark("b-end")
            return 2

        @step.do("c")
        async def c(a, b):
            mark("c")
            return a + b

        return await c()


class DuringSleep(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("a")
        async def a():
            mark("a")
            return "x"

        await a()
        await step.sleep("nap", event.payload["sleep_ms"])

        @step.do("c")
        async def c():
            mark("c")
            return "done"

        return await c()


class DuringEvent(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("a")
        async def a():
            mark("a")
            return 1

        await a()
        got = await step.wait_for_event("approval", "approve", timeout="1 minute")

        @step.do("c")
        async def c():
            mark("c")
            return got["payload"]

        return await c()


class FanOut(WorkflowEntrypoint):
    """A step in flight next to a branch that records 6 steps: killed once all 6 are recorded."""

    async def run(self, event, step):
        @step.do("slow")
        async def slow():
            mark("slow-start")
            while not RELEASE.exists():
                await asyncio.sleep(0.02)
            return "x"

        async def branch():
            out = []
            for i in range(6):

                @step.do(f"item {i}")
                async def item():  # awaited in this iteration (a parameter would name a step)
                    mark(f"item {i}")  # noqa: B023
                    return i  # noqa: B023

                out.append(await item())
            mark("branch-done")
            return out

        return await asyncio.gather(slow(), branch())


CLASSES = (DuringStep, DuringSleep, DuringEvent, FanOut)
WORKFLOWS = {"step": "during-step", "sleep": "during-sleep", "event": "during-event", "fanout": "fan-out"}


async def main() -> None:
    factory = EngineFactory(STATE.parent)
    engine = await factory(*CLASSES, state=STATE.name, hibernate_after_ms=int(os.environ.get("HIBERNATE_MS", "60000")))
    if len(sys.argv) > 4:
        iid = sys.argv[4]
        wf = WORKFLOWS[SCENARIO]
        await engine.create(wf, id=iid, params={"sleep_ms": 1500})
        mark("created")
        if SCENARIO == "fanout":
            while sum(1 for s in (await api_details(engine, wf, iid))["steps"] if s.get("success")) < 6:
                await asyncio.sleep(0.02)
            mark("items-recorded")
        if SCENARIO == "event":
            await engine.wait_for(wf, iid, {"waiting"})
            await engine.send_event(wf, iid, "approve", {"ok": True})
            os.kill(os.getpid(), signal.SIGKILL)  # the event is stored; consuming it has not happened
        await asyncio.sleep(3600)  # the parent kills us
    else:
        for wf in WORKFLOWS.values():
            rows, _ = await engine.list_instances(wf)  # InstanceRecord rows
            for row in rows:
                status = await engine.wait_for(wf, row.id, timeout=20)
                mark(f"final {row.id} {status['status']} {status['output']}")
        await factory.close()


asyncio.run(main())
