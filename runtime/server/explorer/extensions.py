"""pyflows' extensions to the Local Explorer API, under `/cdn-cgi/local/explorer/api/pyflows`.

Wrangler's API has no equivalent for these (reference: Wrangler 4.164's explorer routes), so they
live under their own prefix; everything else the explorer UI uses is the Wrangler-compatible API.

    GET  /pyflows/events[?workflow=W]                          Server-Sent Events: every instance event
         (Cloudflare's `subscribe()` event types, runtime/workflows/events.py) as `data: {json}` with
         `"workflow"` added, `id:` `<server run>-<sequence number>`; `Last-Event-ID` (or `?since=N`)
         replays what the server still holds after it (all it holds, for an id from an earlier run).
         A `: ping` comment every 15 s keeps it open.
    GET  /pyflows/workflows/{wf}/instances/{id}/subscribe[?cursor=N&filter=a,b]
         Server-Sent Events for one instance, like `instance.subscribe({cursor, filter})`: its history
         after `cursor`, then live events; the stream ends after workflow_completed/errored/terminated.
    POST /pyflows/workflows/{wf}/instances/{id}/wake            end the current sleep, retry delay or
         event-wait timeout now (durably) -> {"woken": n}; 409 when there is nothing to wake
    POST /pyflows/workflows/{wf}/instances/{id}/retry           a step waiting to retry runs now; an
         errored instance restarts from the failed step -> {"status"}
    GET  /pyflows/workflows/{wf}/instances[?params=TEXT&...]   the instances list (same query and shape as
         the API's), optionally only instances whose params JSON contains TEXT; one database read
    GET  /pyflows/workflows/{wf}/diagram                        the workflow drawn from its Python
         source (runtime/workflows/diagram.py) -> {"workflow", "class_name", "nodes": [...]}

Actions are POSTs; a browser's (a request with an Origin) must also carry `X-Pyflows-Explorer`
(checked for every non-GET request by the API app, see routes.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from pyflows.runtime.errors import DiagramUnavailableError, WorkflowError
from pyflows.runtime.server.explorer.input import InvalidRequestError, path_name
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

PREFIX = "/pyflows"
EXPLORER_HEADER = "x-pyflows-explorer"  # what the explorer UI sends with every action
PING_S = 15.0
_SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"success": True, "errors": [], "messages": [], "result": result})


def _int(value: str | None, what: str) -> int:
    if value is None or value == "":
        return 0
    try:
        number = int(value)
    except ValueError:
        raise InvalidRequestError(f"{what} must be a whole number, got {value!r}.") from None
    if number < 0:
        raise InvalidRequestError(f"{what} must be 0 or more, got {number}.")
    return number


def _sse(event: dict[str, Any], event_id: int | str) -> bytes:
    return f"id: {event_id}\ndata: {json.dumps(event, separators=(',', ':'), default=str)}\n\n".encode()


async def events_stream(request: Request, engine: Any) -> Response:
    workflow = request.query_params.get("workflow")
    if workflow:
        workflow = engine.spec(workflow).name
    hub = engine.events
    last = request.headers.get("last-event-id") or ""
    if "since" in request.query_params:
        since = _int(request.query_params.get("since"), "since")
    elif last:
        # "<server run>-<n>": after a restart or reload the numbers start again, so a listener from an
        # earlier server process gets everything this one has (EventSource sends it on reconnect).
        run, _, n = last.rpartition("-")
        since = _int(n, "Last-Event-ID") if run == hub.run_id else 0
    else:
        since = hub.seq  # a new listener starts with what happens next

    async def body() -> AsyncIterator[bytes]:
        seq = since
        yield f"retry: 1000\n: pyflows instance events from {seq}\n\n".encode()
        while True:
            for n, wf, event in hub.since(seq):
                seq = n
                if workflow is None or wf == workflow:
                    yield _sse({**event, "workflow": wf}, f"{hub.run_id}-{n}")
            if hub.closed:  # the server is stopping; EventSource reconnects to the next one
                return
            if not await hub.wait(seq, PING_S):
                yield b": ping\n\n"

    return StreamingResponse(body(), media_type="text/event-stream", headers=_SSE_HEADERS)


async def instance_subscribe(request: Request, engine: Any) -> Response:
    p = request.path_params
    workflow, instance_id = engine.spec(p["workflow"]).name, path_name(p["instance"])
    cursor = _int(request.headers.get("last-event-id") or request.query_params.get("cursor"), "cursor")
    raw_filter = request.query_params.get("filter")
    wanted = {t.strip() for t in raw_filter.split(",") if t.strip()} if raw_filter else None
    from pyflows.runtime.workflows.events import EVENT_TYPES, TERMINAL

    if wanted is not None and wanted - EVENT_TYPES:
        raise InvalidRequestError(
            f"Unknown event type(s) in filter: {', '.join(sorted(wanted - EVENT_TYPES))}. "
            f"Known: {', '.join(sorted(EVENT_TYPES))}."
        )
    first = await engine.subscribe_history(workflow, instance_id, cursor)  # raises 404 before streaming

    async def body() -> AsyncIterator[bytes]:
        nonlocal cursor
        pending = first
        yield b"retry: 1000\n\n"
        while True:
            seq = engine.events.seq
            for event in pending:
                cursor = event["eventId"]
                if wanted is None or event["type"] in wanted:
                    yield _sse(event, cursor)
                if event["type"] in TERMINAL:
                    return
            if engine.events.closed:
                return
            if not await engine.events.wait(seq, PING_S):
                yield b": ping\n\n"
            try:
                pending = await engine.subscribe_history(workflow, instance_id, cursor)
            except WorkflowError:  # deleted meanwhile
                return

    return StreamingResponse(body(), media_type="text/event-stream", headers=_SSE_HEADERS)


async def wake(request: Request, engine: Any) -> Response:
    p = request.path_params
    woken = await engine.wake(engine.spec(p["workflow"]).name, path_name(p["instance"]))
    return _ok({"woken": woken})


async def retry(request: Request, engine: Any) -> Response:
    p = request.path_params
    status = await engine.retry_now(engine.spec(p["workflow"]).name, path_name(p["instance"]))
    return _ok({"status": status})


async def diagram(request: Request, engine: Any) -> Response:
    spec = engine.spec(request.path_params["workflow"])
    from pyflows.runtime.workflows.diagram import diagram_of_class

    graph = await asyncio.to_thread(diagram_of_class, spec.cls, spec.class_name) if spec.cls is not None else None
    if graph is None:
        raise DiagramUnavailableError(f"The source of workflow class {spec.class_name!r} is not available to draw.")
    return _ok({"workflow": spec.name, "class_name": spec.class_name, **graph})


async def search_instances(request: Request, engine: Any) -> Response:
    """The instances list (the API's query and shape) plus one filter, `params` (text the instance's
    params JSON contains). The explorer's list: rows, total and status counts in one read."""
    from pyflows.runtime.protocol.durations import iso
    from pyflows.runtime.protocol.statuses import COUNT_ORDER
    from pyflows.runtime.server.explorer.input import list_query
    from pyflows.runtime.workflows import queries

    page, per_page, status, start, end = list_query(request.query_params)
    workflow = engine.spec(request.path_params["workflow"]).name
    text = request.query_params.get("params", "")

    def query(conn: Any) -> tuple[list[Any], int, dict[str, int]]:
        rows, total = queries.q_list(
            conn,
            workflow,
            status=status or None,
            start_ms=start,
            end_ms=end,
            limit=per_page,
            offset=(page - 1) * per_page,
            params_contains=text or None,
        )
        return rows, total, queries.q_status_counts(conn, workflow)

    rows, total, counts = await engine.store.read(query)
    result = [{"id": r[0], "status": engine.live_status(workflow, r[0]) or r[1], "created_on": iso(r[2])} for r in rows]
    info = {
        "page": page,
        "per_page": per_page,
        "total_count": total,
        "total_pages": max(1, -(-total // per_page)),
        "status_counts": {k: counts[k] for k in COUNT_ORDER if counts.get(k)},
    }
    return JSONResponse({"success": True, "errors": [], "messages": [], "result": result, "result_info": info})


def routes() -> list[tuple[str, str, Any]]:
    """The extension's rows for the API's route table (routes.py: `*extensions.routes()`)."""
    inst = PREFIX + "/workflows/{workflow}/instances/{instance}"
    return [
        (PREFIX + "/events", "GET", events_stream),
        (inst + "/subscribe", "GET", instance_subscribe),
        (inst + "/wake", "POST", wake),
        (inst + "/retry", "POST", retry),
        (PREFIX + "/workflows/{workflow}/diagram", "GET", diagram),
        (PREFIX + "/workflows/{workflow}/instances", "GET", search_instances),
    ]
