"""Workflow `schedules`: cron expressions on a workflow binding that create instances by themselves.

    scheduler = WorkflowScheduler(engine, [WorkflowSchedule(workflow, cron), ...], state_dir)
    await scheduler.start(); ...; await scheduler.close()

As Cloudflare's cron schedules for Workflows (changelog 2026-06-02, "Schedule Workflow instances
directly from your Workflow binding"; config `workflows[].schedules`: a cron string or an array of
them, workers-sdk packages/workers-utils/src/config/environment.ts `WorkflowBinding.schedules`).
Each firing creates one instance, with what Cloudflare's own engine gives it (workers-sdk
packages/workflows-shared/src/lib/cron.ts `getCronInstanceId` and tests/cron.test.ts):
- id `"<cron>-<scheduledTime>"`, e.g. `"0 * * * *-1767225600000"` (scheduledTime in epoch ms), so a
  firing can never create two instances. Such ids have spaces, `*` and `/`, which a user's own
  `create()` may not use; the API and CLI address them like any other id;
- `event["schedule"] = {"cron", "scheduledTime"}` and payload `{}`.
The last firing of each schedule is stored (`triggers.sqlite`); ticks missed while the dev server was
down are run **once** at start (the latest one), not once per missed tick. The first start of a
schedule only records the time. Cloudflare's engine creates the next firing's instance ahead of time
(status `queued` until its time comes); pyflows creates it when it fires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from pyflows.runtime.config.triggers import WorkflowSchedule
from pyflows.runtime.errors import InstanceExistsError
from pyflows.runtime.protocol.durations import iso
from pyflows.runtime.triggers.cron import next_fire_ms, previous_fire_ms

log = logging.getLogger("pyflows.triggers")

__all__ = ["WorkflowScheduler", "schedule_instance_id"]


def schedule_instance_id(cron: str, scheduled_ms: int) -> str:
    """`"<cron>-<scheduledTime>"`: the id Cloudflare gives the instance a schedule creates
    (workers-sdk packages/workflows-shared/src/lib/cron.ts `getCronInstanceId`)."""
    return f"{cron}-{scheduled_ms}"


class WorkflowScheduler:
    def __init__(self, engine: Any, schedules: list[WorkflowSchedule], state_dir: Path) -> None:
        self.engine = engine
        self.schedules = schedules
        path = state_dir / "triggers.sqlite"
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        path.chmod(0o600)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS schedules (workflow TEXT NOT NULL, cron TEXT NOT NULL,
                last_epoch_ms INTEGER NOT NULL, PRIMARY KEY (workflow, cron));
            CREATE TABLE IF NOT EXISTS schedule_instances (workflow TEXT NOT NULL, id TEXT NOT NULL,
                cron TEXT NOT NULL, scheduled_epoch_ms INTEGER NOT NULL, PRIMARY KEY (workflow, id));
            """
        )
        self._tasks: list[asyncio.Task[None]] = []
        engine.event_extra = self.event_extra

    def event_extra(self, workflow: str, instance_id: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT cron, scheduled_epoch_ms FROM schedule_instances WHERE workflow = ? AND id = ?",
            (workflow, instance_id),
        ).fetchone()
        return None if row is None else {"schedule": {"cron": row[0], "scheduledTime": int(row[1])}}

    async def fire(self, schedule: WorkflowSchedule, scheduled_ms: int) -> str | None:
        instance_id = schedule_instance_id(schedule.cron, scheduled_ms)
        with self.db:
            self.db.execute(
                "INSERT OR IGNORE INTO schedule_instances VALUES (?, ?, ?, ?)",
                (schedule.workflow, instance_id, schedule.cron, scheduled_ms),
            )
            self.db.execute(
                "INSERT OR REPLACE INTO schedules VALUES (?, ?, ?)", (schedule.workflow, schedule.cron, scheduled_ms)
            )
        try:
            await self.engine.create(schedule.workflow, id=instance_id, params={}, scheduled=True)
        except InstanceExistsError:
            return None
        sys.stdout.write(
            f'[pyflows:info] schedule "{schedule.cron}" at {iso(scheduled_ms)}: created {schedule.workflow} '
            f'instance "{instance_id}"\n'
        )
        sys.stdout.flush()
        return instance_id

    async def start(self) -> None:
        now = int(time.time() * 1000)
        for s in self.schedules:
            row = self.db.execute(
                "SELECT last_epoch_ms FROM schedules WHERE workflow = ? AND cron = ?", (s.workflow, s.cron)
            ).fetchone()
            if row is None:
                with self.db:
                    self.db.execute("INSERT INTO schedules VALUES (?, ?, ?)", (s.workflow, s.cron, now))
                last = now
            else:
                missed = previous_fire_ms(s.cron, now)
                if missed > int(row[0]):  # one catch-up run for everything missed while down
                    await self.fire(s, missed)
                last = max(now, missed)
            self._tasks.append(asyncio.ensure_future(self._loop(s, last)))

    async def _loop(self, schedule: WorkflowSchedule, last: int) -> None:
        while True:
            due = next_fire_ms(schedule.cron, last)
            await asyncio.sleep(max(0.0, due / 1000 - time.time()))
            last = due
            try:
                await self.fire(schedule, due)
            except Exception:
                log.exception(
                    "schedule %s of workflow %s: creating the instance failed", schedule.cron, schedule.workflow
                )

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        self.db.close()
