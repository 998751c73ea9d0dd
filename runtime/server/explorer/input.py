"""Reading the Local Explorer API's queries and bodies, with the messages Wrangler's server gives.

miniflare validates with zod (its generated schemas) and reports each problem as
`{"code": 10001, "message": "<field>: <zod message>"}`; query numbers are coerced first, and the
first one that is not a number stops validation there (reference/wrangler-local-dev.md §2.2).

Every value taken from a request is range-checked here, at the edge, so nothing a caller sends can
reach storage out of range (a page number SQLite cannot hold is a 400, not a 500): whole numbers must
be ≤ 2^53 - 1 (JavaScript's `Number.MAX_SAFE_INTEGER`, the largest whole number the peer tools read
exactly), JSON bodies are read as JavaScript's `JSON.parse` reads them (no `NaN`/`Infinity`
literals; a number too large for a double becomes `null`, as `JSON.stringify(Infinity)` does).
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

from pyflows.runtime.protocol.defaults import RESTART_STEP_TYPES
from pyflows.runtime.protocol.statuses import STATUSES
from starlette.requests import Request

# miniflare's zod enum, in its order (for the error message); the same set as statuses.STATUSES.
_ZOD_STATUSES = ("queued", "running", "paused", "errored", "terminated", "complete", "waitingForPause", "waiting")
# The largest whole number a request may carry (JavaScript's Number.MAX_SAFE_INTEGER).
MAX_SAFE_INTEGER = 2**53 - 1
# A path segment longer than this cannot name anything (ids ≤ 100, names ≤ 64, types ≤ 100).
MAX_PATH_NAME = 1024
# zod's z.iso.datetime(): UTC with a Z, seconds and fraction optional.
_ISO_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?Z$")


class InvalidRequestError(Exception):
    """A request failed validation: 400 with one `{"code", "message"}` per problem."""

    def __init__(self, *messages: str, code: int = 10001) -> None:
        super().__init__(messages[0])
        self.messages = messages
        self.code = code


def js_number(text: str) -> float | None:
    """`Number(text)` as JavaScript reads a query parameter; None for NaN."""
    s = text.strip()
    if s == "":
        return 0.0
    if s in ("Infinity", "+Infinity", "-Infinity"):
        return float(s.replace("Infinity", "inf"))
    if s.lower() in ("inf", "+inf", "-inf", "nan", "infinity", "+infinity", "-infinity"):
        return None
    try:
        if s[:2].lower() in ("0x", "0o", "0b"):
            return float(int(s, 0))
        return float(s)
    except ValueError:
        return None


def epoch_ms_of_iso(text: str) -> int | None:
    """Epoch ms of a zod-valid ISO datetime (`2026-11-21T23:59:59.999Z`), None if it is not one."""
    m = _ISO_RE.match(text)
    if not m:
        return None
    year, month, day, hour, minute, sec, frac = m.groups()
    try:
        dt = datetime(int(year), int(month), int(day), int(hour), int(minute), int(sec or 0), tzinfo=UTC)
    except ValueError:
        return None
    ms = int(float(frac) * 1000) if frac else 0
    return int(dt.timestamp()) * 1000 + ms


def list_query(params: Any) -> tuple[int, int, str | None, int | None, int | None]:
    """`GET …/instances` query → (page, per_page, status, date_start_ms, date_end_ms).

    Raises InvalidRequestError: 10001 per problem, or 10502 when date_start is after date_end.
    """
    numbers: dict[str, float] = {}
    for key, default in (("page", 1.0), ("per_page", 25.0)):
        raw = params.get(key)
        if raw is None:
            numbers[key] = default
            continue
        value = js_number(raw)
        if value is None:  # coercion stops at the first bad number, as miniflare's does
            raise InvalidRequestError(f'{key}: Expected query param to be number but received "{raw}"')
        numbers[key] = value
    problems: list[str] = []
    if numbers["page"] < 1:
        problems.append("page: Too small: expected number to be >=1")
    elif math.isfinite(numbers["page"]) and numbers["page"] > MAX_SAFE_INTEGER:
        problems.append(f"page: Too big: expected number to be <={MAX_SAFE_INTEGER}")
    if numbers["per_page"] < 1:
        problems.append("per_page: Too small: expected number to be >=1")
    elif numbers["per_page"] > 100:
        problems.append("per_page: Too big: expected number to be <=100")
    status = params.get("status")
    if status is not None and status not in STATUSES:
        expected = "|".join(f'"{s}"' for s in _ZOD_STATUSES)
        problems.append(f"status: Invalid option: expected one of {expected}")
    dates: dict[str, int | None] = {}
    for key in ("date_start", "date_end"):
        raw = params.get(key)
        dates[key] = None if raw is None else epoch_ms_of_iso(raw)
        if raw is not None and dates[key] is None:
            problems.append(f"{key}: Invalid ISO datetime")
    if problems:
        raise InvalidRequestError(*problems)
    start, end = dates["date_start"], dates["date_end"]
    if start is not None and end is not None and start > end:
        raise InvalidRequestError(
            "'date_start' must not be after 'date_end'. Update 'date_start' or 'date_end' so "
            "'date_start' is before or equal to 'date_end'.",
            code=10502,
        )
    for key in ("page", "per_page"):  # JSON numbers, but a page is whole (and Infinity is not)
        if not numbers[key].is_integer():
            raise InvalidRequestError(f"{key}: Expected an integer but received {numbers[key]:g}")
    return int(numbers["page"]), int(numbers["per_page"]), status, start, end


def _js_float(text: str) -> float | None:
    value = float(text)
    return None if math.isinf(value) else value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes | str) -> Any:
    """JSON as JavaScript's `JSON.parse` reads it (ValueError for what it rejects).

    `NaN` / `Infinity` literals are errors; a number too large for a double is `null` (what
    `JSON.stringify` makes of `Infinity`), so every parsed value can be stored and sent back.
    """
    return json.loads(raw, parse_float=_js_float, parse_constant=_no_constant)


async def json_body(request: Request) -> Any:
    """The JSON body, as Hono's json validator reads it: not JSON content → `{}`."""
    content_type = request.headers.get("content-type", "")
    if not content_type.split(";", 1)[0].strip().lower().endswith("json"):
        return {}
    raw = await request.body()
    try:
        return parse_json(raw)
    except ValueError:
        raise InvalidRequestError("Invalid JSON request body") from None


async def json_request_body(request: Request, *, code: int = 10001, empty: Any = None) -> Any:
    """The body parsed as JSON (`empty` when there is none); anything else — not UTF-8, not JSON, nested
    too deep for the parser — is InvalidRequestError (400 with `code`), never a server error."""
    raw = await request.body()
    if not raw.strip():
        return empty
    try:
        return parse_json(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InvalidRequestError(f"The body is not JSON ({exc}).", code=code) from None


async def lenient_json(request: Request) -> Any:
    """The body as JSON, or None when it is empty or not JSON (create and send-event ignore it)."""
    try:
        return await json_request_body(request)
    except InvalidRequestError:
        return None


def path_name(value: str) -> str:
    """A workflow name, instance id or event type from the path, refused when it cannot name anything.

    `%2F` is a `/` inside the segment (routes.py `_keep_encoded_slashes`; no name or id has a `%`)."""
    value = value.replace("%2F", "/")
    if len(value) > MAX_PATH_NAME:
        raise InvalidRequestError(
            f"Path segment of {len(value)} characters is too long (the limit is {MAX_PATH_NAME})."
        )
    return value


def batch_delete_ids(body: Any) -> list[str]:
    """`POST …/instances/batch/delete` body `{"instances": [ids]}` → the ids ("Invalid input" otherwise)."""
    ids = body.get("instances") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise InvalidRequestError("Invalid input")
    return ids


def status_body(body: Any) -> tuple[str, dict[str, Any] | None]:
    """`PATCH …/status` body → (action, restart `from` step or None); "Invalid input" otherwise."""
    if not isinstance(body, dict) or body.get("status") not in ("pause", "resume", "terminate", "restart"):
        raise InvalidRequestError("Invalid input")
    action = body["status"]
    if "rollback" in body:
        if action != "terminate":
            raise InvalidRequestError("'rollback' is only valid when terminating.")
        if not isinstance(body["rollback"], bool):
            raise InvalidRequestError("Invalid input")
    from_step = None
    if action == "restart" and body.get("from") is not None:
        raw = body["from"]
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not 1 <= len(raw["name"]) <= 256:
            raise InvalidRequestError("Invalid input")
        count = raw.get("count")
        if count is not None and (
            isinstance(count, bool)
            or not isinstance(count, int | float)
            or not 0 < count <= MAX_SAFE_INTEGER
            or count != int(count)
        ):
            raise InvalidRequestError("Invalid input")
        kind = raw.get("type")
        if kind is not None and kind not in RESTART_STEP_TYPES:
            raise InvalidRequestError("Invalid input")
        from_step = {"name": raw["name"]}
        if count is not None:
            from_step["count"] = int(count)
        if kind is not None:
            from_step["type"] = kind
    return action, from_step
