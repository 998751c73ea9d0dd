"""Test the Cron Trigger and its Workflow with pyflows.testing: in-process, on the real engine.

`pyflows_project.scheduled(cron, time)` calls `Default.scheduled()` as a firing would (as
Cloudflare's test kit's `SELF.scheduled` does). The last test fires it under a real `pyflows dev`
through the test routes Wrangler offers.
"""

from __future__ import annotations

import pytest
from pyflows.testing import introspect_workflow

pytestmark = pytest.mark.anyio

SIX_AM = 1767247200000  # 2026-01-01T06:00:00Z, as the cron "0 6 * * *" would fire it


async def test_a_firing_creates_the_days_report(pyflows_project):
    async with introspect_workflow(pyflows_project.env.REPORT) as workflow:
        await pyflows_project.scheduled("0 6 * * *", SIX_AM)
        (instance,) = await workflow.get()
        assert instance.id == "report-2026-01-01"
        assert await instance.get_output() == {"report": "70 orders on 2026-01-01", "cron": "0 6 * * *"}
        assert instance.steps.names() == ["collect", "summarize"]


async def test_a_second_firing_the_same_day_starts_nothing(pyflows_project):
    async with introspect_workflow(pyflows_project.env.REPORT) as workflow:
        await pyflows_project.scheduled("0 6 * * *", SIX_AM)
        await pyflows_project.scheduled("0 6 * * *", SIX_AM + 3_600_000)  # an hour later, same day
        assert [i.id for i in await workflow.get()] == ["report-2026-01-01"]


@pytest.mark.e2e
def test_end_to_end_under_pyflows_dev(dev):
    assert dev.get(f"/__scheduled?cron=0+6+*+*+*&time={SIX_AM}") == "ok"
    final = dev.wait_for("report-2026-01-01", {"complete", "errored", "terminated"})
    assert final["status"] == "complete", final
    assert final["output"] == {"report": "70 orders on 2026-01-01", "cron": "0 6 * * *"}
    # The same day again: the id already exists, so nothing new starts.
    assert dev.get(f"/cdn-cgi/handler/scheduled?cron=0+6+*+*+*&time={SIX_AM + 3_600_000}") == "ok"
    listed = dev.cli("instances", "list", "pyflows-cron")
    assert [i["id"] for i in listed] == ["report-2026-01-01"]
