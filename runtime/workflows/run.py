"""One replay of an instance's `run(event, step)`: the step primitives and their checkpoints.

A `Run` is created each time an instance (re)starts executing: first start, resume, wake from
hibernation, restart of the dev server. It loads the instance's step records, and every step call
either returns what is recorded (replay) or executes and records before returning. Keys are
`(kind, name, count)` where `count` numbers calls of the same kind and name within one run.

Waits (sleeps, retry delays, events) are futures with a timer. When a run has nothing but waits
left, the engine may *hibernate* it: cancel the task and replay it when a timer fires or an
event arrives, so a thousand sleeping instances cost rows, not coroutines.

Replay and lineage (the determinism check)
------------------------------------------
Step identity stays `(kind, name, count)`: a call with a record replays it, whatever the order.
The only extra safety check is for a call with *no* record: is it new territory (the step that
was in flight when the process stopped, or code past the end of the history), or did the code
change so that this call takes the place of a step the history has?

Each step call is given a *lineage*: where it was called in the run's task tree. The run's task
is the root; every task created while a run's task (or one of its descendants) is current is a
child, named by its coroutine's qualified name and how many children of that name its parent
had created before it (`FanOut.run.<locals>.branch#0`). The lineage of a call is that path plus
the index of the call among the step calls of its own task. A task runs its code in program
order, and creates its children in program order, so the same code meets the same lineages on
every replay, however the event loop interleaves concurrent branches: replaying is instant,
executing is not, and the lineage does not depend on either. It is stored with the record.

A call with no record is a divergence exactly when an *unreplayed* record has its lineage: in
the same task, at the same index, the history has a different step still waiting to be called.
Anything else is new territory and runs. This is right by construction for concurrent branches:
a branch that still has many steps to replay is a different task, with different lineages, so
nothing has to wait for it (the yield-counting heuristic it replaces raced against it, and lost
to a gather branch with 5 or more recorded steps).

Why this and not "judge at quiescence" (park unrecorded calls until every task of the run is
blocked): that needs to know, for every task, whether what it awaits can still make progress
(a gather, a shield, a TaskGroup, a user's own future, I/O outside a step), which asyncio does
not expose; lineage needs one hook, the loop's task factory, and a dict lookup per step.

Limits, documented rather than guessed at: children are named by coroutine, so tasks the engine
creates (storage flushes, `Run.do`) never shift a user task's name; steps called from a task
the lineage cannot see (a loop with another task factory installed after ours, a callback
outside any task) and records written before lineages were stored are not checked. A step
reused through an implicit/`depends` dependency runs in whichever task needs it first, which
can move it between tasks on replay; that only removes calls from one task's sequence after
they were replayed, so it cannot make a new call land on an unreplayed record. Reordering
*recorded* steps is not a divergence (each replays by name, as on Cloudflare); calling a new
step where a recorded one is expected is.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
import weakref
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyflows.runtime.protocol.durations import MAX_SLEEP_MS, epoch_ms, now_ms, to_ms
from pyflows.runtime.protocol.limits import MAX_CPU_MS, MAX_STEPS, check_event_type
from pyflows.runtime.surface.entrypoints import NonRetryableError
from pyflows.runtime.surface.values import (
    JsDict,
    ValueTooLargeError,
    dumps,
    encode,
    loads,
    python_from_rpc,
    python_to_rpc,
    utc_naive,
)
from pyflows.runtime.workflows import queries
from pyflows.runtime.workflows.events import Raw
from pyflows.runtime.workflows.step_config import (
    REDACTED,
    check_step_name,
    is_sensitive,
    resolve_config,
    retry_delay_ms,
)
from pyflows.runtime.workflows.step_errors import (
    CpuLimitExceededError,
    NonDeterminismError,
    StepLimitExceededError,
    error_info,
    rebuild_error,
)

_compact = json.JSONEncoder(separators=(",", ":")).encode

if TYPE_CHECKING:
    from pyflows.runtime.workflows.engine import Engine, _Instance
    from pyflows.runtime.workflows.hooks import InstanceHooks, TimerHandle


@dataclass
class StepRecord:
    position: int
    kind: str
    name: str
    count: int
    state: str  # running | waiting | retrying | complete | errored
    started: int
    wake_at: int | None = None
    config: str | None = None
    output: str | None = None
    error: str | None = None
    event_type: str | None = None
    attempts: int = 0
    lineage: str | None = None


@dataclass(eq=False)
class _Wait:
    fut: asyncio.Future[Any]
    deadline: int
    event_type: str | None = None
    handle: TimerHandle | None = None
    retry: bool = False  # a retry delay (Retry now ends only these)


@dataclass
class LiveAttempt:
    """A `do` attempt executing right now (not in storage until it ends)."""

    position: int
    name: str
    count: int
    config: dict[str, Any]
    step_started: int
    attempt_started: int


def cpu_limit_error(name: str, used_s: float, limit_s: float) -> CpuLimitExceededError:
    return CpuLimitExceededError(
        f"Step '{name}' used {used_s * 1000:.0f} ms of CPU time in one attempt, over the limit of "
        f"{limit_s * 1000:.0f} ms. Raise limits.cpu_ms in the config (max {MAX_CPU_MS}) or split the work "
        "into more steps."
    )


class _Metered:
    """Drive a coroutine, adding the CPU time of each of its slices to `run`'s meter."""

    def __init__(self, coro: Any, meter: list[float], limit_s: float, name: str) -> None:
        self.coro, self.meter, self.limit_s, self.name = coro, meter, limit_s, name

    def _over(self) -> CpuLimitExceededError:
        return cpu_limit_error(self.name, self.meter[0], self.limit_s)

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, meter, clock = self.coro, self.meter, time.thread_time
        value: Any = None
        exc: BaseException | None = None
        while True:
            t0 = clock()
            try:
                yielded = coro.send(value) if exc is None else coro.throw(exc)
            except StopIteration as stop:
                meter[0] += clock() - t0
                if meter[0] > self.limit_s:
                    raise self._over() from None
                return stop.value
            except BaseException:
                meter[0] += clock() - t0
                raise
            meter[0] += clock() - t0
            if meter[0] > self.limit_s:
                coro.close()
                raise self._over()
            try:
                value, exc = (yield yielded), None
            except BaseException as e:  # cancellation and friends go into the coroutine
                value, exc = None, e


class _Lineage:
    """Where a task sits in its run's task tree; see "Replay and lineage" in the module docstring."""

    __slots__ = ("_run", "calls", "children", "path")

    def __init__(self, run: Run, path: tuple[str, ...]) -> None:
        # Weak: _LINEAGES holds lineages by their task, and a run holds its task; a strong reference
        # here would keep every finished or hibernated run (and its task) alive forever.
        self._run = weakref.ref(run)
        self.path = path
        self.children: defaultdict[str, int] = defaultdict(int)  # coroutine name -> tasks created
        self.calls = 0  # step calls made by this task so far

    def child(self, coro: Any) -> _Lineage:
        name = getattr(coro, "__qualname__", None) or type(coro).__qualname__
        index = self.children[name]
        self.children[name] += 1
        run = self._run()
        assert run is not None  # a task is being created inside this run, so the run is alive
        return _Lineage(run, (*self.path, f"{name}#{index}"))

    @property
    def run(self) -> Run | None:
        return self._run()


_LINEAGES: weakref.WeakKeyDictionary[asyncio.Future[Any], _Lineage] = weakref.WeakKeyDictionary()


def called_in_a_step(lineage: str | None) -> bool:
    """Was the step with this stored lineage called inside another step's callback (which runs in
    its `Run.do` task)? Replaying the outer step does not run its callback, nor call this one again."""
    return lineage is not None and '"Run.do#' in lineage


def _lineage_of(task: asyncio.Future[Any] | None) -> _Lineage | None:
    return None if task is None else _LINEAGES.get(task)


def _install_task_factory(loop: asyncio.AbstractEventLoop) -> None:
    """Make tasks created inside a run inherit a lineage; chains to a factory already installed."""
    previous = loop.get_task_factory()
    if getattr(previous, "_pyflows_lineage", False):
        return

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
        task = previous(loop, coro, **kwargs) if previous is not None else asyncio.Task(coro, loop=loop, **kwargs)
        parent = _lineage_of(asyncio.current_task(loop))
        if parent is not None:
            _LINEAGES[task] = parent.child(coro)
        return task

    factory._pyflows_lineage = True  # type: ignore[attr-defined]
    loop.set_task_factory(factory)


class Run:
    """One execution of `run()` for one instance; see the module docstring."""

    def __init__(self, engine: Engine, inst: _Instance) -> None:
        self.engine = engine
        self.inst = inst
        self.records: dict[tuple[str, str, int], StepRecord] = {}
        self.unreplayed: set[tuple[str, str, int]] = set()
        self.by_lineage: dict[str, tuple[str, str, int]] = {}  # a record's lineage -> its key
        self.counters: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.next_position = 0
        self.pending_events: list[tuple[int, str, str, int]] = []
        self.known_events: set[int] = set()  # event pks already buffered or consumed by this run
        self.event_waiters: defaultdict[str, deque[_Wait]] = defaultdict(deque)
        self.waits: set[_Wait] = set()
        self.active_attempts = 0
        self.live: dict[tuple[str, str, int], LiveAttempt] = {}
        self.fatal: Exception | None = None
        self.steps_seen = 0
        self.task: asyncio.Task[Any] | None = None
        self.fresh = False  # the instance's first run: its history is the events it was given (no load())
        self.stop_reason: str | None = None
        self.clock = engine.clock

    def _mods(self) -> InstanceHooks | None:
        """Test overrides for this instance (runtime/workflows/hooks.py); None outside pyflows.testing."""
        hooks = self.engine.hooks
        return None if hooks is None else hooks.for_instance(self.inst.spec.name, self.inst.id)

    async def load(self) -> None:
        steps, attempts, events = await self.engine.store.read(lambda c: queries.q_history(c, self.inst.pk))
        counts: defaultdict[int, int] = defaultdict(int)
        for a in attempts:
            counts[a["step_pk"]] = max(counts[a["step_pk"]], a["attempt"])
        for s in steps:
            rec = StepRecord(
                position=s["position"],
                kind=s["kind"],
                name=s["name"],
                count=s["count"],
                state=s["state"],
                started=s["started_at_epoch_ms"],
                wake_at=s["wake_at_epoch_ms"],
                config=s["config"],
                output=s["output"],
                error=s["error"],
                event_type=s["event_type"],
                attempts=counts[s["pk"]],
                lineage=s["lineage"],
            )
            key = (rec.kind, rec.name, rec.count)
            self.records[key] = rec
            self.unreplayed.add(key)
            if rec.lineage is not None:
                self.by_lineage[rec.lineage] = key
            self.next_position = max(self.next_position, rec.position + 1)
        stored = [
            (e["pk"], e["type"], e["payload"], e["received_at_epoch_ms"]) for e in events if e["consumed_by"] is None
        ]
        # Events delivered while the history was being read are already in the buffer; keep both,
        # once each. An event the read already saw may still be delivered after it: ignore it then.
        self.known_events.update(e["pk"] for e in events)
        stored_pks = {e[0] for e in stored}
        self.pending_events = stored + [e for e in self.pending_events if e[0] not in stored_pks]

    def take_early_events(self, events: list[tuple[int, str, str, int]]) -> None:
        """Instead of `load()` for an instance's first run (`fresh`): the events sent to it before
        (stored, unconsumed), in order; those sent later are delivered (`deliver_event`)."""
        self.known_events.update(e[0] for e in events)
        self.pending_events = [*events, *self.pending_events]

    # -- bookkeeping -----------------------------------------------------------------------------

    def _key(self, kind: str, name: str) -> tuple[str, str, int]:
        if self.fatal is not None:
            raise self.fatal
        check_step_name(name)
        self.counters[(kind, name)] += 1
        key = (kind, name, self.counters[(kind, name)])
        if kind != "sleep":
            self.steps_seen += 1
            limit = self.inst.spec.max_steps
            if self.steps_seen > limit:
                self.fatal = StepLimitExceededError(
                    f"Instance '{self.inst.id}' of workflow '{self.inst.spec.name}' called more than {limit:,} "
                    f"steps (limits.steps). Raise `limits.steps` for this workflow in the config (at most "
                    f"{MAX_STEPS:,}), or split the work across instances."
                )
                raise self.fatal
        return key

    def _replay(self, key: tuple[str, str, int]) -> StepRecord | None:
        """The step's record (now replayed), or None if it never ran; raises its stored final error."""
        rec = self.records.get(key)
        if rec is not None:
            self.unreplayed.discard(key)
            if rec.state == "errored":
                raise rebuild_error(loads(rec.error))
        return rec

    def _position(self) -> int:
        self.next_position += 1
        return self.next_position - 1

    def enter(self) -> None:
        """Called in the run's task just before `run()`: make it the root of the lineage tree."""
        task = asyncio.current_task()
        assert task is not None
        _install_task_factory(task.get_loop())
        _LINEAGES[task] = _Lineage(self, ())

    def lineage(self) -> str | None:
        """The lineage of a step call made now, by the current task (None if it cannot be known).

        Call it synchronously where user code calls the step, before any task is created for it.
        """
        node = _lineage_of(asyncio.current_task())
        if node is None or node.run is not self:
            return None
        node.calls += 1
        if not node.path:  # the run's own task: what _compact gives for [n], without the encoder
            return f"[{node.calls - 1}]"
        return _compact([*node.path, node.calls - 1])

    def _check_determinism(self, kind: str, name: str, count: int, lineage: str | None) -> None:
        """A step with no record, called where the history has a step not yet replayed: the code changed.

        "Where" is the lineage (module docstring): same task, same index among its step calls.
        """
        key = self.by_lineage.get(lineage) if lineage is not None else None
        if key is None or key not in self.unreplayed:
            return
        rec = self.records[key]
        label = {"do": "step.do", "sleep": "step.sleep", "waitForEvent": "step.wait_for_event"}
        self.fatal = NonDeterminismError(
            f"Non-deterministic workflow: on replay, instance '{self.inst.id}' called {label[kind]} "
            f"'{name}-{count}' where its history has {label[rec.kind]} '{rec.name}-{rec.count}'. Steps must be "
            "called in the same order on every replay; if you changed the workflow's code, restart the "
            "instance (`pyflows workflows instances restart`)."
        )
        raise self.fatal

    def _save(self, fn: Callable[[Any], Any]) -> Awaitable[Any]:
        if self.engine.hooks is None:
            return self.engine.store.write(fn)
        return self._save_and_tell(fn)

    async def _save_and_tell(self, fn: Callable[[Any], Any]) -> Any:
        result = await self.engine.store.write(fn)
        assert self.engine.hooks is not None
        self.engine.hooks.changed(self.inst.spec.name, self.inst.id, step=True)
        return result

    # -- waits -----------------------------------------------------------------------------------

    async def _wait(self, deadline: int, event_type: str | None = None, retry: bool = False) -> Any:
        """Wait until `deadline` (epoch ms), or for an event of `event_type`; returns the event or None."""
        loop = asyncio.get_running_loop()
        w = _Wait(fut=loop.create_future(), deadline=deadline, event_type=event_type, retry=retry)

        def fire() -> None:
            if not w.fut.done():
                w.fut.set_result(None)

        w.handle = handle = self.clock.call_at(deadline, fire)
        self.waits.add(w)
        if event_type is not None:
            self.event_waiters[event_type].append(w)
        self.engine.on_wait_started(self)
        try:
            result = await w.fut
        finally:
            handle.cancel()
            self.waits.discard(w)
            if event_type is not None and w in self.event_waiters[event_type]:
                self.event_waiters[event_type].remove(w)
        await self.engine.on_wait_ended(self)
        return result

    def deliver_event(self, event: tuple[int, str, str, int]) -> None:
        """A new event for this live run: hand it to the first waiter of its type, else buffer it."""
        if event[0] in self.known_events:
            return
        self.known_events.add(event[0])
        for w in self.event_waiters.get(event[1], ()):
            if not w.fut.done():
                w.fut.set_result(event)
                return
        self.pending_events.append(event)

    def _take_event(self, event_type: str) -> tuple[int, str, str, int] | None:
        for i, ev in enumerate(self.pending_events):
            if ev[1] == event_type:
                return self.pending_events.pop(i)
        return None

    # -- step.do ---------------------------------------------------------------------------------

    async def do(
        self, name: str, config: Any, callback: Callable[[JsDict], Any], is_async: bool, lineage: str | None = None
    ) -> Any:
        """Run (or replay) one `step.do`. `callback(ctx)` calls the user's function.

        `lineage` is `self.lineage()` taken in the caller's task (this coroutine runs in its own).
        """
        kind = "do"
        key = self._key(kind, name)
        rec = self._replay(key)
        if rec is not None:
            if rec.state == "complete":
                return python_from_rpc(loads(rec.output))
            resolved = json.loads(rec.config) if rec.config else resolve_config(config)
            position, started, attempt = rec.position, rec.started, rec.attempts + 1
        else:
            resolved = resolve_config(config)
            self._check_determinism(kind, name, key[2], lineage)
            position, started, attempt = self._position(), self.clock.now_ms(), 1
            self._emit("step_started", key, config=resolved)
        config_text = dumps(resolved)
        limit = resolved["retries"]["limit"]
        timeout_s = to_ms(resolved["timeout"]) / 1000
        if rec is not None and rec.wake_at and rec.state == "retrying" and self._retry_delay_ms(name, key[2], 1):
            await self._wait(rec.wake_at, retry=True)
        while True:
            attempt_started = self.clock.now_ms()
            self.live[key] = LiveAttempt(position, name, key[2], resolved, started, attempt_started)
            self.active_attempts += 1
            # However the attempt ends (saved, failed to save, or cancelled by the workflow's own code:
            # wait_for on a step, a failing TaskGroup sibling), it stops counting as running.
            try:
                self._emit("attempt_started", key, attempt=attempt)
                await self.engine.on_attempt_started(self)
                ok, text = await self._attempt(name, key[2], attempt, resolved, timeout_s, callback, is_async)
                ended = self.clock.now_ms()
                if ok:
                    state, error, final = "complete", None, True
                else:
                    info, fatal = text
                    error = dumps(info)
                    final = fatal or attempt > limit
                    state = "errored" if final else "retrying"
                delay_ms = (
                    0 if final else self._retry_delay_ms(name, key[2], retry_delay_ms(resolved["retries"], attempt))
                )
                wake_at = None if final else ended + delay_ms
                output = text if ok else None
                await self._save_attempt(
                    key, position, started, config_text, lineage, state=state, attempt=attempt,
                    attempt_started=attempt_started, ended=ended, ok=ok, output=output, error=error, wake_at=wake_at,
                )  # fmt: skip
            finally:
                del self.live[key]
                self.active_attempts -= 1
                if self.stop_reason is None:  # not the engine stopping this run (pause, terminate, shutdown)
                    self.engine.on_attempt_ended(self)
            if ok:
                self._emit("attempt_completed", key, attempt=attempt)
                shown = REDACTED if is_sensitive(resolved) else Raw(text)  # decoded when read
                self._emit("step_completed", key, output=shown)
                return python_from_rpc(loads(text))
            delay = {} if final else {"retryDelayMs": wake_at - ended, "wakeAt": wake_at}  # type: ignore[operator]
            self._emit("attempt_errored", key, attempt=attempt, error=info, **delay)
            if final:
                self._emit("step_errored", key)
                raise rebuild_error(info)
            assert wake_at is not None
            await self._wait(wake_at, retry=True)
            attempt += 1

    def _retry_delay_ms(self, name: str, count: int, delay: int) -> int:
        """The back-off before the next attempt; 0 when a test disabled this step's retry delays."""
        mods = self._mods()
        return delay if mods is None else mods.retry_delay_ms(name, count, delay)

    async def _attempt(
        self,
        name: str,
        count: int,
        attempt: int,
        config: dict[str, Any],
        timeout_s: float,
        callback: Callable[[JsDict], Any],
        is_async: bool,
    ) -> tuple[bool, Any]:
        ctx = JsDict(step=JsDict(name=name, count=count), attempt=attempt, config=_ctx_config(config))
        limit_s = self.engine.options.cpu_ms / 1000
        meter = [0.0]
        mods = self._mods()
        override = None if mods is None else mods.step_override(name, count, attempt, int(timeout_s * 1000))
        if override is not None:  # pyflows.testing: mocked error, forced timeout or mocked result
            if override[0] == "result":
                try:
                    return True, encode(override[1], what=f"The mocked result of step '{name}'")
                except (TypeError, ValueTooLargeError) as exc:
                    return False, (error_info(exc), True)
            info = dict(override[1])
            return False, (info, info.get("name") == "NonRetryableError")
        try:
            async with asyncio.timeout(timeout_s):
                if is_async:
                    value = await _Metered(callback(ctx), meter, limit_s, name)
                else:
                    value, cpu = await asyncio.to_thread(_timed_call, callback, ctx)
                    meter[0] = cpu
                    if cpu > limit_s:
                        raise cpu_limit_error(name, cpu, limit_s)
                    if inspect.isawaitable(value):  # a plain function that returned a coroutine
                        value = await _Metered(value, meter, limit_s, name)
            return True, encode(value, what=f"The result of step '{name}'")
        except TimeoutError:
            return False, (
                {
                    "name": "WorkflowTimeoutError",
                    "message": f"Execution timed out after {int(timeout_s * 1000)}ms",
                },
                False,
            )
        except NonRetryableError as exc:
            return False, ({"name": "NonRetryableError", "message": str(exc)}, True)
        except ValueTooLargeError as exc:
            return False, (error_info(exc), True)
        except Exception as exc:
            self.engine.log_step_error(self.inst, name, attempt, exc)
            return False, (error_info(exc), False)

    # -- sleeps ----------------------------------------------------------------------------------

    def sleep(self, name: str, duration: Any) -> asyncio.Future[None]:
        ms = to_ms(duration, what=f"duration of step.sleep('{name}')")
        if ms > MAX_SLEEP_MS:
            raise ValueError(f"step.sleep('{name}') for {ms} ms is longer than the limit of 365 days.")
        key = self._key("sleep", name)
        return asyncio.ensure_future(self._sleep(key, self.lineage(), lambda now: now + ms))

    def sleep_until(self, name: str, when: Any) -> asyncio.Future[None]:
        at = epoch_ms(when, what=f"timestamp of step.sleep_until('{name}')")
        key = self._key("sleep", name)
        rec = self.records.get(key)
        now = self.clock.now_ms()
        # In the past in real time too: a mistake. In the past only on a test clock moved past it
        # (pyflows.testing's advance(), with `at` computed from datetime.now()): it has come; it ends at once.
        if rec is None and at < now and at < now_ms():  # now_ms: the wall clock
            raise ValueError(
                f"step.sleep_until('{name}') was given a time in the past ({at} ms since the epoch, "
                f"{now - at} ms ago). Pass a future datetime (naive = UTC) or epoch milliseconds."
            )
        if at - now > MAX_SLEEP_MS:
            raise ValueError(f"step.sleep_until('{name}') is more than 365 days away.")
        return asyncio.ensure_future(self._sleep(key, self.lineage(), lambda _now: at))

    async def _sleep(self, key: tuple[str, str, int], lineage: str | None, deadline_of: Callable[[int], int]) -> None:
        rec = self._replay(key)
        if rec is not None:
            if rec.state == "complete":
                return
            deadline = rec.wake_at or rec.started
            mods = self._mods()
            if mods is not None and mods.sleep_disabled(key[1], key[2]):
                deadline = min(deadline, self.clock.now_ms())
        else:
            self._check_determinism(*key, lineage)
            started = self.clock.now_ms()
            deadline = deadline_of(started)
            mods = self._mods()
            if mods is not None and mods.sleep_disabled(key[1], key[2]):
                deadline = started
            rec = await self._begin_wait(key, started, deadline, lineage=lineage)
            self._emit("sleep_started", key, durationMs=deadline - started, wakeAt=deadline)
        if deadline > self.clock.now_ms():
            await self._wait(deadline)
            deadline = min(deadline, self.clock.now_ms())  # woken early (Engine.wake)
        rec.state = "complete"
        await self._save_step(rec, "complete", ended=max(self.clock.now_ms(), deadline), wake_at=deadline)
        self._emit("sleep_completed", key)

    # -- events ----------------------------------------------------------------------------------

    async def wait_for_event(self, name: str, event_type: str, timeout: Any) -> Any:
        check_event_type(event_type)
        timeout_ms = to_ms(timeout, what=f"timeout of step.wait_for_event('{name}')")
        if not 1000 <= timeout_ms <= MAX_SLEEP_MS:
            raise ValueError(
                f"step.wait_for_event('{name}') timeout of {timeout_ms} ms is out of range: use 1 second to 365 days."
            )
        key = self._key("waitForEvent", name)
        lineage = self.lineage()
        rec = self._replay(key)
        if rec is not None:
            if rec.state == "complete":
                return python_from_rpc(loads(rec.output))
            deadline = rec.wake_at or (rec.started + timeout_ms)
        else:
            self._check_determinism(*key, lineage)
            started = self.clock.now_ms()
            deadline = started + timeout_ms
        mods = self._mods()
        forced = mods is not None and mods.event_timeout_forced(name, key[2])
        event = None if forced else self._take_event(event_type)
        if event is None:
            if rec is None:
                rec = await self._begin_wait(key, started, deadline, event_type, lineage)
                self._emit("wait_started", key, eventType=event_type, wakeAt=deadline)
                if not forced:
                    event = self._take_event(event_type)  # it may have arrived while the record was saved
            if event is None and deadline > self.clock.now_ms() and not forced:
                event = await self._wait(deadline, event_type)
        elif rec is None:
            rec = self._new_record(key, started, deadline, event_type, lineage)
        ended = self.clock.now_ms()
        if event is None:
            info = {"name": "WorkflowTimeoutError", "message": f"Execution timed out after {timeout_ms}ms"}
            await self._save_step(rec, "errored", ended=ended, wake_at=deadline, error=dumps(info))
            self._emit("wait_timed_out", key)
            raise rebuild_error(info)
        event_pk, etype, payload, received = event
        received_iso = python_to_rpc(utc_naive(received))
        output = dumps({"type": etype, "payload": loads(payload), "timestamp": received_iso})
        await self._save_step(rec, "complete", ended=ended, wake_at=deadline, output=output, consume=event_pk)
        self._emit("wait_completed", key)
        return python_from_rpc(loads(output))

    # -- instance events and wake (the explorer) -------------------------------------------------

    def _emit(self, type: str, key: tuple[str, str, int], **fields: Any) -> None:
        """One of Cloudflare's instance events for this step (runtime/workflows/events.py)."""
        if self.stop_reason is None:
            self.engine.events.emit(self.inst.spec.name, self.inst.id, type, stepName=key[1], count=key[2], **fields)

    def wake(self, *, only_retries: bool = False) -> int:
        """End the timers this run is waiting on now (a sleep, a retry delay, an event wait's timeout:
        that wait then times out). Returns how many; the caller has already stored the new deadlines."""
        woken = 0
        for w in list(self.waits):
            if w.fut.done() or (only_retries and not w.retry):
                continue
            w.fut.set_result(None)
            woken += 1
        return woken

    # -- step records ----------------------------------------------------------------------------

    def _new_record(
        self,
        key: tuple[str, str, int],
        started: int,
        deadline: int,
        event_type: str | None = None,
        lineage: str | None = None,
    ) -> StepRecord:
        rec = StepRecord(
            position=self._position(), kind=key[0], name=key[1], count=key[2], state="waiting",
            started=started, wake_at=deadline, event_type=event_type, lineage=lineage,
        )  # fmt: skip
        self.records[key] = rec
        return rec

    async def _begin_wait(
        self,
        key: tuple[str, str, int],
        started: int,
        deadline: int,
        event_type: str | None = None,
        lineage: str | None = None,
    ) -> StepRecord:
        """Record a sleep or event wait (with its deadline) before waiting, so it survives a restart."""
        rec = self._new_record(key, started, deadline, event_type, lineage)
        await self._save_step(rec, "waiting", wake_at=deadline)
        return rec

    def _save_attempt(
        self, key: tuple[str, str, int], position: int, started: int, config: str, lineage: str | None, *,
        state: str, attempt: int,
        attempt_started: int, ended: int, ok: bool, output: str | None, error: str | None, wake_at: int | None,
    ) -> Awaitable[Any]:  # fmt: skip
        """Save a `do` step's row and the attempt that just ended, in one transaction."""

        def txn(conn: Any) -> None:
            pk = queries.save_step_txn(
                conn, self.inst.pk, position=position, kind=key[0], name=key[1], count=key[2], state=state,
                started=started, ended=ended if state in ("complete", "errored") else None, wake_at=wake_at,
                config=config, output=output, error=error, lineage=lineage,
            )  # fmt: skip
            queries.save_attempt_txn(conn, pk, attempt, attempt_started, ended, ok, error)

        return self._save(txn)

    def _save_step(self, rec: StepRecord, state: str, *, consume: int | None = None, **fields: Any) -> Awaitable[Any]:
        """Save a sleep/event step row (and mark the event it consumed) in one transaction."""

        def txn(conn: Any) -> None:
            pk = queries.save_step_txn(
                conn, self.inst.pk, position=rec.position, kind=rec.kind, name=rec.name, count=rec.count,
                state=state, started=rec.started, event_type=rec.event_type, lineage=rec.lineage, **fields,
            )  # fmt: skip
            if consume is not None:
                queries.consume_event_txn(conn, consume, pk)

        return self._save(txn)


def _ctx_config(config: dict[str, Any]) -> JsDict:
    """`ctx.config`, a fresh copy per attempt: `python_from_rpc(config)` for what resolve_config gives
    (str and numbers, one level of dicts), without its recursion."""
    return JsDict(
        {
            k: JsDict({n: _js_number(x) for n, x in v.items()}) if isinstance(v, dict) else _js_number(v)
            for k, v in config.items()
        }
    )


def _js_number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _timed_call(callback: Callable[[JsDict], Any], ctx: JsDict) -> tuple[Any, float]:
    t0 = time.thread_time()
    value = callback(ctx)
    return value, time.thread_time() - t0
