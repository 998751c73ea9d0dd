"""The engine as a library (no HTTP), on a real SQLite store in a temp dir.

engine_steps_one_instance   one instance running N trivial async steps in sequence: N / (create → complete).
engine_steps_concurrent     100 instances × 20 steps started together: 2,000 / (first create → all complete).
engine_three_step           1,000 three-step instances created by 16 concurrent callers of
                            `engine.create`: instances / (first create → all complete, polled
                            every 5 ms with `status_counts`).
floor_aiosqlite_commit      the loop of engine_steps_one_instance against a bare aiosqlite
                            connection (same pragmas: WAL, synchronous=NORMAL): one INSERT + COMMIT
                            per step. What a durable step costs at least if each one commits alone.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import Result, emit, result
from pyflows.runtime.sdk import SHIM_DIR

if str(SHIM_DIR) not in sys.path:
    sys.path.insert(0, str(SHIM_DIR))  # `import workers` as user code does

from pyflows.runtime.storage.store import Store  # noqa: E402
from pyflows.runtime.surface.values import JsDict  # noqa: E402
from pyflows.runtime.workflows.binding import WorkflowBinding  # noqa: E402
from pyflows.runtime.workflows.engine import Engine, EngineOptions, WorkflowSpec  # noqa: E402
from workers import WorkflowEntrypoint  # noqa: E402

CONCURRENT_INSTANCES = 100
CONCURRENT_STEPS = 20
THREE_STEP_INSTANCES = 1000
CREATORS = 16


class ManySteps(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> int:
        total = 0
        for i in range(event["payload"]["steps"]):

            @step.do(f"step {i}")
            async def work() -> int:
                return i  # noqa: B023 - awaited in this iteration

            total += await work()
        return total


class ThreeSteps(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> dict[str, int]:
        @step.do("first")
        async def first() -> dict[str, int]:
            return {"n": 1}

        @step.do("second")
        async def second() -> dict[str, int]:
            return {"n": 2}

        @step.do("third")
        async def third() -> dict[str, int]:
            return {"n": 3}

        a = await first()
        b = await second()
        c = await third()
        return {"sum": a["n"] + b["n"] + c["n"]}


async def _open(state: Path) -> tuple[Engine, Store]:
    store = await Store.open(state)
    specs = [
        WorkflowSpec(
            name=n,
            binding=n.upper().replace("-", "_"),
            class_name=c.__name__,
            script_name="bench",
            cls=c,
            max_steps=10_000,
        )
        for n, c in (("many-steps", ManySteps), ("three-steps", ThreeSteps))
    ]
    engine = Engine(store, specs, EngineOptions(max_concurrency=10_000))
    engine.env = JsDict({s.binding: WorkflowBinding(engine, s.name) for s in specs})
    await engine.start()
    return engine, store


async def _until_complete(engine: Engine, workflow: str, total: int, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while (await engine.status_counts(workflow))["complete"] < total:
            await asyncio.sleep(0.005)


async def _one_instance(state: Path, steps: int) -> float:
    engine, store = await _open(state)
    try:
        started = time.perf_counter()
        instance = await engine.create("many-steps", params={"steps": steps})
        status = await engine.wait_for("many-steps", instance, timeout=120)
        elapsed = time.perf_counter() - started
        if status["status"] != "complete":
            raise RuntimeError(f"the instance ended {status}")
        return steps / elapsed
    finally:
        await engine.close()
        await store.close()


async def _concurrent(state: Path) -> float:
    engine, store = await _open(state)
    try:
        started = time.perf_counter()
        await asyncio.gather(
            *(engine.create("many-steps", params={"steps": CONCURRENT_STEPS}) for _ in range(CONCURRENT_INSTANCES))
        )
        await _until_complete(engine, "many-steps", CONCURRENT_INSTANCES, 120)
        return CONCURRENT_INSTANCES * CONCURRENT_STEPS / (time.perf_counter() - started)
    finally:
        await engine.close()
        await store.close()


async def _three_step(state: Path, count: int) -> float:
    engine, store = await _open(state)
    try:
        remaining = [count]

        async def creator() -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                await engine.create("three-steps")

        started = time.perf_counter()
        await asyncio.gather(*(creator() for _ in range(CREATORS)))
        await _until_complete(engine, "three-steps", count, 120)
        return count / (time.perf_counter() - started)
    finally:
        await engine.close()
        await store.close()


async def _floor(state: Path, steps: int) -> float:
    import aiosqlite

    state.mkdir(parents=True)
    async with aiosqlite.connect(state / "floor.sqlite") as conn:
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("CREATE TABLE steps (pk INTEGER PRIMARY KEY, instance INTEGER, name TEXT, output TEXT)")
        await conn.commit()
        started = time.perf_counter()
        for i in range(steps):
            await conn.execute("INSERT INTO steps (instance, name, output) VALUES (?, ?, ?)", (1, f"step {i}", str(i)))
            await conn.commit()
        return steps / (time.perf_counter() - started)


def _runs(runs: int, make: Any) -> list[float]:
    values = []
    for _ in range(runs):
        tmp = Path(tempfile.mkdtemp(prefix="pyflows-bench-engine-"))
        try:
            values.append(asyncio.run(make(tmp / "state")))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return values


def engine(runs: int, sink: list[Result], *, steps: int = 2000) -> None:
    emit(result("engine_steps_one_instance", _runs(runs, lambda s: _one_instance(s, steps)), steps=steps), sink)
    emit(
        result(
            "engine_steps_concurrent",
            _runs(runs, _concurrent),
            instances=CONCURRENT_INSTANCES,
            steps_each=CONCURRENT_STEPS,
        ),
        sink,
    )
    emit(
        result(
            "engine_three_step",
            _runs(runs, lambda s: _three_step(s, THREE_STEP_INSTANCES)),
            instances=THREE_STEP_INSTANCES,
        ),
        sink,
    )
    emit(result("floor_aiosqlite_commit", _runs(runs, lambda s: _floor(s, steps)), steps=steps), sink)
