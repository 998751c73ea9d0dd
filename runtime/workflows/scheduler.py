"""Who runs next: concurrency slots, the start queues, and the wake timers of hibernated instances.

At most `max_running` instances hold a slot (are `running`); waiting ones give theirs back.
New instances start oldest first, and an instance returning from a wait (or resumed) goes before
any new one.

Hibernated instances are not held in memory at all: the database row (status `waiting`, its
`wake_at_epoch_ms`) is the truth. `WakeTimers` keeps only the next page of wake-ups in a heap, with
one loop timer armed for the earliest, and pages in the next ones from SQLite as the heap drains,
so 100,000 sleeping instances cost a thousand heap entries, and a start reads one page, not every
row. An entry is only a hint: when it fires, the engine re-reads the row and decides.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol


class Schedulable(Protocol):
    holds_slot: bool


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

    def close(self) -> None:
        self._closed = True


class WakeTimers:
    """The next `page` wake-ups `(wake_at_epoch_ms, instance pk)` in memory; the rest stay in SQLite.

    `fetch_page(after, limit)` returns the next rows in `(wake_at, pk)` order strictly after `after`
    (None: from the start); it must see every write queued before it (the engine runs it through the
    writer). `on_due(pks)` is called with the pks whose time has come; it re-reads their rows.
    Everything up to `_horizon` is in the heap (or was, and fired); a wake-up added beyond it is
    already on disk and is paged in when the heap reaches it.
    """

    def __init__(
        self,
        fetch_page: Callable[[tuple[int, int] | None, int], Awaitable[list[tuple[int, int]]]],
        on_due: Callable[[list[int]], None],
        *,
        page: int = 1000,
    ) -> None:
        self._fetch_page = fetch_page
        self._on_due = on_due
        self._page = page
        self._heap: list[tuple[int, int]] = []
        self._horizon: tuple[int, int] | None = None
        self._complete = False  # every waiting row with a wake time has been paged in
        self._timer: asyncio.TimerHandle | None = None
        self._refill: asyncio.Task[None] | None = None
        self._closed = False

    async def load(self) -> None:
        """Read the first page (at start)."""
        self._take(await self._fetch_page(None, self._page))
        self._arm()

    def add(self, pk: int, wake_at: int) -> None:
        """An instance hibernated until `wake_at` (its row already says so, or will once queued writes land)."""
        if self._complete or self._horizon is None or (wake_at, pk) <= self._horizon:
            heapq.heappush(self._heap, (wake_at, pk))
            self._arm()

    def _take(self, rows: list[tuple[int, int]]) -> None:
        for row in rows:
            heapq.heappush(self._heap, row)
        if len(rows) < self._page:
            self._complete = True
        elif rows:
            self._horizon = rows[-1]

    def _arm(self) -> None:
        if self._closed:
            return
        if self._timer:
            self._timer.cancel()
            self._timer = None
        if not self._heap and not self._complete:
            self._start_refill()
            return
        if self._heap:
            delay = max(0.0, self._heap[0][0] / 1000 - time.time())
            self._timer = asyncio.get_running_loop().call_later(min(delay, 3600.0), self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = int(time.time() * 1000)
        due: list[int] = []
        while self._heap and self._heap[0][0] <= now:
            due.append(heapq.heappop(self._heap)[1])
        if due:
            self._on_due(list(dict.fromkeys(due)))
        if len(self._heap) < self._page // 4 and not self._complete:
            self._start_refill()
        self._arm()

    def _start_refill(self) -> None:
        if self._refill is None and not self._closed:
            self._refill = asyncio.ensure_future(self._run_refill())

    async def _run_refill(self) -> None:
        try:
            rows = await self._fetch_page(self._horizon, self._page)
            if self._closed:
                return
            self._complete = False
            self._take(rows)
        finally:
            self._refill = None
        self._arm()

    def close(self) -> None:
        self._closed = True
        if self._timer:
            self._timer.cancel()
            self._timer = None
        if self._refill is not None:
            self._refill.cancel()
