"""Client-side checks for `pyflows workflows ...`, with Wrangler's exact messages.

Everything here runs before any request is sent, so a typo never reaches the server. JSON errors
are reported the way V8's `JSON.parse` words them (people grep for these messages), with the same
position, line and column.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from pyflows.cli.humanize import INSTANCE_STATUSES
from pyflows.runtime.errors import PyflowsError
from pyflows.runtime.protocol.defaults import RESTART_STEP_TYPES
from pyflows.runtime.protocol.durations import iso_utc
from pyflows.runtime.protocol.limits import MAX_BATCH


def parse_json_argument(text: str, what: str) -> object:
    """Parse a JSON argument; on failure raise Wrangler's `Error while parsing <what>: ...`."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except _ConstantError as exc:
        reason = _v8_unexpected_token(text, exc.pos)
    except json.JSONDecodeError as exc:
        reason = _v8_message(text, exc)
    # The trailing `' ` is Wrangler's (a stray quote in its template); kept so messages match.
    raise PyflowsError(f'Error while parsing {what}: "{text}" with SyntaxError: {reason}\' ')


class _ConstantError(ValueError):
    def __init__(self, pos: int) -> None:
        super().__init__("constant")
        self.pos = pos


def _reject_constant(name: str) -> object:
    # Python accepts NaN/Infinity; JSON (and JavaScript) do not. The position is found by the caller.
    raise _ConstantError(-1)


def _v8_message(text: str, exc: json.JSONDecodeError) -> str:
    from pyflows.runtime.protocol.jsontext import innermost_open, line_col  # only on bad input

    pos = exc.pos
    msg = exc.msg
    where = f"in JSON at position {pos} (line {exc.lineno} column {exc.colno})"
    if not text.strip() or (msg == "Expecting value" and pos >= len(text)):
        return "Unexpected end of JSON input"
    if msg.startswith("Expecting property name"):
        before = text[:pos].rstrip()
        if before.endswith(","):
            return f"Expected double-quoted property name {where}"
        return f"Expected property name or '}}' {where}"
    if msg.startswith("Illegal trailing comma"):
        # Python 3.13+ reports the comma; V8 (and Python <= 3.12) the character after it.
        after = pos + 1 + len(text[pos + 1 :]) - len(text[pos + 1 :].lstrip())
        if msg.endswith("array"):
            return _v8_unexpected_token(text, after)
        line, column = line_col(text, after)
        return f"Expected double-quoted property name in JSON at position {after} (line {line} column {column})"
    if msg == "Expecting ':' delimiter":
        return f"Expected ':' after property name {where}"
    if msg == "Expecting ',' delimiter":
        if innermost_open(text, pos) == "[":
            return f"Expected ',' or ']' after array element {where}"
        return f"Expected ',' or '}}' after property value {where}"
    if msg == "Extra data":
        return f"Unexpected non-whitespace character after JSON {where.removeprefix('in JSON ')}"
    if msg.startswith("Unterminated string"):
        end = len(text)
        line, column = line_col(text, end)
        return f"Unterminated string in JSON at position {end} (line {line} column {column})"
    if msg.startswith("Invalid control character"):
        return f"Bad control character in string literal {where}"
    if msg.startswith("Invalid \\uXXXX"):
        return f"Bad Unicode escape {where}"
    if msg.startswith("Invalid \\escape"):
        return f"Bad escaped character {where}"
    return _v8_unexpected_token(text, pos)


def _v8_unexpected_token(text: str, pos: int) -> str:
    if pos < 0:  # a NaN / Infinity constant: point at it
        found = re.search(r"-?(NaN|Infinity)", text)
        pos = found.start(1) if found else 0
    if pos >= len(text):
        return "Unexpected end of JSON input"
    token = text[pos]
    if len(text) < 21:  # V8 quotes short sources whole, longer ones with 10 characters of context
        return f"Unexpected token '{token}', \"{text}\" is not valid JSON"
    start, end = max(0, pos - 10), min(len(text), pos + 10)
    head = "..." if start > 0 else ""
    tail = "..." if end < len(text) else ""
    return f"Unexpected token '{token}', {head}\"{text[start:end]}\"{tail} is not valid JSON"


def check_status(status: str) -> str:
    if status not in INSTANCE_STATUSES:
        raise PyflowsError(
            f'Looks like you have provided a invalid status "{status}". '
            f"Valid statuses are: {', '.join(INSTANCE_STATUSES)}"
        )
    return status


_DATE_PREFIX = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:T|$)")


def check_date(value: str, flag: str, *, end_of_day: bool) -> str:
    """An ISO 8601 date or timestamp as a UTC ISO string with milliseconds, as the API wants it.

    A bare date covers the whole UTC day (`--date-end 2026-01-31` → `2026-01-31T23:59:59.999Z`);
    a timestamp without an offset is local time, as JavaScript's `Date.parse` reads it.
    """
    parts = _DATE_PREFIX.match(value)
    parsed: datetime | None = None
    if parts is not None:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
    if parts is None or (parsed is None and not _impossible_date(parts)):
        raise PyflowsError(
            f'Looks like you have provided an invalid date "{value}" for {flag}. Provide an ISO 8601 date or '
            "timestamp, for example 2026-01-01 or 2026-01-01T13:00:00Z."
        )
    if parsed is None:
        raise PyflowsError(
            f'The date "{value}" provided for {flag} is not a real calendar date. Check the month and day.'
        )
    if len(value) == 10:  # date only: the whole UTC day
        parsed = parsed.replace(tzinfo=UTC)
        if end_of_day:
            parsed = parsed.replace(hour=23, minute=59, second=59, microsecond=999000)
    elif parsed.tzinfo is None:
        parsed = parsed.astimezone()  # naive = local time, like JavaScript
    return iso_utc(parsed)


def _impossible_date(parts: re.Match[str]) -> bool:
    # JavaScript rejects month 13 or day 32 outright (invalid date) but rolls 2026-02-30 over to
    # March 2nd: only the latter is "not a real calendar date".
    year, month, day = (int(p) for p in parts.groups())
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return False
    try:
        datetime(year, month, day)
    except ValueError:
        return True
    return False


def check_date_range(start: str | None, end: str | None) -> None:
    if start is not None and end is not None and start > end:  # same-format UTC strings sort by time
        raise PyflowsError(
            f"--date-start ({start}) must not be after --date-end ({end}). Update --date-start or --date-end "
            "so --date-start is before or equal to --date-end."
        )


def check_restart_from(name: str | None, count: int | None, step_type: str | None) -> dict[str, object] | None:
    """The `from` object of a restart, or None for a restart from the beginning."""
    if name is None:
        if count is not None or step_type is not None:
            raise PyflowsError("--from-step-name is required when using --from-step-count or --from-step-type")
        return None
    if count is not None and count < 1:
        raise PyflowsError(
            f"--from-step-count {count} is not valid: it counts occurrences of a step name starting at 1 "
            '(the 2nd `step.do("x")` is --from-step-count 2).'
        )
    if step_type is not None and step_type not in RESTART_STEP_TYPES:
        raise PyflowsError(
            f'--from-step-type "{step_type}" is not valid: use one of {", ".join(RESTART_STEP_TYPES)} '
            "(do for step.do, the default)."
        )
    restart_from: dict[str, object] = {"name": name}
    if count is not None:
        restart_from["count"] = count
    if step_type is not None:
        restart_from["type"] = step_type
    return restart_from


def check_delete_ids(ids: list[str]) -> list[str]:
    if not ids:
        raise PyflowsError("Provide at least one workflow instance ID")
    if len(ids) > MAX_BATCH:
        raise PyflowsError(
            f"You can delete at most {MAX_BATCH} workflow instances at a time (got {len(ids)}): "
            "split the ids into several commands."
        )
    return ids


def read_ids_file(path: str) -> list[str]:
    """`instances delete --filename f`: a JSON array of instance ids."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise PyflowsError(f'Could not read "{path}": {exc.strerror or exc}. Check the --filename path.') from None
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise PyflowsError(f'"{path}" is not valid JSON ({exc}). Expected an array of strings.') from None
    if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
        raise PyflowsError(f'Unexpected JSON input from "{path}". Expected an array of strings.')
    return parsed


def check_non_negative(value: int, flag: str) -> int:
    if value < 0:
        raise PyflowsError(f"{flag} {value} is not valid: use 0 or a positive number of characters.")
    return value
