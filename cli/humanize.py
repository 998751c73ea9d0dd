"""Words and times as Wrangler prints them: en-US local dates, date-fns durations, emoji labels."""

from __future__ import annotations

from datetime import UTC, datetime

from pyflows.runtime.protocol.statuses import STATUSES

_STATUS_LABELS = {
    "complete": "✅ Completed",
    "errored": "❌ Errored",
    "unknown": "❓ Unknown",
    "paused": "⏸️ Paused",
    "queued": "⌛ Queued",
    "running": "▶ Running",
    "terminated": "🚫 Terminated",
    "waiting": "⏰ Waiting",
    "waitingForPause": "⏱️ Waiting for Pause",
}

_STEP_TYPE_LABELS = {
    "step": "🎯 Step",
    "sleep": "💤 Sleeping",
    "termination": "🚫 Termination",
    "waitForEvent": "👀 Waiting for event",
}

_TRIGGER_LABELS = {"api": "🌎 API", "binding": "🔗 Binding", "cron": "⌛ Cron", "event": "📩 Event"}

# The statuses `--status` accepts, in the order Wrangler lists them.
INSTANCE_STATUSES = STATUSES


def status_label(status: object) -> str:
    return _STATUS_LABELS.get(str(status), "❓ Unknown")


def step_type_label(step_type: object) -> str:
    return _STEP_TYPE_LABELS.get(str(step_type), "❓ Unknown")


def trigger_label(source: object) -> str:
    return _TRIGGER_LABELS.get(str(source), "❓ Unknown")


def parse_iso(value: object) -> datetime | None:
    """An API timestamp (`2026-11-21T12:31:26.075Z`) as an aware datetime, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def now() -> datetime:
    return datetime.now(UTC)


def local_datetime(value: object) -> str:
    """JavaScript's `new Date(value).toLocaleString()` in en-US: `11/21/2026, 12:31:26 PM`, local time."""
    moment = value if isinstance(value, datetime) else parse_iso(value)
    if moment is None:
        return "Invalid Date"
    local = moment.astimezone()
    hour = local.hour % 12 or 12
    half = "AM" if local.hour < 12 else "PM"
    return f"{local.month}/{local.day}/{local.year}, {hour}:{local.minute:02d}:{local.second:02d} {half}"


_MINUTES_IN_DAY = 1440
_MINUTES_IN_MONTH = 43200
_MINUTES_IN_YEAR = 525600


def _round(x: float) -> int:
    # JavaScript's Math.round: halves go up.
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def distance_strict(a: datetime, b: datetime) -> str:
    """date-fns `formatDistanceStrict(a, b)`: `0 seconds`, `2 seconds`, `1 minute`, `5 hours`, ...

    The unit is picked from the gap (under a minute → seconds, under an hour → minutes, then hours,
    days, months of 30 days, years of 365 days) and the count is rounded, so 59.6 s reads `60 seconds`
    exactly as date-fns says it.
    """
    ms = abs((b - a).total_seconds() * 1000)
    minutes = ms / 60000
    if minutes < 1:
        return _plural(_round(ms / 1000), "second")
    if minutes < 60:
        return _plural(_round(minutes), "minute")
    if minutes < _MINUTES_IN_DAY:
        return _plural(_round(minutes / 60), "hour")
    if minutes < _MINUTES_IN_MONTH:
        return _plural(_round(minutes / _MINUTES_IN_DAY), "day")
    if minutes < _MINUTES_IN_YEAR:
        months = _round(minutes / _MINUTES_IN_MONTH)
        return "1 year" if months == 12 else _plural(months, "month")
    return _plural(_round(minutes / _MINUTES_IN_YEAR), "year")


def duration(start: object, end: object) -> str | None:
    """`Duration` as Wrangler shows it: start→end, or start→now while still going; None without a start."""
    begin = parse_iso(start)
    if begin is None:
        return None
    finish = parse_iso(end)
    return distance_strict(finish or now(), begin)
