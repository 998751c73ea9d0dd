"""Who runs next: concurrency slots, the start queues, and the wake timers of hibernated instances.

At most `max_running` instances hold a slot (are `running`); waiting ones give theirs back.
New instances start oldest first, and an instance returning from a wait (or resumed) goes before
any new one. Hibernated instances sit in a heap keyed by wake time, with one loop timer armed for
the earliest; a cancelled entry is skipped by its token rather than removed.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from pyflows.runtime.protocol.durations import now_ms


class Schedulable(Protocol):
    holds_slot: bool
    hibernated: bool
    timer_token: int


class Scheduler:
    def __init__(
        self,
        max_running: int,
        *,
        start: Callable[[Any], None],
        startable: Callable[[Any, bool], bool],
    ) -> None:
        """`start(inst)` begins a replay; `startable(inst, returning)` says if a queued entry is still due."""
        self.max_running = max_running
        self._start = start
        self._startable = startable
        self._new: deque[Any] = deque()
        self._returning: deque[tuple[Any, asyncio.Future[None] | None]] = deque()
        self.running = 0
        self._heap: list[tuple[int, int, int, Any]] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    # -- slots and queues ----------------------------------------------------------------------------

    def add_new(self, inst: Schedulable) -> None:
        self._new.append(inst)
        self._pump()

    def add_returning(self, inst: Schedulable) -> None:
        self._returning.append((inst, None))
        self._pump()

    async def acquire(self, inst: Schedulable) -> None:
        """A live run coming back from a wait takes a slot, queueing (first in line) when none is free."""
        if self.running < self.max_running and not self._returning:
            self._take(inst)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._returning.append((inst, fut))
        self._pump()
        await fut

    def release(self, inst: Schedulable) -> None:
        if inst.holds_slot:
            inst.holds_slot = False
            self.running -= 1
            self._pump()

    def _take(self, inst: Schedulable) -> None:
        inst.holds_slot = True
        self.running += 1

    def _pump(self) -> None:
        while self.running < self.max_running and not self._closed:
            if self._returning:
                inst, fut = self._returning.popleft()
                if fut is not None:  # a live run waiting in acquire()
                    if not fut.done():
                        self._take(inst)
                        fut.set_result(None)
                    continue
                if not self._startable(inst, True):
                    continue
            elif self._new:
                inst = self._new.popleft()
                if not self._startable(inst, False):
                    continue
            else:
                break
            self._take(inst)
            self._start(inst)

    # -- hibernation timers --------------------------------------------------------------------------

    def hibernate_until(self, inst: Schedulable, wake_at: int) -> None:
        inst.hibernated = True
        inst.timer_token += 1
        heapq.heappush(self._heap, (wake_at, next(self._seq), inst.timer_token, inst))
        self._arm()

    def forget_timer(self, inst: Schedulable) -> None:
        """The instance is no longer hibernated (paused, restarted, deleted...): drop its wake-up."""
        inst.hibernated = False
        inst.timer_token += 1

    def wake(self, inst: Schedulable) -> None:
        """Replay a hibernated instance now (its timer fired, or an event arrived)."""
        self.forget_timer(inst)
        self.add_returning(inst)

    def _arm(self) -> None:
        if self._timer:
            self._timer.cancel()
            self._timer = None
        while self._heap and self._heap[0][3].timer_token != self._heap[0][2]:
            heapq.heappop(self._heap)
        if self._heap and not self._closed:
            delay = max(0.0, self._heap[0][0] / 1000 - time.time())
            self._timer = asyncio.get_running_loop().call_later(min(delay, 3600.0), self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = now_ms()
        while self._heap and self._heap[0][0] <= now:
            _, _, token, inst = heapq.heappop(self._heap)
            if token == inst.timer_token and inst.hibernated:
                self.wake(inst)
        self._arm()

    def close(self) -> None:
        self._closed = True
        if self._timer:
            self._timer.cancel()
            self._timer = None
