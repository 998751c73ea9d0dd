"""The ways to fire a Cron Trigger by hand, as `wrangler dev` offers them.

    GET /__scheduled?cron=<expr>[&time=<epoch ms>]             Wrangler's --test-scheduled route
    GET /cdn-cgi/handler/scheduled?cron=<expr>[&time=<ms>]     Miniflare's handler route
        → 200 "ok", or 500 "exception" when scheduled() raised (the error is printed), as Miniflare answers
    POST {API_PREFIX}/local/scheduled?worker=<name>  {"cron", "scheduled_time"?}
        → envelope {"outcome", "noRetry"} (Local Explorer API `local-explorer-dispatch-scheduled`)

A missing `cron` uses the first of `triggers.crons` (else "* * * * *"); a bad `time` is a 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from pyflows.runtime.surface.http import Response

__all__ = ["SCHEDULED_PATHS", "dispatch_scheduled", "scheduled_route"]

SCHEDULED_PATHS = frozenset({"/__scheduled", "/cdn-cgi/handler/scheduled"})


def _default_cron(runtime: Any) -> str:
    crons = runtime.triggers.config.triggers.crons if runtime.triggers is not None else ()
    return crons[0] if crons else "* * * * *"


async def scheduled_route(runtime: Any, scope: Mapping[str, Any]) -> Response:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    cron = (query.get("cron") or [""])[0] or _default_cron(runtime)
    raw_time = (query.get("time") or [None])[0]
    scheduled_time = None
    if raw_time is not None:
        try:
            scheduled_time = int(float(raw_time))
        except ValueError:
            return Response(f"time is {raw_time!r}: pass epoch milliseconds, e.g. time=1767225600000.\n", status=400)
    if runtime.triggers is None:
        return Response("This server has no triggers.\n", status=500)
    result = await runtime.triggers.scheduled(cron, scheduled_time)
    return Response(result["outcome"], status=200 if result["outcome"] == "ok" else 500)


async def dispatch_scheduled(runtime: Any, worker: str | None, body: Any) -> tuple[int, Any]:
    """The Local Explorer endpoint: (HTTP status, result or error message)."""
    if not worker:
        return 400, "The worker query parameter is required: POST /local/scheduled?worker=<name>."
    names = list(runtime.triggers.workers) if runtime.triggers is not None else [runtime.name]
    if worker not in names:
        return 404, f"Worker {worker!r} is not in this dev session (it runs {', '.join(map(repr, names))})."
    if not isinstance(body, dict) or not isinstance(body.get("cron"), str) or not body["cron"].strip():
        return 400, 'The body must be JSON {"cron": "<expression>", "scheduled_time"?: <epoch ms>}.'
    when = body.get("scheduled_time")
    if when is not None and (isinstance(when, bool) or not isinstance(when, int)):
        return 400, f"scheduled_time is {when!r}: pass an integer of epoch milliseconds."
    result = await runtime.triggers.scheduled(body["cron"], when, worker=worker)
    return 200, result
