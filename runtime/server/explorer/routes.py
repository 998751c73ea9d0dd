"""The Local Explorer API under `/cdn-cgi/local/explorer/api`, as `wrangler dev` serves it.

Paths, envelopes, status codes, error codes and messages follow reference/wrangler-local-dev.md §2
(Wrangler 4.164), so `wrangler workflows ... --local` can drive `pyflows dev`:

    GET    /workflows                                  list (+ result_info.count)
    GET    /workflows/{wf}                             details with instance status counts
    DELETE /workflows/{wf}                             delete every instance
    GET    /workflows/{wf}/instances                   page, per_page, status, date_start, date_end
    POST   /workflows/{wf}/instances                   create {"id"?, "params"?} (bad JSON = {})
    POST   /workflows/{wf}/instances/batch/delete      {"instances": [ids]} (per-id errors in a 200)
    GET    /workflows/{wf}/instances/{id}              instance details
    DELETE /workflows/{wf}/instances/{id}
    PATCH  /workflows/{wf}/instances/{id}/status       {"status": pause|resume|terminate|restart, ...}
    POST   /workflows/{wf}/instances/{id}/events/{type}  body = event payload
    GET    /local/workers                              this Worker and its workflow bindings
    POST   /local/scheduled?worker=<name>              {"cron", "scheduled_time"?}: run scheduled() once
    GET    (the base)                                  the OpenAPI document (runtime/openapi.json)

Envelope: `{"success", "errors": [{"code", "message"}], "messages": [], "result"[, "result_info"]}`.
One exception map (`_api` with `present.ERRORS`): each engine error type has its status, code and
message; a caller's mistake is a 4xx, anything unexpected 500 / 10000. Unknown paths and methods:
404 `404 Not Found` in plain text. Requests are only answered for a loopback Host and Origin
(`host_allowed`, `origin_allowed`): a web page must not be able to drive a dev session.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlsplit

from pyflows.runtime.protocol.defaults import API_PREFIX as API_PREFIX  # re-exported: the API mounts here
from pyflows.runtime.errors import InstanceNotFoundError, InvalidTransitionError, WorkflowError
from pyflows.runtime.protocol.durations import iso
from pyflows.runtime.protocol.statuses import FINISHED
from pyflows.runtime.server.explorer import extensions
from pyflows.runtime.server.explorer.input import (
    batch_delete_ids,
    json_body,
    lenient_json,
    list_query,
    path_name,
    status_body,
)
from pyflows.runtime.server.explorer.present import (
    api_failure,
    instance_row,
    workflow_row,
)
from pyflows.runtime.server.explorer.present import (
    instance_details as present_details,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

if TYPE_CHECKING:
    from pyflows.runtime.workflows.engine import Engine

OPENAPI_PATH = Path(__file__).with_name("openapi.json")
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
_CORS_HEADERS = {
    "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": (
        "Content-Type, cf-metadata-only, cf-r2-custom-metadata, X-Miniflare-Explorer-Refresh, X-Pyflows-Explorer"
    ),
    "Access-Control-Max-Age": "86400",
}
log = logging.getLogger("pyflows.management")


class _Runtime(Protocol):
    """What the API needs from the dev server's runtime (see runtime/server.py)."""

    @property
    def engine(self) -> Engine: ...

    @property
    def name(self) -> str: ...


# Host / Origin ---------------------------------------------------------------------------------


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_allowed(host: str | None) -> bool:
    """True for `localhost`, `127.0.0.1` or `[::1]`, any port (what miniflare accepts)."""
    return bool(host) and _hostname(host or "") in _LOOPBACK_NAMES


def origin_allowed(origin: str | None) -> bool:
    """No Origin (not a browser), or an http(s) origin on a loopback name."""
    if origin is None:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and (parts.hostname or "") in _LOOPBACK_NAMES


def forbidden_reason(headers: dict[str, str]) -> str | None:
    """`Invalid Host header` / `Invalid Origin header` when a request must be refused, else None."""
    if not host_allowed(headers.get("host")):
        return "Invalid Host header"
    if not origin_allowed(headers.get("origin")):
        return "Invalid Origin header"
    return None


# Envelopes ---------------------------------------------------------------------------------------


def envelope(result: Any, *, result_info: dict[str, Any] | None = None, status: int = 200) -> JSONResponse:
    """A success envelope."""
    body: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if result_info is not None:
        body["result_info"] = result_info
    return JSONResponse(body, status_code=status)


def error_envelope(status: int, code: int, *messages: str) -> JSONResponse:
    """A failure envelope: one error per message, all with `code`."""
    return JSONResponse(
        {
            "success": False,
            "errors": [{"code": code, "message": m} for m in messages],
            "messages": [],
            "result": None,
        },
        status_code=status,
    )


Handler = Callable[[Request, "Engine"], Awaitable[Response]]


def _api(handler: Handler, runtime: _Runtime) -> Callable[[Request], Awaitable[Response]]:
    """The one exception-to-envelope map for every endpoint (`present.ERRORS`)."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request, runtime.engine)
        except Exception as exc:
            status, code, messages = api_failure(exc)
            if status >= 500:
                log.exception("Local Explorer API: %s %s failed", request.method, request.url.path)
            return error_envelope(status, code, *messages)

    return endpoint


# Endpoints ------------------------------------------------------------------------------------------


def _workflow(request: Request, engine: Engine) -> str:
    """The `{workflow}` of the path, known to the engine (WorkflowNotFoundError otherwise)."""
    return engine.spec(path_name(request.path_params["workflow"])).name


def _instance(request: Request) -> str:
    return path_name(request.path_params["instance"])


async def list_workflows(request: Request, engine: Engine) -> Response:
    rows = [workflow_row(s) for s in engine.workflows()]
    return envelope(rows, result_info={"count": len(rows)})


async def workflow_details(request: Request, engine: Engine) -> Response:
    return envelope(workflow_row(await engine.describe_workflow(_workflow(request, engine))))


async def delete_workflow(request: Request, engine: Engine) -> Response:
    await engine.delete_all(_workflow(request, engine))
    return envelope({"status": "ok", "success": True})


async def list_instances(request: Request, engine: Engine) -> Response:
    page, per_page, status, start, end = list_query(request.query_params)
    workflow = _workflow(request, engine)
    rows, total = await engine.list_instances(
        workflow, status=status, date_start_ms=start, date_end_ms=end, page=page, per_page=per_page
    )
    counts = await engine.status_counts(workflow)
    info = {
        "page": page,
        "per_page": per_page,
        "total_count": total,
        "total_pages": max(1, -(-total // per_page)),
        "status_counts": {k: v for k, v in counts.items() if v},
    }
    return envelope([instance_row(r) for r in rows], result_info=info)


async def create_instance(request: Request, engine: Engine) -> Response:
    workflow = _workflow(request, engine)
    body = await lenient_json(request)
    if not isinstance(body, dict):
        body = {}
    instance_id = await engine.create(workflow, id=body.get("id"), params=body.get("params"))
    return envelope({"id": instance_id})


async def batch_delete(request: Request, engine: Engine) -> Response:
    ids = batch_delete_ids(await json_body(request))
    workflow = _workflow(request, engine)
    deleted: list[dict[str, str]] = []
    errors: list[dict[str, Any]] = []
    for instance_id in ids:
        try:
            await engine.delete(workflow, instance_id)
            deleted.append({"id": instance_id})
        except InstanceNotFoundError:
            errors.append({"id": instance_id, "code": 10400, "message": "workflows.api.error.instance.not_found"})
        except WorkflowError as exc:
            errors.append({"id": instance_id, "code": 10400, "message": exc.message})
    return envelope({"deleted": deleted, "errors": errors})


async def instance_details(request: Request, engine: Engine) -> Response:
    workflow = _workflow(request, engine)
    return envelope(present_details(await engine.describe(workflow, _instance(request))))


async def delete_instance(request: Request, engine: Engine) -> Response:
    await engine.delete(_workflow(request, engine), _instance(request))
    return envelope({"success": True})


async def change_status(request: Request, engine: Engine) -> Response:
    action, from_step = status_body(await json_body(request))
    workflow, instance_id = _workflow(request, engine), _instance(request)
    if action == "restart":
        status = await engine.restart(workflow, instance_id, from_step=from_step)
        return envelope({"status": status, "timestamp": iso(int(time.time() * 1000))})
    transitions: dict[str, Callable[[str, str], Awaitable[str]]] = {
        "pause": engine.pause,
        "resume": engine.resume,
        "terminate": engine.terminate,
    }
    try:
        status = await transitions[action](workflow, instance_id)
    except InvalidTransitionError as exc:
        # Wrangler's API: pausing or resuming a finished instance is a no-op that reports its
        # status (reference §2.2 "Not errors"); the binding raises, as SPEC §4.2 asks.
        if action == "terminate" or exc.status not in FINISHED:
            raise
        status = exc.status
    return envelope({"status": status, "timestamp": iso(int(time.time() * 1000))})


async def send_event(request: Request, engine: Engine) -> Response:
    workflow, instance_id = _workflow(request, engine), _instance(request)
    event_type = path_name(request.path_params["event_type"])
    try:
        await engine.send_event(workflow, instance_id, event_type, await lenient_json(request))
    except InvalidTransitionError as exc:
        # Wrangler's API accepts (and drops) an event for a finished instance (§2.2 "Not errors").
        if exc.status not in FINISHED:
            raise
    return envelope({"success": True})


def _openapi_document() -> dict[str, Any]:
    global _openapi_cache
    if _openapi_cache is None:
        _openapi_cache = json.loads(OPENAPI_PATH.read_text("utf-8"))
    return _openapi_cache


_openapi_cache: dict[str, Any] | None = None


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("404 Not Found", status_code=404)(scope, receive, send)


class _Route(Route):
    """A Route that answers a known path with the wrong method like an unknown path (404)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            await _not_found(scope, receive, send)
            return
        await super().handle(scope, receive, send)


def create_management_app(runtime: _Runtime) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The ASGI app for everything under API_PREFIX (mount it there, or dispatch by prefix)."""

    async def openapi(request: Request, engine: Engine) -> Response:
        return JSONResponse(_openapi_document())

    async def local_workers(request: Request, engine: Engine) -> Response:
        bindings = [
            {"id": s.name, "bindingName": s.binding, "className": s.class_name, "scriptName": s.script_name}
            for s in engine.workflows()
        ]
        worker: dict[str, Any] = {"isSelf": True, "name": runtime.name, "bindings": {"workflows": bindings}}
        triggers = getattr(getattr(runtime, "runtime", None), "triggers", None)  # runtime/triggers
        if triggers is None:
            return envelope([worker])
        worker["bindings"].update(triggers.explorer_bindings())
        worker["triggers"] = {"crons": list(triggers.config.triggers.crons)}
        return envelope([worker, *triggers.explorer_siblings()])  # the other Workers of `-c a -c b`

    async def local_scheduled(request: Request, engine: Any) -> Response:
        from pyflows.runtime.server.scheduled import dispatch_scheduled

        try:
            body = await request.json()
        except ValueError:
            body = None
        status, result = await dispatch_scheduled(runtime.runtime, request.query_params.get("worker"), body)  # type: ignore[attr-defined]
        return envelope(result) if status == 200 else error_envelope(status, 10001 if status == 400 else 10404, result)

    wf = "/workflows/{workflow}"
    inst = wf + "/instances/{instance}"
    table: list[tuple[str, str, Handler]] = [
        ("", "GET", openapi),
        ("/", "GET", openapi),
        ("/local/workers", "GET", local_workers),
        ("/local/scheduled", "POST", local_scheduled),
        ("/workflows", "GET", list_workflows),
        (wf, "GET", workflow_details),
        (wf, "DELETE", delete_workflow),
        (wf + "/instances", "GET", list_instances),
        (wf + "/instances", "POST", create_instance),
        (wf + "/instances/batch/delete", "POST", batch_delete),
        (inst, "GET", instance_details),
        (inst, "DELETE", delete_instance),
        (inst + "/status", "PATCH", change_status),
        (inst + "/events/{event_type}", "POST", send_event),
        *extensions.routes(),  # pyflows' own: SSE, wake, retry, diagram (explorer/extensions.py)
    ]
    table += _storage_routes(runtime)  # KV, D1, R2 (explorer/kv.py, d1.py, r2.py)
    # Hono matches paths strictly: "/workflows/" is not "/workflows" (no slash redirects).
    router = Router(routes=_routes(runtime, table), default=_not_found, redirect_slashes=False)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        reason = forbidden_reason(headers)
        if reason is not None:
            await PlainTextResponse(reason, status_code=403)(scope, receive, send)
            return
        origin = headers.get("origin")
        if origin is not None and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            if extensions.EXPLORER_HEADER not in headers:  # a cross-site form cannot send it
                await PlainTextResponse("Missing X-Pyflows-Explorer header", status_code=403)(scope, receive, send)
                return
        if scope["method"] == "OPTIONS":
            await Response(status_code=204, headers={"Access-Control-Allow-Origin": origin or "*", **_CORS_HEADERS})(
                scope, receive, send
            )
            return
        scope = _keep_encoded_slashes(scope)
        if origin is None:
            await router(scope, receive, send)
            return

        async def send_with_cors(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", []),
                        (b"access-control-allow-origin", origin.encode("latin-1")),
                    ],
                }
            await send(message)

        await router(scope, receive, send_with_cors)

    return app


_WORKFLOW_PATHS = (API_PREFIX + "/workflows/", API_PREFIX + extensions.PREFIX + "/workflows/")


def _keep_encoded_slashes(scope: Scope) -> Scope:
    """Route workflow paths on the raw path with `%2F` kept, so an instance id with a `/` in it (a cron
    schedule's, e.g. `*/15 * * * *-1767225600000`) stays one path segment; `path_name()` decodes it.
    Starlette matches on the decoded path, where that `/` would split the id in two."""
    raw: bytes | None = scope.get("raw_path")
    if not raw or b"%2" not in raw or not scope["path"].startswith(_WORKFLOW_PATHS):
        return scope
    text = raw.decode("latin-1")
    if "%2F" not in text.upper():
        return scope
    parts = [unquote(part) for part in re.split("(?i)%2F", text)]
    return {**scope, "path": "%2F".join(parts)}


def _storage_routes(runtime: _Runtime) -> list[tuple[str, str, Handler]]:
    from pyflows.runtime.server.explorer import d1, kv, r2

    return [row for module in (kv, d1, r2) for row in module.routes(runtime)]


def _routes(runtime: _Runtime, table: list[tuple[str, str, Handler]]) -> list[Route]:
    # Several methods on one path: Starlette stops at the first path match, so one route per path.
    by_path: dict[str, dict[str, Handler]] = {}
    for path, method, handler in table:
        by_path.setdefault(API_PREFIX + path, {})[method] = handler
    merged: list[Route] = []
    for path, handlers in by_path.items():
        wrapped = {m: _api(h, runtime) for m, h in handlers.items()}

        async def dispatch(
            request: Request, wrapped: dict[str, Callable[[Request], Awaitable[Response]]] = wrapped
        ) -> Response:
            return await wrapped[request.method](request)

        merged.append(_Route(path, dispatch, methods=list(handlers)))
    return merged
