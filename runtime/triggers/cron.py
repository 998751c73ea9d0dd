"""Cron Triggers: call the Worker's `scheduled()` handler for a cron, now or on its schedule.

    controller = ScheduledController(cron, scheduled_time_ms)
    outcome = await fire(worker, env, cron, scheduled_time_ms)   # {"outcome": "ok"|"exception", "noRetry"}
    runner = CronRunner(crons, callback); runner.start(); ...; await runner.close()

`controller.cron`, `controller.scheduledTime` (epoch ms) and `controller.type == "scheduled"` are the
fields of Cloudflare's ScheduledController (developers.cloudflare.com/workers/runtime-apis/handlers/scheduled/).
Crons are UTC, 5 fields, parsed with croniter. Each firing prints one log line:
    [pyflows:info] scheduled "*/5 * * * *" at 2026-11-29T20:45:00.000Z: ok (3ms)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pyflows.runtime.protocol.durations import iso
from pyflows.runtime.worker.tracebacks import user_traceback

log = logging.getLogger("pyflows.triggers")

__all__ = ["CronRunner", "ScheduledController", "fire", "next_fire_ms", "previous_fire_ms"]


class ScheduledController:
    """What `scheduled(controller, env, ctx)` receives."""

    def __init__(self, cron: str, scheduled_time: int) -> None:
        self.cron = cron
        self.scheduledTime = scheduled_time  # noqa: N815 - Cloudflare's name
        self.type = "scheduled"
        self._no_retry = False

    @property
    def scheduled_time(self) -> int:
        return self.scheduledTime

    def noRetry(self) -> None:  # noqa: N802 - Cloudflare's name
        """Do not retry this invocation if it fails (kept for the result's `noRetry`)."""
        self._no_retry = True

    def __repr__(self) -> str:
        return f"ScheduledController(cron={self.cron!r}, scheduledTime={self.scheduledTime})"


def next_fire_ms(cron: str, after_ms: int) -> int:
    """The first time strictly after `after_ms` (epoch ms) that `cron` fires (UTC)."""
    from croniter import croniter

    base = dt.datetime.fromtimestamp(after_ms / 1000, dt.UTC)
    nxt: dt.datetime = croniter(cron, base).get_next(dt.datetime)
    return int(nxt.timestamp() * 1000)


def previous_fire_ms(cron: str, at_ms: int) -> int:
    """The last time at or before `at_ms` that `cron` fired (UTC)."""
    from croniter import croniter

    base = dt.datetime.fromtimestamp(at_ms / 1000 + 0.001, dt.UTC)
    prev: dt.datetime = croniter(cron, base).get_prev(dt.datetime)
    return int(prev.timestamp() * 1000)


async def fire(worker: Any, env: Any, cron: str, scheduled_time: int | None = None) -> dict[str, Any]:
    """Run the Worker's scheduled handler once; never raises for a handler error (it is logged)."""
    when = int(time.time() * 1000) if scheduled_time is None else int(scheduled_time)
    controller = ScheduledController(cron, when)
    started = time.perf_counter()
    outcome = "ok"
    try:
        await worker.scheduled(controller, env)
    except Exception as exc:
        outcome = "exception"
        text = user_traceback(exc)
        sys.stderr.write(
            f"✘ [ERROR] Uncaught {type(exc).__name__} in scheduled() for cron {cron!r}: {exc}\n\n{text}\n\n"
        )
        sys.stderr.flush()
    ms = round((time.perf_counter() - started) * 1000)
    sys.stdout.write(f'[pyflows:info] scheduled "{cron}" at {iso(when)}: {outcome} ({ms}ms)\n')
    sys.stdout.flush()
    return {"outcome": outcome, "noRetry": controller._no_retry}


class CronRunner:
    """Fires `callback(cron, scheduled_ms)` at each cron's next time, for as long as it runs."""

    def __init__(self, crons: list[str], callback: Callable[[str, int], Awaitable[Any]]) -> None:
        self.crons = list(dict.fromkeys(crons))
        self.callback = callback
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.ensure_future(self._loop(c)) for c in self.crons]

    async def _loop(self, cron: str) -> None:
        last = int(time.time() * 1000)
        while True:
            due = next_fire_ms(cron, last)
            await asyncio.sleep(max(0.0, due / 1000 - time.time()))
            last = due
            try:
                await self.callback(cron, due)
            except Exception:  # a broken callback must not stop the schedule
                log.exception("cron %s: firing failed", cron)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)
        self._tasks = []
