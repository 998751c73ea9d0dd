"""The test clock: real time plus an offset you can move, or frozen time, for one test's engine.

Cloudflare's kit can only switch sleeps off; here every workflow timer (`step.sleep`,
`step.sleep_until`, retry back-offs, `wait_for_event` timeouts, hibernation wake-ups) runs on this
clock, so a test can step through them:

    await project.clock.advance("2 hours")   # fire every timer due in the next 2 hours, in order
    await project.clock.run_until_idle()     # let instances run until none can progress without time

Unfrozen (the default), time also flows as usual, so a real "2 seconds" sleep still ends by
itself. `freeze()` stops it: then only `advance()` moves time, and runs are deterministic.
Step attempt timeouts (`config.timeout`) stay in real time: they bound real work.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyflows.runtime.protocol.durations import iso, to_ms
from pyflows.runtime.workflows.hooks import Clock
from pyflows.testing.introspection import WaitTimeoutError, timeout_s

if TYPE_CHECKING:
    from pyflows.runtime.workflows.engine import Engine


class _Timer:
    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: int, callback: Callable[[], None]) -> None:
        self.when, self.callback, self.cancelled = when, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class TestClock(Clock):
    """A `Clock` for the engine (runtime/workflows/hooks.py) that tests can move; see the module docstring."""

    __test__ = False

    def __init__(self) -> None:
        self.offset_ms = 0
        self._frozen_at: int | None = None
        self._heap: list[tuple[int, int, _Timer]] = []
        self._seq = itertools.count()
        self._armed: asyncio.TimerHandle | None = None
        self.engine: Engine | None = None

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def now_ms(self) -> int:
        base = self._frozen_at if self._frozen_at is not None else int(time.time() * 1000)
        return base + self.offset_ms

    def call_at(self, when_ms: int, callback: Callable[[], None]) -> _Timer:
        timer = _Timer(when_ms, callback)
        heapq.heappush(self._heap, (when_ms, next(self._seq), timer))
        self._arm()
        return timer

    def freeze(self) -> None:
        """Stop real time: from now on only `advance()` moves the clock."""
        if self._frozen_at is None:
            self._frozen_at = int(time.time() * 1000)
            self._arm()

    def _next(self) -> _Timer | None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][2] if self._heap else None

    def _arm(self) -> None:
        """Unfrozen: a real loop timer for the earliest due timer, so sleeps also end by themselves."""
        if self._armed is not None:
            self._armed.cancel()
            self._armed = None
        timer = self._next()
        if timer is None or self.frozen:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._armed = loop.call_later(max(0.0, (timer.when - self.now_ms()) / 1000), self._fire_due)

    def _fire_due(self) -> None:
        self._armed = None
        now = self.now_ms()
        while (timer := self._next()) is not None and timer.when <= now:
            heapq.heappop(self._heap)
            timer.callback()
        self._arm()

    async def advance(self, duration: Any) -> None:
        """Move the clock forward by `duration` ("2 hours", or ms), firing due timers in order and letting
        the instances run until idle after each one."""
        ms = to_ms(duration, what="duration of clock.advance()")
        target = self.now_ms() + ms
        await self.run_until_idle()
        while (timer := self._next()) is not None and timer.when <= target:
            heapq.heappop(self._heap)
            if timer.when > self.now_ms():
                self.offset_ms += timer.when - self.now_ms()
            timer.callback()
            await self.run_until_idle()
        if target > self.now_ms():
            self.offset_ms += target - self.now_ms()
        self._arm()
        await self.run_until_idle()

    async def run_until_idle(self, *, timeout: float | None = None) -> None:
        """Wait until no instance can progress without time passing or an event arriving (all are
        waiting, paused or finished). WaitTimeoutError naming the busy ones after `timeout` real seconds."""
        engine = self.engine
        if engine is None:
            return
        limit = timeout_s(timeout, "run_until_idle")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        quiet = 0
        while True:
            busy = _busy(engine)
            quiet = 0 if busy else quiet + 1
            if quiet >= 3:  # idle on three looks in a row: nothing was scheduled in between
                return
            if loop.time() > deadline:
                raise WaitTimeoutError(
                    f"run_until_idle: after {limit:g} s these instances are still busy: {', '.join(busy)}."
                )
            await asyncio.sleep(0 if not busy else 0.001)

    def __repr__(self) -> str:
        return f"<TestClock {iso(self.now_ms())}{' frozen' if self.frozen else ''}, {len(self._heap)} timers>"


def _busy(engine: Engine) -> list[str]:
    out = []
    for (workflow, instance_id), inst in engine._live.items():  # noqa: SLF001
        run = inst.run
        if inst.status in ("queued", "running", "waitingForPause"):
            out.append(f"{workflow}/{instance_id} ({inst.status})")
        elif run is not None and any(w.fut.done() for w in run.waits):
            out.append(f"{workflow}/{instance_id} (waking up)")
    store = engine.store
    if store._pending or store._flushing is not None:  # noqa: SLF001 - writes still being committed
        out.append("(state writes in flight)")
    return out
