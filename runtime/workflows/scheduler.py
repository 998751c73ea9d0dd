"""Who runs next: concurrency slots, the start queues, and the wake timers of hibernated instances.

At most `max_running` instances hold a slot (are `running`), and at most a workflow's
`concurrency.limit` of one workflow; waiting ones give theirs back. New instances start oldest
first, and an instance returning from a wait (or resumed) goes before any new one.

Hibernated instances are not held in memory at all: the database row (status `waiting`, its
`wake_at_epoch_ms`) is the truth. `WakeTimers` keeps only the next page of wake-ups in a heap, with
one loop timer armed for the earliest, and pages in the next ones from SQLite as the heap drains,
so 100,000 sleeping instances cost a thousand heap entries, and a start reads one page, not every
row. An entry is only a hint: when it fires, the engine re-reads the row and decides.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pyflows.runtime.workflows.hooks import REAL_CLOCK, Clock, TimerHandle


class Schedulable(Protocol):
    holds_slot: bool


@dataclass
class _Lane:
    """One workflow's queues and slots; `limit` is its `concurrency.limit` (None: only the global one)."""

    limit: int | None = None
    running: int = 0
    new: deque[tuple[int, Any]] = field(default_factory=deque)
    returning: deque[tuple[int, Any, asyncio.Future[None] | None]] = field(default_factory=deque)

    def has_slot(self) -> bool:
        return self.limit is None or self.running < self.limit


class Scheduler:
    """Slots and start order. Every instance belongs to a lane (its workflow, `lane_of(inst)`).

    An instance runs when a global slot (`max_running`, the dev server's --max-concurrency) and a
    slot of its lane (`limits[workflow]`, the workflow's `concurrency.limit`) are both free; the
    others stay queued. Among those that may start, an instance returning from a wait (or resumed)
    goes first, then new ones, each oldest first across all workflows.
    """

    def __init__(
        self,
        max_running: int,
        *,
        start: Callable[[Any], None],
        startable: Callable[[Any, bool], bool],
        lane_of: Callable[[Any], str] = lambda inst: "",
        limits: dict[str, int] | None = None,
    ) -> None:
        """`start(inst)` begins a replay; `startable(inst, returning)` says if a queued entry is still due."""
        self.max_running = max_running
        self._start = start
        self._startable = startable
        self._lane_of = lane_of
        self._lanes: dict[str, _Lane] = {name: _Lane(limit) for name, limit in (limits or {}).items()}
        self._seq = itertools.count()
        self._returning_queued = 0
        self.running = 0
        self._closed = False

    def _lane(self, inst: Any) -> _Lane:
        name = self._lane_of(inst)
        lane = self._lanes.get(name)
        if lane is None:
            lane = self._lanes[name] = _Lane()
        return lane

    # -- slots and queues ----------------------------------------------------------------------------

    def add_new(self, inst: Schedulable) -> None:
        self._lane(inst).new.append((next(self._seq), inst))
        self._pump()

    def add_returning(self, inst: Schedulable) -> None:
        self._lane(inst).returning.append((next(self._seq), inst, None))
        self._returning_queued += 1
        self._pump()

    async def acquire(self, inst: Schedulable) -> None:
        """A live run coming back from a wait takes a slot, queueing (first in line) when none is free."""
        lane = self._lane(inst)
        if self.running < self.max_running and lane.has_slot() and not self._returning_queued:
            self._take(inst, lane)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lane.returning.append((next(self._seq), inst, fut))
        self._returning_queued += 1
        self._pump()
        await fut

    def release(self, inst: Schedulable) -> None:
        if inst.holds_slot:
            inst.holds_slot = False
            self.running -= 1
            self._lane(inst).running -= 1
            self._pump()

    def _take(self, inst: Schedulable, lane: _Lane) -> None:
        inst.holds_slot = True
        self.running += 1
        lane.running += 1

    def _next_lane(self) -> tuple[_Lane, bool] | None:
        """The lane whose head starts next, and whether that head is a returning one."""
        best: tuple[int, int, _Lane] | None = None  # (0 returning / 1 new, seq, lane)
        for lane in self._lanes.values():
            if not lane.has_slot():
                continue
            if lane.returning:
                key = (0, lane.returning[0][0], lane)
            elif lane.new:
                key = (1, lane.new[0][0], lane)
            else:
                continue
            if best is None or key[:2] < best[:2]:
                best = key
        return None if best is None else (best[2], best[0] == 0)

    def _pump(self) -> None:
        while self.running < self.max_running and not self._closed:
            pick = self._next_lane()
            if pick is None:
                break
            lane, returning = pick
            if returning:
                _, inst, fut = lane.returning.popleft()
                self._returning_queued -= 1
                if fut is not None:  # a live run waiting in acquire()
                    if not fut.done():
                        self._take(inst, lane)
                        fut.set_result(None)
                    continue
                if not self._startable(inst, True):
                    continue
            else:
                _, inst = lane.new.popleft()
                if not self._startable(inst, False):
                    continue
            self._take(inst, lane)
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
        clock: Clock = REAL_CLOCK,
    ) -> None:
        self._fetch_page = fetch_page
        self._clock = clock
        self._on_due = on_due
        self._page = page
        self._heap: list[tuple[int, int]] = []
        self._horizon: tuple[int, int] | None = None
        self._complete = False  # every waiting row with a wake time has been paged in
        self._timer: TimerHandle | None = None
        self._armed_at = 0  # epoch ms the timer fires at (while there is one)
        self._refill: asyncio.Task[None] | None = None
        self._closed = False

    async def load(self, *, empty: bool = False) -> None:
        """Read the first page (at start); `empty`: the store is known to hold no instance."""
        self._take([] if empty else await self._fetch_page(None, self._page))
        self._arm()

    def add(self, pk: int, wake_at: int) -> None:
        """An instance hibernated until `wake_at` (its row already says so, or will once queued writes land)."""
        if self._complete or self._horizon is None or (wake_at, pk) <= self._horizon:
            heapq.heappush(self._heap, (wake_at, pk))
            if len(self._heap) > 2 * self._page:
                self._trim()
            if self._timer is None or wake_at < self._armed_at:
                self._arm()

    def _trim(self) -> None:
        """Keep the next `page` wake-ups; the later ones are on disk and are paged in when reached
        (100,000 new sleepers would otherwise all stay in the heap)."""
        self._heap = heapq.nsmallest(self._page, self._heap)  # sorted, so already a heap
        self._horizon = self._heap[-1]
        self._complete = False

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
            when = min(self._heap[0][0], self._clock.now_ms() + 3_600_000)
            self._armed_at = when
            self._timer = self._clock.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = self._clock.now_ms()
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
