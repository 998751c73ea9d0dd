"""`instance.replay()`: re-run `run()` against the recorded history and fail on a divergence.

Durable execution replays `run` from the top after every restart; code that calls steps in a
different order on a replay (random names, time-dependent branches outside steps) breaks
instances in production. This check runs `run` once more with a step object that only answers
from the history: no step function is called and nothing is written. It fails with
`NonDeterminismError` when

* a step is called that is not in the history where the history has another step still to replay
  (the engine's own check, `Run._check_determinism`, by lineage),
* `run` returns while recorded steps were never called, or
* the instance is complete and `run` now returns a different output.

A step beyond the recorded history (an instance still running) ends the check there: so far, so good.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import TYPE_CHECKING, Any

from pyflows.runtime.surface.entrypoints import ExecutionContext, call_relaxed
from pyflows.runtime.surface.values import JsDict, encode, loads, python_from_rpc, utc_naive
from pyflows.runtime.workflows.run import Run, called_in_a_step
from pyflows.runtime.workflows.step import Step
from pyflows.runtime.workflows.step_errors import NonDeterminismError

if TYPE_CHECKING:
    from pyflows.runtime.workflows.engine import Engine


class _Frontier(BaseException):
    """The replay reached the end of the recorded history (not an error; user code cannot catch it)."""


class _ReplayRun(Run):
    """A Run that only replays: it never executes a step, waits, or writes."""

    async def do(self, name: str, config: Any, callback: Any, is_async: bool, lineage: str | None = None) -> Any:
        key = self._key("do", name)
        rec = self._replay(key)  # raises the stored final error
        if rec is None:
            self._frontier(key, lineage)
        assert rec is not None
        if rec.state != "complete":
            raise _Frontier
        return python_from_rpc(loads(rec.output))

    def sleep(self, name: str, duration: Any) -> Any:
        return asyncio.ensure_future(self._replay_wait(self._key("sleep", name), self.lineage()))

    def sleep_until(self, name: str, when: Any) -> Any:
        return asyncio.ensure_future(self._replay_wait(self._key("sleep", name), self.lineage()))

    async def _replay_wait(self, key: tuple[str, str, int], lineage: str | None) -> None:
        rec = self._replay(key)
        if rec is None:
            self._frontier(key, lineage)
        assert rec is not None
        if rec.state != "complete":
            raise _Frontier

    async def wait_for_event(self, name: str, event_type: str, timeout: Any) -> Any:
        key = self._key("waitForEvent", name)
        lineage = self.lineage()
        rec = self._replay(key)
        if rec is None:
            self._frontier(key, lineage)
        assert rec is not None
        if rec.state != "complete":
            raise _Frontier
        return python_from_rpc(loads(rec.output))

    def _frontier(self, key: tuple[str, str, int], lineage: str | None) -> None:
        self._check_determinism(*key, lineage)  # NonDeterminismError if a recorded step belongs here
        raise _Frontier

    def _save(self, fn: Any) -> Any:  # pragma: no cover - nothing in a replay writes
        raise AssertionError("a replay must not write")


async def replay_instance(engine: Engine, workflow: str, instance_id: str) -> None:
    """See the module docstring."""
    row = await engine._row(workflow, instance_id)  # noqa: SLF001 - InstanceNotFoundError
    spec = engine.spec(workflow)
    from pyflows.runtime.workflows.engine import _Instance

    # A detached copy: the live instance (if any) and its run are not touched.
    inst = _Instance(row["pk"], spec, instance_id, row["params"], row["created_at_epoch_ms"], row["status"])
    run = _ReplayRun(engine, inst)
    run.engine = _NoHooks(engine)  # type: ignore[assignment]
    await run.load()
    assert spec.cls is not None
    workflow_obj = spec.cls(ExecutionContext(), engine.workflow_envs.get(workflow, engine.env))
    event = JsDict(
        payload=python_from_rpc(loads(row["params"])),
        timestamp=utc_naive(row["created_at_epoch_ms"]),
        instanceId=instance_id,
        workflowName=workflow,
    )
    step = Step(run, implicit=engine.options.implicit_dependencies)

    async def drive() -> Any:
        run.enter()  # its own task, the root of the lineages, as the engine's run task is
        result = call_relaxed(workflow_obj.run, event, step)
        return await result if inspect.isawaitable(result) else result

    returned = False
    output: Any = None
    try:
        output = await asyncio.ensure_future(drive())
        returned = True
    except _Frontier:
        return
    except NonDeterminismError:
        raise
    except Exception:  # noqa: S110 - the instance's own error (errored instance): compared by steps only
        pass
    if run.fatal is not None:
        raise run.fatal
    left = [run.records[k] for k in run.unreplayed if not called_in_a_step(run.records[k].lineage)]
    if left:
        left.sort(key=lambda r: r.position)
        names = ", ".join(f"{r.kind} '{r.name}-{r.count}'" for r in left)
        raise NonDeterminismError(
            f"Non-deterministic workflow: on replay, instance '{instance_id}' finished run() without calling "
            f"{names} that its history has. Steps must be called in the same order on every replay."
        )
    if returned and row["status"] == "complete":
        now = None if output is None else loads(encode(output, what="The workflow's return value"))
        then = loads(row["output"])
        if now != then:
            raise NonDeterminismError(
                f"Non-deterministic workflow: on replay, instance '{instance_id}' returned {now!r}, but its "
                f"recorded output is {then!r}. Compute values that change between runs inside a step."
            )


class _NoHooks:
    """The engine as the replay sees it: no test hooks (no mocks, no notifications)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.hooks = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)
