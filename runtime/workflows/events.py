"""Instance events with a cursor: Cloudflare's `instance.subscribe()` event types, emitted by the engine.

Event shape (Cloudflare's `WorkflowInstanceEvent`, developers.cloudflare.com/workflows/build/
subscribe-to-instance-events/): `{"instanceId", "eventId", "timestamp" (epoch ms), "type", ...}` with
the types and fields

    workflow_queued | workflow_started {params} | workflow_running | workflow_paused |
    workflow_waiting_for_pause | workflow_waiting | workflow_completed {output} |
    workflow_errored {error: {name, message}} | workflow_terminated
    step_started {stepName, config} | step_completed {stepName, output} | step_errored {stepName}
    attempt_started {stepName, attempt} | attempt_completed {stepName, attempt}
    attempt_errored {stepName, attempt, retryDelayMs?, error}
    sleep_started {stepName, durationMs} | sleep_completed {stepName}
    wait_started {stepName, eventType} | wait_completed {stepName} | wait_timed_out {stepName}

(pyflows has no rollbacks, so no `rollback_*` events.) pyflows adds `count` (the step's occurrence
number) to step events, and `wakeAt` (epoch ms) to sleep/wait/retry events, for the explorer.

`eventId` counts from 1 per instance. The log lives in the dev server's memory: an instance that
existed before this server process started gets its history rebuilt from the stored steps the first
time someone subscribes (status changes of earlier runs are not stored, so that history has only the
queued/started events, the steps, and the current status). Event ids are stable within one server
process, not across restarts.

Besides the per-instance logs, every event goes to a global ring (`since(seq)`, `wait(seq)`) with a
process-wide sequence number: the explorer's Server-Sent Events stream.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from typing import Any

from pyflows.runtime.surface.values import loads, to_api
from pyflows.runtime.workflows.step_config import REDACTED, is_sensitive

TERMINAL = frozenset({"workflow_completed", "workflow_errored", "workflow_terminated"})
STATUS_EVENTS = {
    "queued": "workflow_queued",
    "running": "workflow_running",
    "paused": "workflow_paused",
    "waitingForPause": "workflow_waiting_for_pause",
    "waiting": "workflow_waiting",
    "complete": "workflow_completed",
    "errored": "workflow_errored",
    "terminated": "workflow_terminated",
}
EVENT_TYPES = frozenset(
    {
        *STATUS_EVENTS.values(),
        "workflow_started",
        "step_started",
        "step_completed",
        "step_errored",
        "attempt_started",
        "attempt_completed",
        "attempt_errored",
        "sleep_started",
        "sleep_completed",
        "wait_started",
        "wait_completed",
        "wait_timed_out",
    }
)

Key = tuple[str, str]  # (workflow name, instance id)
MAX_KEPT_VALUE = 64 * 1024  # larger params/outputs are not kept in memory (see Raw)


class Raw:
    """A stored JSON value (params, an output) kept as its text and decoded only when an event is read,
    so emitting costs the engine nothing. Texts over MAX_KEPT_VALUE are dropped: the event then says
    `"[too large to stream: N bytes; see the instance details]"`."""

    __slots__ = ("text",)

    def __init__(self, text: str | None) -> None:
        self.text = text

    def value(self) -> Any:
        if self.text is not None and len(self.text) > MAX_KEPT_VALUE:
            return f"[too large to stream: {len(self.text)} bytes; see the instance details]"
        return to_api(loads(self.text))


def public(event: dict[str, Any]) -> dict[str, Any]:
    """An event as readers get it (Raw values decoded)."""
    if not any(isinstance(v, Raw) for v in event.values()):
        return event
    return {k: v.value() if isinstance(v, Raw) else v for k, v in event.items()}


class _Log:
    __slots__ = ("events", "next_id", "status")

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.next_id = 1
        self.status: str | None = None


class InstanceEvents:
    """The engine's event hub: per-instance logs (for `subscribe`) and one global ring (for SSE).

    `max_logs` instance logs are kept (least recently used dropped; rebuilt from storage when asked
    again), each at most `max_per_instance` events (oldest dropped); the global ring holds `ring`
    (enough for a reconnecting explorer page; the explorer reloads its lists after a longer gap).
    Both are memory held for the whole session: 100,000 new instances must not cost 100,000 logs.
    """

    def __init__(self, *, max_logs: int = 1_000, max_per_instance: int = 10_000, ring: int = 2_000) -> None:
        self._logs: OrderedDict[Key, _Log] = OrderedDict()
        self._max_logs = max_logs
        self._max_per_instance = max_per_instance
        self._ring: deque[tuple[int, str, dict[str, Any]]] = deque(maxlen=ring)
        self.seq = 0
        self.run_id = f"{int(time.time() * 1000):x}"  # tells this server process's sequence from another's
        self.closed = False  # the server is stopping: streams end
        self._changed: asyncio.Event | None = None

    def close(self) -> None:
        """Wake every waiter for the last time; `wait()` returns at once from now on."""
        self.closed = True
        self._wake()

    # -- emitting --------------------------------------------------------------------------------

    def emit(self, workflow: str, instance_id: str, type: str, **fields: Any) -> dict[str, Any]:
        """Record one event (now) and wake every listener; returns the event."""
        key = (workflow, instance_id)
        log = self._logs.get(key)
        event: dict[str, Any] = {"instanceId": instance_id, "eventId": 0, "timestamp": int(time.time() * 1000)}
        event["type"] = type
        event.update(fields)
        if log is not None:
            event["eventId"] = log.next_id
            log.next_id += 1
            log.events.append(event)
            if len(log.events) > self._max_per_instance:
                del log.events[0]
            self._logs.move_to_end(key)
        self.seq += 1
        self._ring.append((self.seq, workflow, event))
        self._wake()
        return event

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def created(self, workflow: str, instance_id: str) -> None:
        """A new instance (or a restarted one): start its log afresh, keeping ids increasing."""
        key = (workflow, instance_id)
        old = self._logs.pop(key, None)
        log = _Log()
        if old is not None:
            log.next_id = old.next_id
        self._logs[key] = log
        while len(self._logs) > self._max_logs:
            self._logs.popitem(last=False)
        log.status = "queued"
        self.emit(workflow, instance_id, "workflow_queued")

    def status(self, workflow: str, instance_id: str, status: str, **fields: Any) -> None:
        """The instance's status changed: emit its `workflow_*` event once per change."""
        log = self._logs.get((workflow, instance_id))
        if log is not None:
            if log.status == status:
                return
            log.status = status
        kind = STATUS_EVENTS.get(status)
        if kind is not None:
            self.emit(workflow, instance_id, kind, **fields)

    def started(self, workflow: str, instance_id: str, params_text: str) -> None:
        """`workflow_started` once per (re)start from the beginning; resumes only emit `workflow_running`."""
        log = self._logs.get((workflow, instance_id))
        if log is None or any(e["type"] == "workflow_started" for e in log.events):
            return
        self.emit(workflow, instance_id, "workflow_started", params=Raw(params_text))

    def finished(self, workflow: str, instance_id: str, status: str, output: str | None, error: str | None) -> None:
        fields: dict[str, Any] = {}
        if status == "complete":
            fields["output"] = Raw(output)
        elif status == "errored":
            fields["error"] = loads(error)
        self.status(workflow, instance_id, status, **fields)

    def deleted(self, workflow: str, instance_id: str | None) -> None:
        """pyflows-only `instance_deleted` on the global stream (all of a workflow's when id is None)."""
        if instance_id is None:
            for key in [k for k in self._logs if k[0] == workflow]:
                del self._logs[key]
        else:
            self._logs.pop((workflow, instance_id), None)
        self.seq += 1
        event = {"instanceId": instance_id, "eventId": 0, "timestamp": int(time.time() * 1000)}
        event["type"] = "instance_deleted"
        self._ring.append((self.seq, workflow, event))
        self._wake()

    # -- reading ---------------------------------------------------------------------------------

    def has_log(self, workflow: str, instance_id: str) -> bool:
        return (workflow, instance_id) in self._logs

    def seed(self, workflow: str, instance_id: str, events: list[dict[str, Any]], status: str | None) -> None:
        """Install a log rebuilt from storage (ids assigned here) for an instance without one."""
        key = (workflow, instance_id)
        if key in self._logs:
            return
        log = _Log()
        for event in events:
            event["eventId"] = log.next_id
            log.next_id += 1
            log.events.append(event)
        log.status = status
        self._logs[key] = log
        while len(self._logs) > self._max_logs:
            self._logs.popitem(last=False)

    def history(self, workflow: str, instance_id: str, cursor: int = 0) -> list[dict[str, Any]]:
        """Events of one instance with `eventId > cursor`, oldest first."""
        log = self._logs.get((workflow, instance_id))
        if log is None:
            return []
        return [public(e) for e in log.events if e["eventId"] > cursor]

    def since(self, seq: int) -> list[tuple[int, str, dict[str, Any]]]:
        """Global `(seq, workflow, event)` entries after `seq` still in the ring, oldest first."""
        if not self._ring or seq >= self.seq:
            return []
        first = self._ring[0][0]
        start = max(0, seq - first + 1)
        return [(n, wf, public(e)) for n, wf, e in (self._ring[i] for i in range(start, len(self._ring)))]

    async def wait(self, seq: int, timeout: float) -> bool:
        """Wait until an event after `seq` exists (True) or `timeout` seconds pass (False)."""
        if self.seq > seq or self.closed:
            return True
        if self._changed is None:
            self._changed = asyncio.Event()
        changed = self._changed
        try:
            await asyncio.wait_for(changed.wait(), timeout)
        except TimeoutError:
            return self.seq > seq
        return True


def events_from_history(instance_id: str, row: Any, status: str, history: Any) -> list[dict[str, Any]]:
    """Rebuild an instance's events (no ids yet) from its stored row and step history, time-ordered."""
    steps, attempts, _events = history
    out: list[tuple[int, int, dict[str, Any]]] = []
    order = 0

    def add(at: int | None, type: str, **fields: Any) -> None:
        nonlocal order
        if at is None:
            return
        order += 1
        out.append((at, order, {"instanceId": instance_id, "eventId": 0, "timestamp": at, "type": type, **fields}))

    add(row["queued_at_epoch_ms"], "workflow_queued")
    add(row["started_at_epoch_ms"], "workflow_started", params=Raw(row["params"]))
    by_step: dict[int, list[Any]] = {}
    for a in attempts:
        by_step.setdefault(a["step_pk"], []).append(a)
    for s in steps:
        name, count, started, ended = s["name"], s["count"], s["started_at_epoch_ms"], s["ended_at_epoch_ms"]
        base = {"stepName": name, "count": count}
        if s["kind"] == "do":
            add(started, "step_started", **base, config=loads(s["config"]) if s["config"] else None)
            for a in by_step.get(s["pk"], []):
                add(a["started_at_epoch_ms"], "attempt_started", **base, attempt=a["attempt"])
                if a["success"]:
                    add(a["ended_at_epoch_ms"], "attempt_completed", **base, attempt=a["attempt"])
                elif a["ended_at_epoch_ms"] is not None:
                    add(
                        a["ended_at_epoch_ms"], "attempt_errored", **base, attempt=a["attempt"], error=loads(a["error"])
                    )
            if s["state"] == "complete":
                config = loads(s["config"]) if s["config"] else None
                shown = REDACTED if is_sensitive(config) else Raw(s["output"])
                add(ended, "step_completed", **base, output=shown)
            elif s["state"] == "errored":
                add(ended, "step_errored", **base)
        elif s["kind"] == "sleep":
            wake = s["wake_at_epoch_ms"]
            add(started, "sleep_started", **base, durationMs=(wake - started) if wake else 0, wakeAt=wake)
            if s["state"] == "complete":
                add(ended, "sleep_completed", **base)
        else:
            add(started, "wait_started", **base, eventType=s["event_type"], wakeAt=s["wake_at_epoch_ms"])
            if s["state"] == "complete":
                add(ended, "wait_completed", **base)
            elif s["state"] == "errored":
                add(ended, "wait_timed_out", **base)
    final = STATUS_EVENTS.get(status)
    if final is not None and final != "workflow_queued":
        extra: dict[str, Any] = {}
        if status == "complete":
            extra["output"] = Raw(row["output"])
        elif status == "errored":
            extra["error"] = loads(row["error"])
        add(row["ended_at_epoch_ms"] or int(time.time() * 1000), final, **extra)
    out.sort(key=lambda item: (item[0], item[1]))
    return [e for _, _, e in out]
