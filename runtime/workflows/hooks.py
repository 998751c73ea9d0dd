"""Seams the engine leaves for tests: a clock, and optional per-instance overrides of steps.

The engine reads time and arms workflow timers (sleeps, retry back-offs, event timeouts,
hibernation wake-ups) only through its `Clock`, so a test can move time instead of waiting. It asks
`EngineHooks` (when `EngineOptions.hooks` is set; `None` costs one attribute check per step) whether
a step is mocked, a sleep or retry delay is disabled, or an event wait must time out, and tells it
when an instance changed. `pyflows.testing` implements both; the dev server uses neither.

    clock.now_ms() -> int                          epoch milliseconds
    clock.call_at(when_ms, callback) -> handle     handle.cancel(); callback() runs on the loop

    hooks.for_instance(workflow, id) -> InstanceHooks | None
    await hooks.instance_created(workflow, id)     before the instance is scheduled (modifiers apply)
    hooks.changed(workflow, id, step=False)        after a status change (step=True: a step record was saved)

    InstanceHooks.step_override(name, count, attempt, timeout_ms)
        -> None (run the step) | ("error", {"name", "message"}) | ("timeout", {"name", "message"})
           | ("result", value)                     checked in that order, as Cloudflare's test kit does
    InstanceHooks.retry_delay_ms(name, count, delay_ms) -> int
    InstanceHooks.sleep_disabled(name, count) -> bool          step.sleep / step.sleep_until end at once
    InstanceHooks.event_timeout_forced(name, count) -> bool    step.wait_for_event times out at once
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock:
    """Real time: `time.time()` and the running loop's `call_later`."""

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def call_at(self, when_ms: int, callback: Callable[[], None]) -> TimerHandle:
        delay = max(0.0, (when_ms - self.now_ms()) / 1000)
        return asyncio.get_running_loop().call_later(delay, callback)


REAL_CLOCK = Clock()


class InstanceHooks(Protocol):
    def step_override(self, name: str, count: int, attempt: int, timeout_ms: int) -> tuple[str, Any] | None: ...

    def retry_delay_ms(self, name: str, count: int, delay_ms: int) -> int: ...

    def sleep_disabled(self, name: str, count: int) -> bool: ...

    def event_timeout_forced(self, name: str, count: int) -> bool: ...


class EngineHooks(Protocol):
    def for_instance(self, workflow: str, instance_id: str) -> InstanceHooks | None: ...

    async def instance_created(self, workflow: str, instance_id: str) -> None: ...

    def changed(self, workflow: str, instance_id: str, *, step: bool = False) -> None: ...
