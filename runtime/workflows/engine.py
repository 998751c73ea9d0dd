"""The durable workflow engine: runs instances by replaying `run(event, step)`.

Contract used by the server (runtime/server/explorer/routes.py, runtime/workflows/binding.py) and by
tests/bench. Every method is a coroutine on the server's event loop; every error is a `WorkflowError`
subclass from runtime/errors.py with structured attributes (no HTTP: the explorer API maps them);
results are the frozen records of runtime/workflows/records.py (epoch-ms times, decoded values).

    spec = WorkflowSpec(name="my-workflow", binding="MY_WORKFLOW", class_name="MyWorkflow",
                        script_name="my-worker", cls=MyWorkflow, max_steps=10_000)
    store = await Store.open(state_dir)                # runtime/storage/store.py; locks the dir
    engine = Engine(store, [spec], EngineOptions(max_concurrency=10_000, cpu_ms=30_000,
                                                 implicit_dependencies=True))
    engine.env = env                                   # self.env of workflow classes (bindings, vars)
    await engine.start()                               # applies its schema, then resumes in-flight instances
    ...
    await engine.close()                               # interrupts running steps; store stays open
    await store.close()

Methods (workflow = workflow *name*, id = instance id):
    engine.specs -> dict[str, WorkflowSpec]            # in config order
    engine.spec(workflow) -> WorkflowSpec              # WorkflowNotFoundError
    engine.workflows() -> list[WorkflowSummary]        # in config order
    await describe_workflow(workflow) -> WorkflowSummary           # with instance_counts
    await create(workflow, id=None, params=None) -> str            # InstanceExistsError, InvalidInstanceIdError,
                                                                    # PayloadTooLargeError, InvalidPayloadError
    await create_batch(workflow, [{"id"?, "params"?}, ...]) -> list[str]
        # the ids it created: existing ids and repeats within the batch left out (first wins);
        # the whole batch is validated first (nothing is created if one entry is bad);
        # BatchSizeError for 0 or more than 100 entries
    await status(workflow, id) -> InstanceStatus {"status", "error", "output"}   # InstanceNotFoundError
    await describe(workflow, id) -> InstanceDetails                 # steps in execution order
    await list_instances(workflow, status=None, date_start_ms=None, date_end_ms=None,
                         page=1, per_page=25) -> (list[InstanceRecord], total_count)
        newest first by creation time; date filters on creation time, inclusive.
    await status_counts(workflow) -> {"queued":0,"running":0,"paused":0,"errored":0,"terminated":0,
                                      "complete":0,"waiting":0,"waitingForPause":0}   (all instances)
    await latest(workflow) -> str | None                           # newest instance id
    await pause(workflow, id) -> str      # status after: "paused" or "waitingForPause"
    await resume(workflow, id) -> str     # "running" / "queued"
    await terminate(workflow, id) -> str  # "terminated"
    await restart(workflow, id, from_step=None) -> str   # from_step {"name", "count"?, "type"?: do|sleep|waitForEvent}
                                                         # StepNotFoundError (409) when not in history
    await send_event(workflow, id, type, payload) -> None   # InvalidInstanceIdError for a bad type
    await delete(workflow, id) -> None
    await delete_batch(workflow, [id, ...]) -> (deleted ids, not-found ids)   # 1..100 ids, all checked first
    await delete_all(workflow) -> int     # number of instances removed
    await wait_for(workflow, id, statuses={"complete","errored","terminated"}, timeout=10.0) -> status dict

Invalid transitions raise InvalidTransitionError naming the current status.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import logging
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyflows.runtime.errors import (
    BatchSizeError,
    InstanceExistsError,
    InstanceNotFoundError,
    InvalidPayloadError,
    InvalidRetentionError,
    InvalidTransitionError,
    PayloadTooLargeError,
    StepNotFoundError,
    WorkflowError,
    WorkflowNotFoundError,
)
from pyflows.runtime.protocol.durations import to_ms
from pyflows.runtime.protocol.limits import (
    DEFAULT_CPU_MS,
    DEFAULT_MAX_STEPS,
    MAX_BATCH,
    check_addressable_instance_id,
    check_event_type,
    check_instance_id,
)
from pyflows.runtime.protocol.statuses import COUNT_ORDER, FINISHED
from pyflows.runtime.storage.store import Store
from pyflows.runtime.surface.entrypoints import ExecutionContext, call_relaxed
from pyflows.runtime.surface.values import (
    JsDict,
    ValueTooLargeError,
    dumps,
    encode,
    loads,
    python_from_rpc,
    utc_naive,
)
from pyflows.runtime.workflows import queries
from pyflows.runtime.workflows.events import InstanceEvents
from pyflows.runtime.workflows.hooks import REAL_CLOCK, Clock, EngineHooks
from pyflows.runtime.workflows.records import (
    AttemptRecord,
    InstanceDetails,
    InstanceRecord,
    InstanceStatus,
    StepRecord,
    WorkflowSummary,
)
from pyflows.runtime.workflows.run import LiveAttempt, Run
from pyflows.runtime.workflows.scheduler import Scheduler, WakeTimers
from pyflows.runtime.workflows.step import Step
from pyflows.runtime.workflows.step_errors import error_info

log = logging.getLogger("pyflows.engine")
CLOSE_TIMEOUT_S = 5  # how long close() waits for cancelled runs to end


def _stuck(run: Run) -> str:
    """What a run that did not end when cancelled is doing, and the likely cause."""
    steps = ", ".join(f"step.do {a.name!r}" for a in sorted(run.live.values(), key=lambda a: a.position))
    inside = f" in {steps}" if steps else ""
    return (
        f"Instance {run.inst.id!r} of workflow {run.inst.spec.name!r} did not stop within {CLOSE_TIMEOUT_S} s of being "
        f"cancelled: its code{inside} catches asyncio.CancelledError (a bare `except:` or `except BaseException:`) "
        "and goes on, or takes longer to clean up. Re-raise it, or catch Exception instead."
    )


_IDLE_CHECK_S = 0.005


@dataclass(frozen=True)
class WorkflowSpec:
    """A workflow binding as the engine needs it (from wrangler config + the loaded class)."""

    name: str
    binding: str
    class_name: str
    script_name: str
    cls: type | None
    max_steps: int = DEFAULT_MAX_STEPS
    concurrency_limit: int | None = None  # `concurrency.limit`: at most this many of its instances running


@dataclass(frozen=True)
class EngineOptions:
    max_concurrency: int = 10_000
    cpu_ms: int = DEFAULT_CPU_MS
    implicit_dependencies: bool = True
    # A run whose only activity is waits ending further away than this is evicted from memory and
    # replayed when a timer fires or an event arrives (Cloudflare hibernates the same way).
    hibernate_after_ms: int = 2_000
    # How many wake-ups of hibernated instances are held in memory; the rest are paged from SQLite.
    wake_page: int = 1_000
    # How often finished instances whose `retention` ran out are looked for and removed.
    retention_sweep_ms: int = 1_000
    # pyflows.testing only (runtime/workflows/hooks.py): mocks and time control; None in `pyflows dev`.
    hooks: EngineHooks | None = None
    clock: Clock | None = None


@dataclass(eq=False)
class _Instance:
    pk: int
    spec: WorkflowSpec
    id: str
    params: str
    created: int
    status: str
    run: Run | None = None
    holds_slot: bool = False
    pause_requested: bool = False
    watchers: list[asyncio.Future[None]] = field(default_factory=list)
    # Created by this process and never started: it has no history to read but the events sent to it
    # meanwhile, which are kept here too (stored first, as every event).
    fresh: bool = False
    early_events: list[tuple[int, str, str, int]] = field(default_factory=list)


class Engine:
    """Runs workflow instances durably; see the module docstring for the contract."""

    def __init__(self, store: Store, specs: list[WorkflowSpec], options: EngineOptions | None = None):
        self.store = store
        self.specs: dict[str, WorkflowSpec] = {s.name: s for s in specs}
        self.options = options or EngineOptions()
        self.env: Any = None
        self.workflow_envs: dict[str, Any] = {}  # workflow name -> env of the Worker defining it (several -c)
        # (workflow, instance id) -> extra event keys, e.g. {"schedule": {...}} (runtime/triggers/schedules.py)
        self.event_extra: Callable[[str, str], dict[str, Any] | None] | None = None
        self._live: dict[tuple[str, str], _Instance] = {}
        self._closing = False
        self.stuck: list[str] = []  # after close(): what each run that did not end when cancelled does (_stuck)
        self._detached: list[Run] = []  # runs stopped (pause, terminate, ...) that went on: close() reports them
        self._sweeper: asyncio.Future[None] | None = None
        self.hooks = self.options.hooks
        self.clock = self.options.clock or REAL_CLOCK
        self.scheduler = Scheduler(
            self.options.max_concurrency,
            start=self._start_run,
            startable=self._startable,
            lane_of=lambda inst: inst.spec.name,
            limits={s.name: s.concurrency_limit for s in specs if s.concurrency_limit is not None},
        )
        # Hibernated instances live only in the database; these are their next wake-ups.
        self.timers = WakeTimers(self._wake_page, self._on_due, page=self.options.wake_page, clock=self.clock)
        self.events = InstanceEvents()  # Cloudflare's instance events, for subscribe() and the explorer

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover: resume instances that were queued, running or waiting when the process stopped.

        Only what must run soon is loaded (queued, running, due within `hibernate_after_ms`, holding
        an event); instances sleeping longer stay in the database and come back through the wake
        timers, so a start with 100,000 sleepers reads one page of wake times, not every row.
        """
        await self.store.migrate("workflows", queries.MIGRATIONS)
        empty, self.store.empty = self.store.empty, False  # a new test's store: nothing to recover or sweep
        due_by = self.clock.now_ms() + self.options.hibernate_after_ms
        rows = [] if empty else await self.store.read(lambda c: queries.q_recoverable(c, due_by))
        for row in rows:
            spec = self.specs.get(row["workflow"])
            if spec is None:  # workflow removed from the config: leave its instances alone
                continue
            inst = _Instance(row["pk"], spec, row["id"], row["params"], row["created_at_epoch_ms"], row["status"])
            self._live[(spec.name, inst.id)] = inst
            if inst.status == "waitingForPause":
                self._set_status(inst, "paused")
                self._forget(inst)
            elif inst.status == "queued":
                self.scheduler.add_new(inst)
            else:
                self.scheduler.add_returning(inst)
        await self.timers.load(empty=empty)
        if not empty:  # an empty store has nothing to remove until an instance with a retention is created
            self._start_sweeper(wait_first=False)

    def _start_sweeper(self, *, wait_first: bool) -> None:
        if self._sweeper is None and not self._closing:
            self._sweeper = asyncio.ensure_future(self._sweep_expired(wait_first=wait_first))

    async def _sweep_expired(self, wait_first: bool = False) -> None:
        """Remove finished instances whose retention has run out (now, then every retention_sweep_ms)."""
        if wait_first:
            await asyncio.sleep(self.options.retention_sweep_ms / 1000)
        while not self._closing:
            try:
                now = self.clock.now_ms()
                if await self.store.read(functools.partial(queries.q_any_expired, now_ms=now)):
                    removed = await self.store.write(functools.partial(queries.delete_expired_txn, now_ms=now))
                    log.info("Removed %d finished instance(s) past their retention.", removed)
            except Exception as exc:  # the store closing under us, or a disk error: try again later
                if self._closing:
                    return
                log.warning("Could not remove expired instances: %s", exc)
            await asyncio.sleep(self.options.retention_sweep_ms / 1000)

    async def close(self) -> None:
        """Stop every run without changing its stored status: the next start resumes them.

        Waits up to CLOSE_TIMEOUT_S for the cancelled runs to end. Those that go on (their code
        swallows asyncio.CancelledError, or cleans up for longer), and any run left going on by an
        earlier pause, terminate, restart or delete, are described in `stuck` (one message each,
        also logged) and abandoned."""
        self._closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        self.scheduler.close()
        self.timers.close()
        runs = [i.run for i in self._live.values() if i.run is not None]
        for run in runs:
            run.stop_reason = "shutdown"
            if run.task:
                run.task.cancel()
        tasks = [r.task for r in runs if r.task]
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT_S)
        runs += self._detached  # already given CLOSE_TIMEOUT_S when they were stopped: not waited for again
        self.stuck = [_stuck(run) for run in runs if run.task is not None and not run.task.done()]
        for line in self.stuck:
            log.warning("%s", line)

    def spec(self, workflow: str) -> WorkflowSpec:
        try:
            return self.specs[workflow]
        except KeyError:
            raise WorkflowNotFoundError(workflow, list(self.specs)) from None

    def workflows(self) -> list[WorkflowSummary]:
        """The configured workflows, in config order (without instance counts)."""
        return [_summary(s) for s in self.specs.values()]

    async def describe_workflow(self, workflow: str) -> WorkflowSummary:
        """One workflow with `instance_counts` for every status (WorkflowNotFoundError)."""
        return _summary(self.spec(workflow), await self.status_counts(workflow))

    # -- creating --------------------------------------------------------------------------------

    async def create(
        self,
        workflow: str,
        id: str | None = None,
        params: Any = None,
        retention: Any = None,
        *,
        scheduled: bool = False,
    ) -> str:
        """Create one instance. `retention` (`{successRetention, errorRetention}`, ms or "3 days", at most
        30 days, as Cloudflare's create): once finished, it is removed that long after it ended
        (complete: success; errored or terminated: error). `scheduled=True` is for the ids a cron
        schedule generates ("<cron>-<scheduledTime>"), which only Cloudflare itself may create."""
        self.spec(workflow)
        check = check_addressable_instance_id if scheduled else check_instance_id
        instance_id = str(uuid.uuid4()) if id is None else check(id)
        params_text = self._encode_payload(params if params is not None else {}, "Instance params")
        return await self._insert(workflow, instance_id, params_text, _retention(retention))

    async def create_batch(self, workflow: str, items: list[dict[str, Any]]) -> list[str]:
        """Create 1 to 100 instances; returns the ids it created, in batch order.

        As Cloudflare's createBatch: an id that already exists, or that repeats an earlier entry of
        the batch, is skipped and left out of the result (the first occurrence wins). Every entry is
        checked (id rules, params size) before anything is created, so one bad entry creates nothing.
        BatchSizeError for an empty batch or one over 100 entries.
        """
        self.spec(workflow)
        if not items:
            raise BatchSizeError("batchCreate should have at least 1 instance", size=0, limit=MAX_BATCH)
        if len(items) > MAX_BATCH:
            raise BatchSizeError(
                f"batchCreate only supports {MAX_BATCH} instances at a time", size=len(items), limit=MAX_BATCH
            )
        checked: list[tuple[str, str]] = []
        retentions: dict[str, str] = {}
        seen: set[str] = set()
        for item in items:
            item = item or {}
            raw_id = item.get("id")
            instance_id = str(uuid.uuid4()) if raw_id is None else check_instance_id(raw_id)
            params = item.get("params")
            params_text = self._encode_payload(params if params is not None else {}, "Instance params")
            retention = _retention(item.get("retention"))
            if instance_id not in seen:
                seen.add(instance_id)
                checked.append((instance_id, params_text))
                if retention is not None:
                    retentions[instance_id] = retention
        spec = self.spec(workflow)
        now = self.clock.now_ms()

        # One transaction for the batch (ids in use are skipped by the insert itself).
        def insert_txn(c: sqlite3.Connection) -> list[tuple[str, int]]:
            rows = queries.insert_instances_txn(c, workflow, checked, now)
            for instance_id, pk in rows:
                if instance_id in retentions:
                    queries.set_retention_txn(c, pk, retentions[instance_id])
            return rows

        created = await self.store.write(insert_txn)
        if retentions:
            self._start_sweeper(wait_first=True)
        params_of = dict(checked)
        failure: BaseException | None = None
        for instance_id, pk in created:
            inst = _Instance(pk, spec, instance_id, params_of[instance_id], now, "queued", fresh=True)
            self._live[(workflow, instance_id)] = inst
            self.events.created(workflow, instance_id)
            if self.hooks is not None:
                try:
                    await self.hooks.instance_created(workflow, instance_id)
                except BaseException as exc:  # raised after every instance is scheduled: none is left queued
                    failure = failure or exc
            self.scheduler.add_new(inst)
        if failure is not None:
            raise failure
        return [instance_id for instance_id, _ in created]

    async def _insert(self, workflow: str, instance_id: str, params_text: str, retention: str | None = None) -> str:
        spec = self.spec(workflow)
        now = self.clock.now_ms()

        def insert_txn(c: sqlite3.Connection) -> int:
            pk = queries.insert_instance_txn(c, workflow, instance_id, params_text, now)
            if retention is not None:
                queries.set_retention_txn(c, pk, retention)
            return pk

        try:
            pk = await self.store.write(insert_txn)
        except sqlite3.IntegrityError:
            raise InstanceExistsError(workflow, instance_id) from None
        if retention is not None:
            self._start_sweeper(wait_first=True)
        inst = _Instance(pk, spec, instance_id, params_text, now, "queued", fresh=True)
        self._live[(workflow, instance_id)] = inst
        self.events.created(workflow, instance_id)
        try:
            if self.hooks is not None:  # pyflows.testing applies modifiers before the first step runs
                await self.hooks.instance_created(workflow, instance_id)
        finally:
            self.scheduler.add_new(inst)  # created is created: a failing hook must not leave it queued
        return instance_id

    def _encode_payload(self, value: Any, what: str) -> str:
        try:
            return encode(value, what=what)
        except ValueTooLargeError as exc:
            raise PayloadTooLargeError(str(exc), what=what) from None
        except TypeError as exc:
            raise InvalidPayloadError(f"{what} cannot be stored: {exc}", what=what) from None

    def _startable(self, inst: _Instance, returning: bool) -> bool:
        """Is a queued entry still due? (It may have been paused, deleted or started since.)"""
        if self._live.get((inst.spec.name, inst.id)) is not inst or inst.run is not None:
            return False
        return inst.status in ("running", "waiting", "queued") if returning else inst.status == "queued"

    def _start_run(self, inst: _Instance) -> None:
        inst.status = "running"
        now = self.clock.now_ms()
        self.store.write_nowait(lambda c: queries.mark_running_txn(c, inst.pk, now)).add_done_callback(
            _log_write_failure
        )
        self.events.started(inst.spec.name, inst.id, inst.params)
        self._notify(inst)
        run = Run(self, inst)
        if inst.fresh:  # nothing stored yet but the row and the events sent so far: no history to read
            inst.fresh = False  # if this run is stopped before it starts, the next one reads storage
            run.fresh = True
            run.take_early_events(inst.early_events)
            inst.early_events = []
        inst.run = run
        run.task = asyncio.ensure_future(self._drive(run))

    async def _drive(self, run: Run) -> None:
        inst = run.inst
        try:
            if not run.fresh:
                await run.load()
            cls = inst.spec.cls
            if cls is None:
                raise RuntimeError(f"Workflow class {inst.spec.class_name!r} is not loaded.")
            workflow = cls(ExecutionContext(), self.workflow_envs.get(inst.spec.name, self.env))
            event = JsDict(
                payload=python_from_rpc(loads(inst.params)),
                timestamp=utc_naive(inst.created),
                instanceId=inst.id,
                workflowName=inst.spec.name,
            )
            extra = self.event_extra(inst.spec.name, inst.id) if self.event_extra is not None else None
            if extra:
                event.update(extra)
            step = Step(run, implicit=self.options.implicit_dependencies)
            run.enter()
            result = call_relaxed(workflow.run, event, step)
            if inspect.isawaitable(result):
                result = await result
            if run.fatal is not None:
                raise run.fatal
            output = None if result is None else encode(result, what="The workflow's return value")
            if run.stop_reason is None:
                await self._finish(inst, "complete", output=output)
        except asyncio.CancelledError:
            if run.stop_reason is None:
                raise
        except Exception as exc:
            if run.stop_reason is None:
                info = error_info(run.fatal or exc)
                log.error(
                    "Instance %r of %s errored: %s: %s",
                    inst.id,
                    inst.spec.name,
                    info["name"],
                    info["message"],
                    exc_info=not isinstance(exc, WorkflowError),
                )
                await self._finish(inst, "errored", error=dumps(info))
        finally:
            if inst.run is run:
                inst.run = None
            self.scheduler.release(inst)

    async def _finish(
        self, inst: _Instance, status: str, *, output: str | None = None, error: str | None = None
    ) -> None:
        end = self.clock.now_ms()

        def finish_txn(c: sqlite3.Connection) -> None:
            queries.update_instance_txn(
                c, inst.pk, status=status, output=output, error=error, ended_at_epoch_ms=end, wake_at_epoch_ms=None
            )
            queries.set_expiry_txn(c, inst.pk, status, end)  # with a retention: when it is removed

        await self.store.write(finish_txn)
        inst.status = status  # only now: readers combine the live status with the stored row
        self.events.finished(inst.spec.name, inst.id, status, output, error)
        self._forget(inst)
        self._notify(inst)

    def _forget(self, inst: _Instance) -> None:
        if self._live.get((inst.spec.name, inst.id)) is inst:
            del self._live[(inst.spec.name, inst.id)]

    def _set_status(self, inst: _Instance, status: str, **fields: Any) -> None:
        """Record a status change without waiting (writes stay ordered), and wake watchers."""
        inst.status = status
        fut = self.store.write_nowait(lambda c: queries.update_instance_txn(c, inst.pk, status=status, **fields))
        fut.add_done_callback(_log_write_failure)
        self._notify(inst)

    def _notify(self, inst: _Instance) -> None:
        if inst.status not in FINISHED:  # finished ones are emitted by _finish, with output/error
            self.events.status(inst.spec.name, inst.id, inst.status)
        watchers, inst.watchers = inst.watchers, []
        for fut in watchers:
            if not fut.done():
                fut.set_result(None)
        if self.hooks is not None:
            self.hooks.changed(inst.spec.name, inst.id)

    # -- hooks called by Run -----------------------------------------------------------------------

    def on_wait_started(self, run: Run) -> None:
        asyncio.get_running_loop().call_later(_IDLE_CHECK_S, self._idle_check, run)

    def _idle_check(self, run: Run) -> None:
        inst = run.inst
        if inst.run is not run or run.stop_reason or run.active_attempts or not run.waits or self._closing:
            return
        deadline = min(w.deadline for w in run.waits)
        if inst.status == "running":
            self._set_status(inst, "waiting", wake_at_epoch_ms=deadline)
            self.scheduler.release(inst)
        if inst.status == "waiting" and deadline - self.clock.now_ms() > self.options.hibernate_after_ms:
            self._stop(run, "hibernate")
            self._hibernate(inst, deadline)

    def _hibernate(self, inst: _Instance, wake_at: int) -> None:
        """Drop a waiting instance from memory: its row (status waiting, wake time) is all that is kept.

        Only once the row says so (the status write is queued, not yet committed), and only if nothing
        woke it meanwhile; until then reads are answered from memory as before.
        """
        self.timers.add(inst.pk, wake_at)

        def evict(_: object) -> None:
            if inst.run is None and inst.status == "waiting" and self._live.get((inst.spec.name, inst.id)) is inst:
                self._forget(inst)
                self._notify(inst)

        self.store.write_nowait(_committed).add_done_callback(evict)

    async def _wake_page(self, after: tuple[int, int] | None, limit: int) -> list[tuple[int, int]]:
        # Through the writer, so it sees every status write queued before it (hibernation writes
        # the wake time with write_nowait just before dropping the instance from memory).
        return await self.store.write(lambda c: queries.q_wake_page(c, after, limit))

    def _on_due(self, pks: list[int]) -> None:
        task = asyncio.ensure_future(self._wake_due(pks))
        task.add_done_callback(_log_wake_failure)

    async def _wake_due(self, pks: list[int]) -> None:
        """Timers fired for these instances: replay the ones whose row still says it is time."""
        rows = await self.store.write(lambda c: queries.q_instances_by_pk(c, pks))  # after queued writes
        now = self.clock.now_ms()
        for row in rows:
            if row["status"] != "waiting" or self._closing:
                continue
            if row["wake_at_epoch_ms"] is not None and row["wake_at_epoch_ms"] > now:
                self.timers.add(row["pk"], row["wake_at_epoch_ms"])  # it went back to sleep since
                continue
            inst = self._adopt(row)
            if inst is not None and inst.run is None:
                self.scheduler.add_returning(inst)

    def _adopt(self, row: Any) -> _Instance | None:
        """The in-memory instance for an unfinished row, created from the row if it is not loaded."""
        spec = self.specs.get(row["workflow"])
        if spec is None or row["status"] in FINISHED:
            return None
        inst = self._live.get((spec.name, row["id"]))
        if inst is None:
            inst = _Instance(row["pk"], spec, row["id"], row["params"], row["created_at_epoch_ms"], row["status"])
            self._live[(spec.name, inst.id)] = inst
        return inst

    async def on_wait_ended(self, run: Run) -> None:
        inst = run.inst
        if inst.status == "waiting" and not inst.holds_slot:
            await self.scheduler.acquire(inst)
            self._set_status(inst, "running", wake_at_epoch_ms=None)

    async def on_attempt_started(self, run: Run) -> None:
        await self.on_wait_ended(run)

    def on_attempt_ended(self, run: Run) -> None:
        inst = run.inst
        if inst.pause_requested and run.active_attempts == 0:
            inst.pause_requested = False
            self._stop(run, "pause")
            self._set_status(inst, "paused")
        elif run.waits and not run.active_attempts:
            asyncio.get_running_loop().call_later(_IDLE_CHECK_S, self._idle_check, run)

    def log_step_error(self, inst: _Instance, name: str, attempt: int, exc: BaseException) -> None:
        log.warning(
            "Step %r of instance %r (%s) failed on attempt %d: %s: %s",
            name,
            inst.id,
            inst.spec.name,
            attempt,
            type(exc).__name__,
            exc,
        )

    def _stop(self, run: Run, reason: str) -> asyncio.Task[Any] | None:
        run.stop_reason = reason
        if run.inst.run is run:
            run.inst.run = None
        task = run.task
        if task is not None and not task.done():
            task.cancel()
        run.inst.pause_requested = False
        self.scheduler.release(run.inst)
        return task

    async def _stop_and_wait(self, inst: _Instance, reason: str) -> None:
        if inst.run is None:
            return
        run = inst.run
        task = self._stop(run, reason)
        if task is not None and task is not asyncio.current_task():
            await asyncio.wait({task}, timeout=CLOSE_TIMEOUT_S)
            if not task.done():  # it goes on, detached from its instance: close() reports it
                self._detached.append(run)

    # -- operations on instances ---------------------------------------------------------------------

    async def _row(self, workflow: str, instance_id: str) -> Any:
        self.spec(workflow)
        row = await self.store.read(lambda c: queries.q_instance(c, workflow, instance_id))
        if row is None:
            raise InstanceNotFoundError(workflow, instance_id)
        return row

    async def _instance(self, workflow: str, instance_id: str) -> tuple[_Instance | None, str]:
        """The in-memory instance (loaded from its row if it is unfinished but not in memory) and its status."""
        self.spec(workflow)
        inst = self._live.get((workflow, instance_id))
        if inst is not None:
            return inst, inst.status
        row = await self._row(workflow, instance_id)
        inst = self._adopt(row)
        return inst, inst.status if inst is not None else row["status"]

    async def status(self, workflow: str, instance_id: str) -> InstanceStatus:
        """`{"status", "error", "output"}`; output as stored (an RPC tree: see runtime/surface/values.py)."""
        row = await self._row(workflow, instance_id)
        inst = self._live.get((workflow, instance_id))
        return {
            "status": inst.status if inst is not None else row["status"],
            "error": loads(row["error"]),
            "output": loads(row["output"]),
        }

    async def pause(self, workflow: str, instance_id: str) -> str:
        inst, status = await self._instance(workflow, instance_id)
        if inst is None or status in ("paused", "waitingForPause"):
            raise InvalidTransitionError(
                f"Cannot pause instance '{instance_id}': it is {status}. Only queued, running or waiting "
                "instances can be paused.",
                action="pause",
                instance_id=instance_id,
                status=status,
            )
        if inst.run is not None and inst.run.active_attempts:
            inst.pause_requested = True
            self._set_status(inst, "waitingForPause")
            return "waitingForPause"
        if inst.run is not None:
            await self._stop_and_wait(inst, "pause")
        self._set_status(inst, "paused")
        return "paused"

    async def resume(self, workflow: str, instance_id: str) -> str:
        inst, status = await self._instance(workflow, instance_id)
        if inst is not None and status == "waitingForPause":
            inst.pause_requested = False
            self._set_status(inst, "running")
            return "running"
        if inst is None or status != "paused":
            raise InvalidTransitionError(
                f"Cannot resume instance '{instance_id}': it is {status}, not paused. Only paused instances "
                "can be resumed.",
                action="resume",
                instance_id=instance_id,
                status=status,
            )
        # Continues where it left off (replay), preferred over instances that never started.
        self._set_status(inst, "queued")
        self.scheduler.add_returning(inst)
        return inst.status

    async def terminate(self, workflow: str, instance_id: str) -> str:
        inst, status = await self._instance(workflow, instance_id)
        if inst is None:
            raise InvalidTransitionError(
                f"Cannot terminate instance '{instance_id}': it is already {status}. Only queued, running, "
                "waiting or paused instances can be terminated.",
                action="terminate",
                instance_id=instance_id,
                status=status,
            )
        await self._stop_and_wait(inst, "terminate")
        await self._finish(inst, "terminated")
        return "terminated"

    async def restart(self, workflow: str, instance_id: str, from_step: dict[str, Any] | None = None) -> str:
        row = await self._row(workflow, instance_id)
        position = None
        if from_step:
            name = str(from_step.get("name"))  # the API checked it is given; the store compares text
            count = int(from_step.get("count") or 1)
            kind = from_step.get("type") or "do"
            position = await self.store.read(lambda c: queries.q_step_position(c, row["pk"], kind, name, count))
            if position is None:
                raise StepNotFoundError(
                    f'Step "{name}" not found in execution history (type {kind}, count {count}) of instance '
                    f"'{instance_id}'. Check the step names with `pyflows workflows instances describe`.",
                    instance_id=instance_id,
                    step={"name": name, "count": count, "type": kind},
                )
        inst = self._live.get((workflow, instance_id))
        if inst is not None:
            await self._stop_and_wait(inst, "restart")
        now = self.clock.now_ms()
        await self.store.write(lambda c: queries.restart_txn(c, row["pk"], position, now))
        inst = self._live.get((workflow, instance_id))  # a hibernating one may have left memory meanwhile
        if inst is None:
            spec = self.spec(workflow)
            inst = _Instance(row["pk"], spec, instance_id, row["params"], row["created_at_epoch_ms"], "queued")
            self._live[(workflow, instance_id)] = inst
        self.events.created(workflow, instance_id)
        inst.status = "queued"
        inst.fresh = False  # the restart kept part of its history
        self._notify(inst)
        self.scheduler.add_new(inst)
        return inst.status

    async def send_event(self, workflow: str, instance_id: str, event_type: str, payload: Any) -> None:
        check_event_type(event_type)
        inst, status = await self._instance(workflow, instance_id)
        if inst is None:
            raise InvalidTransitionError(
                f"Cannot send event '{event_type}' to instance '{instance_id}': it is {status}. Events are "
                "accepted only while an instance can still run.",
                action="send_event",
                instance_id=instance_id,
                status=status,
            )
        payload_text = self._encode_payload(payload, "Event payload")
        now = self.clock.now_ms()
        pk = await self.store.write(lambda c: queries.insert_event_txn(c, inst.pk, event_type, payload_text, now))
        event = (pk, event_type, payload_text, now)
        current = self._live.get((workflow, instance_id))  # a hibernating one may have left memory meanwhile
        if current is None:
            current, _ = await self._instance(workflow, instance_id)
        if current is None:
            return
        if current.fresh and current.run is None:  # not started yet: its first run takes it from memory
            current.early_events.append(event)
        elif current.run is not None:
            current.run.deliver_event(event)
        elif current.status == "waiting":  # hibernated: replay it now, to consume the event
            self.scheduler.add_returning(current)

    async def delete(self, workflow: str, instance_id: str) -> None:
        row = await self._row(workflow, instance_id)
        inst = self._live.get((workflow, instance_id))
        if inst is not None:
            await self._stop_and_wait(inst, "delete")
            self._forget(inst)
        await self.store.write(lambda c: queries.delete_instance_txn(c, row["pk"]))
        self.events.deleted(workflow, instance_id)

    async def delete_batch(self, workflow: str, ids: list[str]) -> tuple[list[str], list[str]]:
        """Delete 1 to 100 instances → (ids deleted, ids not found), each in the order given.

        Every id is checked first (BatchSizeError, InvalidInstanceIdError): a bad batch deletes nothing.
        An id given twice is answered twice (deleted, then not found).
        """
        self.spec(workflow)
        if not isinstance(ids, list) or not ids or len(ids) > MAX_BATCH:
            size = len(ids) if isinstance(ids, list) else 0
            raise BatchSizeError(
                f"deleteBatch takes 1 to {MAX_BATCH} instance ids, got {size}.", size=size, limit=MAX_BATCH
            )
        for instance_id in ids:
            check_addressable_instance_id(instance_id)
        deleted: list[str] = []
        missing: list[str] = []
        for instance_id in ids:
            try:
                await self.delete(workflow, instance_id)
                deleted.append(instance_id)
            except InstanceNotFoundError:
                missing.append(instance_id)
        return deleted, missing

    async def delete_all(self, workflow: str) -> int:
        self.spec(workflow)
        for inst in [i for (w, _), i in self._live.items() if w == workflow]:
            await self._stop_and_wait(inst, "delete")
            self._forget(inst)
        removed = await self.store.write(lambda c: queries.delete_workflow_txn(c, workflow))
        self.events.deleted(workflow, None)
        return removed

    async def wake(self, workflow: str, instance_id: str, *, only_retries: bool = False) -> int:
        """End the instance's current sleep, retry delay or event wait's timeout now, durably (a pyflows
        extension: the explorer's "Wake now" and `pyflows workflows instances wake`). An event wait
        then times out, as its timer would. `only_retries` ends retry delays only ("Retry now").
        Returns the number of timers ended; InvalidTransitionError when there is none to end."""
        inst, status = await self._instance(workflow, instance_id)
        what = "retry delay" if only_retries else "sleep, retry delay or event wait"
        if inst is None or status not in ("waiting", "running"):
            raise InvalidTransitionError(
                f"Cannot wake instance '{instance_id}': it is {status}. Only a waiting instance (sleeping, "
                "waiting to retry a step or waiting for an event) can be woken; resume a paused one first.",
                action="wake",
                instance_id=instance_id,
                status=status,
            )
        now = self.clock.now_ms()
        changed = await self.store.write(lambda c: queries.wake_timers_txn(c, inst.pk, now, only_retries=only_retries))
        current = self._live.get((workflow, instance_id)) or inst  # it may have hibernated meanwhile
        woken = current.run.wake(only_retries=only_retries) if current.run is not None else 0
        if not woken and changed and current.status == "waiting":  # hibernated: replay it now
            candidate: _Instance | None = current
            if self._live.get((workflow, instance_id)) is None:
                candidate, _ = await self._instance(workflow, instance_id)
            if candidate is not None and candidate.run is None:
                self.scheduler.add_returning(candidate)
            woken = changed
        if not woken and not changed:
            raise InvalidTransitionError(
                f"Cannot wake instance '{instance_id}': it is {status} with no {what} pending.",
                action="wake",
                instance_id=instance_id,
                status=status,
            )
        return max(woken, changed)

    async def retry_now(self, workflow: str, instance_id: str) -> str:
        """ "Retry now" (pyflows extension): a step waiting to retry runs its next attempt now; an errored
        instance restarts from the step that failed (keeping the history before it). Returns the status."""
        row = await self._row(workflow, instance_id)
        inst, status = await self._instance(workflow, instance_id)
        if status == "errored":
            failed = await self.store.read(
                lambda c: c.execute(
                    "SELECT kind, name, count FROM steps WHERE instance_pk = ? AND state = 'errored' "
                    "ORDER BY position DESC LIMIT 1",
                    (row["pk"],),
                ).fetchone()
            )
            if failed is None:
                raise InvalidTransitionError(
                    f"Cannot retry instance '{instance_id}': it errored outside any step. Restart it instead.",
                    action="retry",
                    instance_id=instance_id,
                    status=status,
                )
            return await self.restart(
                workflow, instance_id, {"name": failed["name"], "count": failed["count"], "type": failed["kind"]}
            )
        await self.wake(workflow, instance_id, only_retries=True)
        return "running"

    def live_status(self, workflow: str, instance_id: str) -> str | None:
        """The in-memory status of an unfinished instance (ahead of its stored row), else None."""
        inst = self._live.get((workflow, instance_id))
        return inst.status if inst is not None else None

    async def subscribe_history(self, workflow: str, instance_id: str, cursor: int = 0) -> list[dict[str, Any]]:
        """The instance's events after `cursor` (see runtime/workflows/events.py); builds the log from
        storage for an instance this server process has not seen run. InstanceNotFoundError if unknown."""
        row = await self._row(workflow, instance_id)
        if not self.events.has_log(workflow, instance_id):
            from pyflows.runtime.workflows.events import events_from_history

            # Through the writer, so the snapshot holds every write queued before it: an event whose
            # write is queued earlier is emitted before the log exists, and would otherwise be lost.
            history = await self.store.write(lambda c: queries.q_history(c, row["pk"]))
            inst = self._live.get((workflow, instance_id))
            status = inst.status if inst is not None else row["status"]
            self.events.seed(workflow, instance_id, events_from_history(instance_id, row, status, history), status)
        return self.events.history(workflow, instance_id, cursor)

    async def wait_for(
        self,
        workflow: str,
        instance_id: str,
        statuses: set[str] | frozenset[str] = FINISHED,
        timeout: float = 10.0,
    ) -> InstanceStatus:
        """Wait until the instance reaches one of `statuses`; TimeoutError after `timeout` seconds."""
        async with asyncio.timeout(timeout):
            while True:
                current = await self.status(workflow, instance_id)
                if current["status"] in statuses:
                    return current
                inst = self._live.get((workflow, instance_id))
                if inst is None:
                    await asyncio.sleep(0.01)
                    continue
                fut = asyncio.get_running_loop().create_future()
                inst.watchers.append(fut)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.25):
                        await fut

    # -- reads for the API ----------------------------------------------------------------------------

    async def list_instances(
        self,
        workflow: str,
        status: str | None = None,
        date_start_ms: int | None = None,
        date_end_ms: int | None = None,
        page: int = 1,
        per_page: int = 25,
    ) -> tuple[list[InstanceRecord], int]:
        """One page of instances, newest first, and how many match in all."""
        self.spec(workflow)
        rows, total = await self.store.read(
            lambda c: queries.q_list(
                c,
                workflow,
                status=status,
                start_ms=date_start_ms,
                end_ms=date_end_ms,
                limit=per_page,
                offset=(page - 1) * per_page,
            )
        )
        out = []
        for instance_id, st, created in rows:
            inst = self._live.get((workflow, instance_id))
            out.append(InstanceRecord(instance_id, inst.status if inst else st, created))
        return out, total

    async def status_counts(self, workflow: str) -> dict[str, int]:
        self.spec(workflow)
        counts = await self.store.read(lambda c: queries.q_status_counts(c, workflow))
        return {s: counts.get(s, 0) for s in COUNT_ORDER}

    async def latest(self, workflow: str) -> str | None:
        self.spec(workflow)
        return await self.store.read(lambda c: queries.q_latest(c, workflow))

    async def describe(self, workflow: str, instance_id: str) -> InstanceDetails:
        """The instance with its step history in execution order, including attempts running now."""
        row = await self._row(workflow, instance_id)
        steps, attempts, _events = await self.store.read(lambda c: queries.q_history(c, row["pk"]))
        inst = self._live.get((workflow, instance_id))
        live = inst.run.live if inst is not None and inst.run is not None else {}
        return InstanceDetails(
            workflow=workflow,
            id=instance_id,
            status=inst.status if inst is not None else row["status"],
            params=loads(row["params"]),
            created_at_epoch_ms=row["created_at_epoch_ms"],
            queued_at_epoch_ms=row["queued_at_epoch_ms"],
            started_at_epoch_ms=row["started_at_epoch_ms"],
            ended_at_epoch_ms=row["ended_at_epoch_ms"],
            output=loads(row["output"]),
            error=loads(row["error"]),
            steps=_step_records(steps, attempts, live),
        )


MAX_RETENTION_MS = 30 * 86_400_000  # Cloudflare: finished instance state is kept at most 30 days


def _retention(value: Any) -> str | None:
    """create's `retention` → stored JSON `{"success_ms", "error_ms"}` (None when not given).

    Cloudflare's keys `successRetention` / `errorRetention` (also `success_retention` /
    `error_retention`, the REST API's), each a number of ms or a duration string, 1 ms to 30 days.
    """
    if value is None:
        return None
    if hasattr(value, "to_py"):
        value = value.to_py()
    if not isinstance(value, dict):
        raise InvalidRetentionError(
            "retention must be a dict like {'successRetention': '1 day', 'errorRetention': '7 days'}, "
            f"got {value!r}.",
            value=value,
        )
    known = {"successRetention": "success_ms", "success_retention": "success_ms",
             "errorRetention": "error_ms", "error_retention": "error_ms"}  # fmt: skip
    out: dict[str, int] = {}
    for key, raw in value.items():
        if key not in known:
            raise InvalidRetentionError(
                f"retention has an unknown key {key!r}: use successRetention and errorRetention.", value=value
            )
        try:
            ms = to_ms(raw, what=f"retention.{key}")
        except ValueError as exc:
            raise InvalidRetentionError(str(exc), value=value) from None
        if not 0 < ms <= MAX_RETENTION_MS:
            raise InvalidRetentionError(
                f"retention.{key} of {ms} ms is out of range: use 1 ms to 30 days.", value=value
            )
        out[known[key]] = ms
    return json.dumps(out) if out else None


def _summary(spec: WorkflowSpec, counts: dict[str, int] | None = None) -> WorkflowSummary:
    return WorkflowSummary(spec.name, spec.binding, spec.class_name, spec.script_name, counts)


def _step_records(steps: Any, attempts: Any, live: dict[tuple[str, str, int], LiveAttempt]) -> tuple[StepRecord, ...]:
    """Stored steps and attempts plus the attempts running now, ordered by position."""
    by_step: dict[int, list[AttemptRecord]] = {}
    for a in attempts:
        by_step.setdefault(a["step_pk"], []).append(
            AttemptRecord(a["started_at_epoch_ms"], a["ended_at_epoch_ms"], bool(a["success"]), loads(a["error"]))
        )
    out: list[StepRecord] = []
    seen = set()
    for s in steps:
        key = (s["kind"], s["name"], s["count"])
        seen.add(key)
        tried = by_step.get(s["pk"], [])
        running = live.get(key)
        if running is not None:
            tried.append(AttemptRecord(running.attempt_started, None, None, None))
        finished = s["state"] in ("complete", "errored")
        is_do = s["kind"] == "do"
        out.append(
            StepRecord(
                kind=s["kind"],
                name=s["name"],
                count=s["count"],
                position=s["position"],
                state=s["state"],
                started_at_epoch_ms=s["started_at_epoch_ms"],
                ended_at_epoch_ms=s["ended_at_epoch_ms"],
                output=loads(s["output"]) if s["output"] else None,
                error=loads(s["error"]),
                config=json.loads(s["config"]) if s["config"] else None,
                attempts=tuple(tried),
                retry_at_epoch_ms=(
                    s["wake_at_epoch_ms"] if is_do and running is None and s["state"] == "retrying" else None
                ),
                wake_at_epoch_ms=None if is_do or finished else s["wake_at_epoch_ms"],
            )
        )
    for key, running in live.items():
        if key not in seen:
            out.append(
                StepRecord(
                    kind="do",
                    name=running.name,
                    count=running.count,
                    position=running.position,
                    state="running",
                    started_at_epoch_ms=running.step_started,
                    ended_at_epoch_ms=None,
                    config=running.config,
                    attempts=(AttemptRecord(running.attempt_started, None, None, None),),
                )
            )
    out.sort(key=lambda step: step.position)
    return tuple(out)


def _committed(conn: sqlite3.Connection) -> None:
    """A no-op write: its future resolves once every write queued before it is committed."""


def _log_wake_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("Could not wake sleeping instances: %s", task.exception())


def _log_write_failure(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.error("Could not record an instance status change: %s", fut.exception())
