"""Introspection handles: Cloudflare's `introspectWorkflowInstance` / `introspectWorkflow`, in Python.

    async with introspect_workflow_instance(env.MY_WORKFLOW, "id-1") as instance:
        await instance.modify(lambda m: m.mock_step_result({"name": "charge"}, {"ok": True}))
        await env.MY_WORKFLOW.create(id="id-1")
        await instance.wait_for_status("complete")

    async with introspect_workflow(env.MY_WORKFLOW) as workflow:   # every instance created afterwards
        await workflow.modify_all(lambda m: m.disable_sleeps())
        await project.fetch("/start")
        (instance,) = await workflow.get()

Surface and error texts follow Cloudflare's `cloudflare:test` (@cloudflare/vitest-plugin 1.x,
workflows-shared `introspection.ts` / `engine.ts`); what is better here: many waiters on one status
or step, `wait_for_status("waiting")`, waiters with a timeout that says what the instance is doing,
`steps` (the step log), and `replay()` (a determinism check). Captures by `introspect_workflow`
include instances created through `fetch`, `create_batch` and the management API, because the
engine itself reports every creation.
"""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyflows.runtime.errors import InstanceNotFoundError, PyflowsError
from pyflows.runtime.protocol.durations import iso
from pyflows.runtime.protocol.statuses import FINISHED, STATUSES
from pyflows.runtime.surface.values import loads, python_from_rpc
from pyflows.runtime.workflows import queries
from pyflows.runtime.workflows.step_errors import StepFailedError
from pyflows.testing.modifiers import (
    InstanceMods,
    IntrospectionError,
    Modifier,
    Recorder,
    check_called,
    shown,
    step_key,
)

if TYPE_CHECKING:
    from pyflows.runtime.workflows.engine import Engine

DEFAULT_TIMEOUT_S = 5.0  # real seconds a waiter waits before failing the test


def timeout_s(timeout: Any, what: str) -> float:
    """`timeout` (real seconds; None: DEFAULT_TIMEOUT_S) checked: a number, not NaN (which never
    elapses). IntrospectionError otherwise."""
    if timeout is None:
        return DEFAULT_TIMEOUT_S
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout >= 0:  # NaN too
        raise IntrospectionError(
            f"{what}: timeout must be a number of real seconds, 0 or more (or None for {DEFAULT_TIMEOUT_S:g} s), "
            f"got {timeout!r}."
        )
    return float(timeout)


_KINDS = {"do": "step.do", "sleep": "step.sleep", "waitForEvent": "step.wait_for_event"}


def _reached(steps: list[Any]) -> str:
    """The steps an instance reached, in order: `step.do {'name': 'x', 'index': 1}, …` or "none"."""
    return ", ".join(f"{_KINDS[r['kind']]} {shown((r['name'], r['count']))}" for r in steps) or "none"


def _unused_events(steps: list[Any], events: list[Any], status: str) -> str:
    """A sentence (with a leading space) naming the types of the events sent to the instance, or
    mocked, that no step.wait_for_event took; "" if there are none. Next to a wait that timed out,
    one of these is usually a mistyped event type."""
    types = [e["type"] for e in events if e["consumed_by"] is None]
    if status not in FINISHED:
        # Still running: an event may yet be taken by a wait not reached. Name only those next to a
        # wait for another type, which they cannot satisfy.
        waiting = {r["event_type"] for r in steps if r["kind"] == "waitForEvent" and r["state"] == "waiting"}
        types = [t for t in types if waiting and t not in waiting]
    if not types:
        return ""
    listed = ", ".join(f"type {t!r}" for t in dict.fromkeys(types))
    return (
        f" Events sent to it (or mocked) that no step.wait_for_event took: {listed}; "
        "an event is taken only by a wait for exactly its type."
    )


class WaitError(PyflowsError, AssertionError):
    """A waiter that cannot succeed: the instance reached another final status, or never reaches the step."""


class WaitTimeoutError(WaitError, TimeoutError):
    """A waiter ran out of time; the message says what the instance is doing instead."""


def _settle(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class TestHooks:
    """The engine's `EngineHooks` under pyflows.testing: modifiers, sessions and change notifications."""

    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.mods: dict[tuple[str, str], InstanceMods] = {}
        self.handles: dict[tuple[str, str], WorkflowInstanceIntrospector] = {}
        self.sessions: dict[str, WorkflowIntrospector] = {}
        self._listeners: dict[tuple[str, str], list[asyncio.Future[None]]] = {}
        self._status_listeners: dict[tuple[str, str], list[asyncio.Future[None]]] = {}

    # -- EngineHooks -------------------------------------------------------------------------------

    def for_instance(self, workflow: str, instance_id: str) -> InstanceMods | None:
        return self.mods.get((workflow, instance_id))

    async def instance_created(self, workflow: str, instance_id: str) -> None:
        session = self.sessions.get(workflow)
        if session is not None and (workflow, instance_id) not in self.handles:
            session._capture(instance_id)
        await self.deliver_events(workflow, instance_id)
        self.changed(workflow, instance_id)  # waiters started before create() look again now

    def changed(self, workflow: str, instance_id: str, *, step: bool = False) -> None:
        for fut in self._listeners.pop((workflow, instance_id), ()):
            _settle(fut)
        if not step:
            for fut in self._status_listeners.pop((workflow, instance_id), ()):
                _settle(fut)

    # -- for the handles ----------------------------------------------------------------------------

    def listen(self, workflow: str, instance_id: str, *, status_only: bool = False) -> asyncio.Future[None]:
        """A future settled at the instance's next change (`status_only`: its next status change)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        listeners = self._status_listeners if status_only else self._listeners
        listeners.setdefault((workflow, instance_id), []).append(fut)
        return fut

    async def deliver_events(self, workflow: str, instance_id: str) -> None:
        mods = self.mods.get((workflow, instance_id))
        if not mods or not mods.events or self.engine is None:
            return
        if (workflow, instance_id) not in self.engine._live:  # noqa: SLF001 - not created yet: at create()
            try:
                await self.engine.status(workflow, instance_id)
            except InstanceNotFoundError:
                return
        events, mods.events = mods.events, []
        for event_type, payload in events:
            try:
                await self.engine.send_event(workflow, instance_id, event_type, payload)
            except PyflowsError as exc:  # a finished instance takes no event
                raise IntrospectionError(f"mock_event: {exc}") from None


def _target(binding: Any, what: str) -> tuple[Engine, TestHooks, str]:
    """The engine, hooks and workflow name behind `env.MY_WORKFLOW`; IntrospectionError otherwise."""
    from pyflows.runtime.workflows.binding import WorkflowBinding

    if isinstance(binding, str):
        raise IntrospectionError(
            f"{what}() takes a Workflow binding such as project.env.MY_WORKFLOW, not the string {binding!r}: pass "
            "the binding itself (env.<binding name from the wrangler config's workflows[]>). The fixture's "
            f"methods take names: pyflows_project.{what}({binding!r}, ...)."
        )
    if not isinstance(binding, WorkflowBinding):
        raise IntrospectionError(
            f"{what}() takes a Workflow binding such as project.env.MY_WORKFLOW (a `workflows[].binding` of the "
            f"wrangler config), got {binding!r}."
        )
    engine = binding._engine  # noqa: SLF001
    hooks = engine.hooks
    if not isinstance(hooks, TestHooks):
        raise IntrospectionError(
            f"{what}(): {binding!r} belongs to an engine that was not started by pyflows.testing (for example a "
            "`pyflows dev` server). Use the `pyflows_project` fixture, or `pyflows.testing.open_project()`."
        )
    return engine, hooks, binding._workflow  # noqa: SLF001


def introspect_workflow_instance(binding: Any, instance_id: str) -> WorkflowInstanceIntrospector:
    """A handle on instance `instance_id` of `binding`'s workflow; call it before `create`.

    Use as `async with ... as instance:` (disposed on exit: an instance still running is terminated,
    its modifiers dropped). Cloudflare: `introspectWorkflowInstance(env.MY_WORKFLOW, id)`.
    """
    engine, hooks, workflow = _target(binding, "introspect_workflow_instance")
    from pyflows.runtime.protocol.limits import check_instance_id

    if not isinstance(instance_id, str):
        raise IntrospectionError(
            f"introspect_workflow_instance() needs the instance id as a string, got {instance_id!r}."
        )
    try:
        check_instance_id(instance_id)
    except PyflowsError as exc:
        raise IntrospectionError(f"introspect_workflow_instance(): {exc}") from None
    if (workflow, instance_id) in hooks.handles:
        raise IntrospectionError(
            f"Instance {instance_id!r} of workflow {workflow!r} is already being introspected in this test, by an "
            "earlier introspect_workflow_instance() or captured by introspect_workflow() (that handle is in `await "
            "workflow.get()`); use that handle, or dispose it first."
        )
    return WorkflowInstanceIntrospector(engine, hooks, workflow, instance_id)


def introspect_workflow(binding: Any) -> WorkflowIntrospector:
    """A session that captures every instance of `binding`'s workflow created afterwards.

    Use as `async with ... as workflow:`; `await workflow.modify_all(fn)` applies to each new
    instance before its first step, `await workflow.get()` lists the captured instances. One session
    per workflow at a time. Cloudflare: `introspectWorkflow(env.MY_WORKFLOW)`.
    """
    engine, hooks, workflow = _target(binding, "introspect_workflow")
    if workflow in hooks.sessions:
        raise IntrospectionError(
            f'Workflow "{workflow}" already has an active introspection session for binding '
            f'"{engine.specs[workflow].binding}". Dispose it (leave its `async with`) before starting another.'
        )
    session = WorkflowIntrospector(engine, hooks, workflow)
    hooks.sessions[workflow] = session
    return session


@dataclass(frozen=True)
class StepEntry:
    """One step of an instance, for assertions: `instance.steps`."""

    name: str
    index: int  # 1-based count of this name within its kind, as in the selector
    type: str  # "do" | "sleep" | "waitForEvent"
    status: str  # "complete" | "errored" | "running" | "retrying" | "waiting"
    attempts: int  # do steps: attempts recorded so far (a running one included)
    output: Any = None
    error: dict[str, str] | None = None
    mocked: bool = False  # a modifier answered it (mocked result, error or timeout)

    def __str__(self) -> str:
        shows_output = self.status == "complete" and self.type != "sleep"
        detail = f"error={self.error}" if self.error else (f"output={self.output!r}" if shows_output else "")
        tries = f"attempts={self.attempts}" if self.type == "do" else ""
        mock = "(mocked)" if self.mocked else ""
        label = f"{self.name!r} #{self.index}"
        return " ".join(p for p in (f"{self.type:<12} {label:<24} {self.status:<9}", tries, mock, detail) if p)


class StepLog(list[StepEntry]):
    """The steps an instance reached, in the order it reached them; prints as a table."""

    def __str__(self) -> str:
        return "\n".join(f"{n:>3}. {s}" for n, s in enumerate(self, 1)) or "(no steps)"

    def names(self) -> list[str]:
        return [s.name for s in self]


class _AsyncOnly:
    """`with` on an async handle: an error saying what a plain `def` test uses instead."""

    _fixture_method = ""

    def __enter__(self) -> None:
        raise IntrospectionError(
            f"{type(self).__name__} is an async context manager: use `async with` in an async test. "
            "In a plain `def` test, use the fixture's blocking handle: "
            f"`with pyflows_project.{self._fixture_method}(...) as h:`."
        )

    def __exit__(self, *exc: object) -> None:  # never reached: __enter__ raises
        pass


class WorkflowInstanceIntrospector(_AsyncOnly):
    """A handle on one instance: `modify`, waiters, `get_output`/`get_error`, `steps`, `replay`, `dispose`."""

    def __init__(self, engine: Engine, hooks: TestHooks, workflow: str, instance_id: str) -> None:
        self.engine, self._hooks, self.workflow, self.id = engine, hooks, workflow, instance_id
        self._mods = hooks.mods.setdefault((workflow, instance_id), InstanceMods())
        hooks.handles[(workflow, instance_id)] = self
        self._disposed = False

    def __repr__(self) -> str:
        return f"<WorkflowInstanceIntrospector {self.workflow}/{self.id}>"

    _fixture_method = "introspect_workflow_instance"

    async def __aenter__(self) -> WorkflowInstanceIntrospector:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.dispose()

    def _check_active(self, what: str) -> None:
        if self._disposed:
            raise IntrospectionError(
                f"{what}: instance {self.id!r} does not have an active introspection session (it was disposed)."
            )

    # -- modifiers -----------------------------------------------------------------------------------

    async def modify(self, fn: Callable[[Modifier], Any]) -> WorkflowInstanceIntrospector:
        """Call `fn(m)` (plain or async) with this instance's modifier; returns self (chainable)."""
        self._check_active("modify")
        result = fn(Modifier(self._mods))
        if inspect.isawaitable(result):
            await result
        check_called(result, "modify")
        await self._hooks.deliver_events(self.workflow, self.id)
        return self

    # -- waiters -------------------------------------------------------------------------------------

    async def _until(
        self,
        check: Callable[[], Any],
        timeout: float | None,
        waiting_for: str,
        *,
        method: str,
        status_only: bool = False,
    ) -> Any:
        """Re-run `check()` (returns (done, value)) after every change of the instance (`status_only`:
        every status change), until done or timeout."""
        limit = timeout_s(timeout, method)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while True:
            changed = self._hooks.listen(self.workflow, self.id, status_only=status_only)
            done, value = await check()
            if done:
                changed.cancel()
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                changed.cancel()
                doing = await self.describe_activity()
                raise WaitTimeoutError(f"Timed out after {limit:g} s waiting for {waiting_for}. {doing}")
            # Look again on the next change, or after a quarter second at the latest (the clock moves).
            timer = loop.call_later(min(remaining, 0.25), _settle, changed)
            try:
                await changed
            finally:
                timer.cancel()

    async def _status(self) -> dict[str, Any] | None:
        inst = self.engine._live.get((self.workflow, self.id))  # noqa: SLF001
        if inst is not None:  # not finished: no output or error yet, and no read needed
            return {"status": inst.status, "error": None, "output": None}
        try:
            return dict(await self.engine.status(self.workflow, self.id))
        except InstanceNotFoundError:
            return None

    async def wait_for_status(self, status: str, *, timeout: float | None = None) -> None:
        """Wait until the instance has `status`; WaitError if it reaches a different final status first.

        Cloudflare's `waitForStatus`: "queued" returns at once; any number of waiters may wait on the
        same status, and "waiting" (sleeping, waiting for an event or a retry) works.
        """
        self._check_active("wait_for_status")
        if status not in STATUSES:
            raise IntrospectionError(f"wait_for_status: unknown status {status!r}; use one of {', '.join(STATUSES)}.")
        if status == "queued":
            return

        async def check() -> tuple[bool, None]:
            current = await self._status()
            if current is None:
                return False, None
            if current["status"] == status:
                return True, None
            if current["status"] in FINISHED:
                error = current["error"]
                why = f" Its error: {error['name']}: {error['message']}" if error else ""
                unused = _unused_events(*await self._records(), current["status"])
                if unused:
                    why = why.rstrip(".") + "." + unused if why else unused
                raise WaitError(
                    f"[pyflows.testing] The Workflow instance {self.id} has reached status '{current['status']}'. "
                    "This is a finite status that prevents it from ever reaching the expected status of "
                    f"'{status}'.{why}"
                )
            return False, None

        await self._until(
            check,
            timeout,
            f"instance {self.id!r} to reach status {status!r}",
            method="wait_for_status",
            status_only=True,
        )

    async def wait_for_step_result(self, step: dict[str, Any], *, timeout: float | None = None) -> Any:
        """The result of the `step.do` selected by `{"name", "index"?}`, once it completes.

        Raises `StepFailedError` (`.name`, `.message`) if the step failed for good, and WaitError
        naming the steps the instance did reach if it ends without reaching this one.
        """
        self._check_active("wait_for_step_result")
        name, index = step_key(step, "wait_for_step_result")

        async def check() -> tuple[bool, Any]:
            current = await self._status()
            if current is None:
                return False, None
            rows, events = await self._records()
            for row in rows:
                if (row["kind"], row["name"], row["count"]) == ("do", name, index):
                    if row["state"] == "complete":
                        return True, python_from_rpc(loads(row["output"]))
                    if row["state"] == "errored":
                        info = loads(row["error"]) or {}
                        raise StepFailedError(info.get("name", "Error"), info.get("message", ""))
            if current["status"] in FINISHED:
                # Counts are per kind: a sleep or wait_for_event may have this name and index too.
                other = next((r["kind"] for r in rows if (r["name"], r["count"]) == (name, index)), None)
                if other is not None:
                    raise IntrospectionError(
                        f"wait_for_step_result: instance {self.id!r} ended ('{current['status']}') without a step.do "
                        f"{shown((name, index))}; the step of that name is a {_KINDS[other]}, which has no result. "
                        "wait_for_step_result waits for a step.do's; use wait_for_status, or read instance.steps."
                    )
                raise WaitError(
                    f"Instance {self.id!r} ended with status '{current['status']}' without reaching step "
                    f"{shown((name, index))}. Steps it reached: {_reached(rows)}."
                    + _unused_events(rows, events, current["status"])
                )
            return False, None

        return await self._until(
            check,
            timeout,
            f"step {shown((name, index))} of instance {self.id!r} to finish",
            method="wait_for_step_result",
        )

    async def _final(self, what: str, want: str, timeout: float | None) -> dict[str, Any]:
        self._check_active(what)

        async def check() -> tuple[bool, Any]:
            current = await self._status()
            return (current is not None and current["status"] in FINISHED), current

        current = await self._until(
            check, timeout, f"instance {self.id!r} to finish (for {what})", method=what, status_only=True
        )
        if current["status"] != want:
            noun = "output" if want == "complete" else "error"
            raise WaitError(
                f'Cannot retrieve {noun}: Workflow instance is in status "{current["status"]}" but must be "{want}" '
                f"to retrieve its {noun}. {await self.describe_activity()}"
            )
        final: dict[str, Any] = current
        return final

    async def get_output(self, *, timeout: float | None = None) -> Any:
        """The instance's output once it is `complete` (waits up to `timeout` for it to finish)."""
        current = await self._final("get_output", "complete", timeout)
        return python_from_rpc(current["output"])

    async def get_error(self, *, timeout: float | None = None) -> dict[str, str]:
        """`{"name", "message"}` once the instance is `errored` (waits up to `timeout` for it to finish)."""
        current = await self._final("get_error", "errored", timeout)
        return dict(current["error"])

    # -- what happened ----------------------------------------------------------------------------

    async def _records(self) -> tuple[list[Any], list[Any]]:
        """The instance's steps (by position) and events (by arrival); empty before it exists."""
        row = await self.engine.store.read(lambda c: queries.q_instance(c, self.workflow, self.id))
        if row is None:
            return [], []
        steps, _attempts, events = await self.engine.store.read(lambda c: queries.q_history(c, row["pk"]))
        return list(steps), list(events)

    async def describe_activity(self) -> str:
        """One paragraph: the status and what the instance is doing (used in waiter failures)."""
        current = await self._status()
        if current is None:
            return f"Instance {self.id!r} was never created (call create() with id={self.id!r})."
        parts = [f"Instance {self.id!r} is {current['status']}"]
        inst = self.engine._live.get((self.workflow, self.id))  # noqa: SLF001
        live = inst.run.live if inst is not None and inst.run is not None else {}
        for (_, name, count), attempt in sorted(live.items(), key=lambda kv: kv[1].position):
            parts.append(f"running {_KINDS['do']} {shown((name, count))} since {iso(attempt.attempt_started)}")
        clock = self.engine.clock
        rows, events = await self._records()
        finished = current["status"] in FINISHED  # its waiting rows are left as they were: not what it does
        for row in [] if finished else rows:
            sel = shown((row["name"], row["count"]))
            state, wake = row["state"], row["wake_at_epoch_ms"]
            if row["kind"] == "sleep" and state == "waiting":
                parts.append(f"sleeping in step.sleep {sel} until {iso(wake)} (the clock says {iso(clock.now_ms())})")
            elif row["kind"] == "waitForEvent" and state == "waiting":
                parts.append(
                    f"waiting for an event of type {row['event_type']!r} in step.wait_for_event {sel} until {iso(wake)}"
                )
            elif row["kind"] == "do" and state == "retrying":
                err = loads(row["error"]) or {}
                parts.append(
                    f"step.do {sel} failed ({err.get('name')}: {err.get('message')}) and retries at {iso(wake)}"
                )
        if current["error"]:
            parts.append(f"error {current['error']['name']}: {current['error']['message']}")
        if getattr(clock, "frozen", False) and not finished:
            parts.append("the test clock is frozen: move it with advance()")
        said = "; ".join(parts).rstrip(".")  # an error message may end with its own period
        return said + f". Steps reached: {_reached(rows)}." + _unused_events(rows, events, current["status"])

    @property
    def steps(self) -> StepLog:
        """The step log, read now: every step reached so far, in order, with status, output and error."""

        def read(conn: sqlite3.Connection) -> tuple[list[Any], list[Any]] | None:
            row = queries.q_instance(conn, self.workflow, self.id)
            if row is None:
                return None
            steps, attempts, _events = queries.q_history(conn, row["pk"])
            return steps, attempts

        found = self.engine.store.read_now(read)
        if found is None:
            return StepLog()
        steps, attempts = found
        tries: dict[int, int] = {}
        for a in attempts:
            tries[a["step_pk"]] = max(tries.get(a["step_pk"], 0), a["attempt"])
        inst = self.engine._live.get((self.workflow, self.id))  # noqa: SLF001
        live = inst.run.live if inst is not None and inst.run is not None else {}
        entries: list[tuple[int, StepEntry]] = []
        seen = set()
        for s in steps:
            key = (s["kind"], s["name"], s["count"])
            seen.add(key)
            running = key in live
            status = "running" if running else s["state"]
            entries.append(
                (
                    s["position"],
                    StepEntry(
                        name=s["name"],
                        index=s["count"],
                        type=s["kind"],
                        status=status,
                        attempts=tries.get(s["pk"], 0) + (1 if running else 0),
                        output=python_from_rpc(loads(s["output"])) if s["state"] == "complete" else None,
                        error=loads(s["error"]) if s["state"] in ("errored", "retrying") else None,
                        mocked=s["kind"] == "do" and (s["name"], s["count"]) in self._mods.applied,
                    ),
                )
            )
        for key, attempt in live.items():
            if key not in seen:
                entry = StepEntry(name=key[1], index=key[2], type="do", status="running", attempts=1)
                entries.append((attempt.position, entry))
        entries.sort(key=lambda e: e[0])
        return StepLog(e for _, e in entries)

    async def replay(self) -> None:
        """Re-run `run()` against the recorded history without executing steps; NonDeterminismError on a
        divergence (a different step at a recorded position, a recorded step never called, or a
        different output). Steps beyond the recorded history are not run."""
        from pyflows.testing.replay import replay_instance

        self._check_active("replay")
        await replay_instance(self.engine, self.workflow, self.id)

    # -- end -------------------------------------------------------------------------------------------

    async def dispose(self) -> None:
        """Drop this instance's modifiers; terminate it if it is still running (Cloudflare aborts it)."""
        if self._disposed:
            return
        self._disposed = True
        key = (self.workflow, self.id)
        if self._hooks.handles.get(key) is self:
            del self._hooks.handles[key]
            self._hooks.mods.pop(key, None)
        current = await self._status()
        if current is not None and current["status"] not in FINISHED and not self.engine._closing:  # noqa: SLF001
            try:
                await self.engine.terminate(self.workflow, self.id)
            except PyflowsError:
                pass


class WorkflowIntrospector(_AsyncOnly):
    """A session over one workflow: `modify_all`, `get`, `dispose`."""

    def __init__(self, engine: Engine, hooks: TestHooks, workflow: str) -> None:
        self.engine, self._hooks, self.workflow = engine, hooks, workflow
        self._recorder = Recorder()
        self._captured: list[WorkflowInstanceIntrospector] = []
        self._disposed = False

    def __repr__(self) -> str:
        return f"<WorkflowIntrospector {self.workflow} ({len(self._captured)} captured)>"

    _fixture_method = "introspect_workflow"

    async def __aenter__(self) -> WorkflowIntrospector:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.dispose()

    def _check_active(self, what: str) -> None:
        if self._disposed:
            raise IntrospectionError(
                f'{what}: workflow "{self.workflow}" does not have an active introspection session (it was disposed).'
            )

    def _capture(self, instance_id: str) -> None:
        handle = WorkflowInstanceIntrospector(self.engine, self._hooks, self.workflow, instance_id)
        self._recorder.apply(handle._mods)  # noqa: SLF001
        self._captured.append(handle)

    async def modify_all(self, fn: Callable[[Any], Any]) -> WorkflowIntrospector:
        """Record `fn(m)`'s modifier calls (checked now) and apply them to every instance created afterwards."""
        self._check_active("modify_all")
        result = fn(self._recorder)
        if inspect.isawaitable(result):
            await result
        check_called(result, "modify_all")
        return self

    async def get(self) -> list[WorkflowInstanceIntrospector]:
        """The instances captured so far, in creation order."""
        self._check_active("get")
        return list(self._captured)

    async def dispose(self) -> None:
        """End the session and dispose every captured instance."""
        if self._disposed:
            return
        self._disposed = True
        if self._hooks.sessions.get(self.workflow) is self:
            del self._hooks.sessions[self.workflow]
        for handle in self._captured:
            await handle.dispose()
