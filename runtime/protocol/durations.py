"""Durations as Cloudflare Workflows reads them: "10 seconds", "2 hours", or a number of ms."""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime

_UNITS_MS = {
    "millisecond": 1,
    "second": 1_000,
    "minute": 60_000,
    "hour": 3_600_000,
    "day": 86_400_000,
    "week": 7 * 86_400_000,
    "month": 30 * 86_400_000,
    "year": 365 * 86_400_000,
}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+?)s?\s*$")
_PARSED: dict[str, int] = {}  # duration text -> ms, for the texts seen (valid ones only)

MAX_SLEEP_MS = 365 * 86_400_000


def to_ms(value: object, *, what: str = "duration") -> int:
    """Convert a duration (ms number or "<n> <unit>[s]") to integer milliseconds.

    Raises ValueError naming the bad value and the accepted forms.
    """
    if isinstance(value, bool):
        raise ValueError(f"Invalid {what} {value!r}: expected a number of milliseconds or a string like '10 seconds'.")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"Invalid {what} {value!r}: expected a finite number of milliseconds.")
        if value < 0:
            raise ValueError(f"Invalid {what} {value!r}: it must not be negative.")
        return int(value)
    if isinstance(value, str):
        known = _PARSED.get(value)
        if known is not None:
            return known
        m = _DURATION_RE.match(value)
        if m:
            unit = m.group(2).lower()
            if unit not in _UNITS_MS and unit.endswith("s"):
                unit = unit[:-1]
            if unit in _UNITS_MS:
                ms = int(float(m.group(1)) * _UNITS_MS[unit])
                if len(_PARSED) < 1024:  # a workflow's durations are a handful of literals, parsed per step
                    _PARSED[value] = ms
                return ms
        raise ValueError(
            f"Invalid {what} {value!r}: expected a number of milliseconds or '<number> <unit>' with unit "
            "second, minute, hour, day, week, month or year (plurals allowed), e.g. '10 seconds'."
        )
    raise ValueError(
        f"Invalid {what} of type {type(value).__name__}: expected a number of milliseconds or a string like "
        "'10 seconds'."
    )


def epoch_ms(value: object, *, what: str = "timestamp") -> int:
    """A datetime (naive = UTC) or epoch milliseconds as integer epoch ms."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp() * 1000)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        try:
            return epoch_ms(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            pass
    raise ValueError(f"Invalid {what} {value!r}: expected a datetime or epoch milliseconds.")


def now_ms() -> int:
    """The wall clock in integer epoch milliseconds (the unit of every stored time)."""
    return int(time.time() * 1000)


def iso_utc(moment: datetime) -> str:
    """An aware datetime as JavaScript's `Date.prototype.toISOString()`: UTC, milliseconds, 'Z'."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def iso(ms: int | None) -> str | None:
    """Epoch ms → ISO 8601 with milliseconds and 'Z', as Cloudflare's API prints times."""
    if ms is None:
        return None
    dt = datetime.fromtimestamp(ms / 1000, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
