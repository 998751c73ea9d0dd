"""Fire the Cron Trigger the way Wrangler lets you, and check the Workflow it starts."""

from __future__ import annotations


def test_scheduled_creates_one_report_per_day(dev):
    # 2026-01-01T06:00:00Z, as the cron "0 6 * * *" would fire it.
    assert dev.get("/__scheduled?cron=0+6+*+*+*&time=1767247200000") == "ok"
    final = dev.wait_for("report-2026-01-01", {"complete", "errored", "terminated"})
    assert final["status"] == "complete", final
    assert final["output"] == {"report": "70 orders on 2026-01-01", "cron": "0 6 * * *"}
    # The same day again: the id already exists, so nothing new starts.
    assert dev.get("/cdn-cgi/handler/scheduled?cron=0+6+*+*+*&time=1767250800000") == "ok"
    listed = dev.cli("instances", "list", "pyflows-cron")
    assert [i["id"] for i in listed] == ["report-2026-01-01"]
