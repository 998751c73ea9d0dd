"""A stand-in for the management API, for CLI tests that must not wait for a real `pyflows dev`.

Serves the Local Explorer API (`/cdn-cgi/local/explorer/api/workflows...`) and, for remote mode,
the same routes under `/client/v4/accounts/{account}` behind a bearer token, with the envelopes,
status codes, error codes and messages recorded from `wrangler dev` 4.164. The seeded
instances are the transcript's, so CLI output can be compared with Wrangler's byte for byte.

Every request is recorded (`state.requests`) so tests can assert what the CLI sent.
"""

from __future__ import annotations

import copy
import json
import re
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

TOKEN = "test-token"
ACCOUNT = "0123456789abcdef0123456789abcdef"
LOCAL_PREFIX = "/cdn-cgi/local/explorer/api"
REMOTE_ROOT = "/client/v4"

SEED = json.loads((Path(__file__).parent / "standin_seed.json").read_text(encoding="utf-8"))
STATUSES = ("queued", "running", "paused", "errored", "terminated", "complete", "waiting", "waitingForPause")
ID_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9-_]*$")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class State:
    """The stand-in's data: workflows → instances (id → {"created_on", "details"})."""

    workflows: dict[str, dict[str, Any]] = field(default_factory=dict)
    instances: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    events: list[tuple[str, str, str, Any]] = field(default_factory=list)
    foreign: bool = False  # answer like some other server: plain-text 404 for everything

    def reset(self) -> None:
        self.workflows = {w["name"]: dict(w) for w in SEED["workflows"]}
        self.instances = {name: {} for name in self.workflows}
        for wf, rows in SEED["instances"].items():
            for row in rows:
                self.instances[wf][row["id"]] = {
                    "created_on": row["created_on"],
                    "details": copy.deepcopy(row["details"]),
                }
        self._seed_live()
        self.requests.clear()
        self.events.clear()
        self.foreign = False

    def _seed_live(self) -> None:
        """pyflows' own additions, relative to now: a waiting sleep (`wake_at`) and a retry (`retry_at`)."""
        now = datetime.now(UTC)
        started = now - timedelta(seconds=30)
        wake = now + timedelta(hours=2, seconds=30)
        self.instances["sleepy-workflow"]["sleeper-1"] = {
            "created_on": iso(started),
            "details": {
                "status": "waiting",
                "params": {},
                "queued": iso(started),
                "start": iso(started),
                "end": None,
                "output": None,
                "error": None,
                "steps": [
                    {
                        "name": "long nap-1",
                        "start": iso(started),
                        "end": None,
                        "finished": False,
                        "type": "sleep",
                        "error": None,
                        "wake_at": iso(wake),
                    },
                ],
                "step_count": 1,
            },
        }
        failed: dict[str, Any] = {
            "start": iso(started),
            "end": iso(started + timedelta(milliseconds=5)),
            "success": False,
            "error": {"name": "Error", "message": "flaky failure on attempt 1"},
        }
        retry_step: dict[str, Any] = {
            "name": "flaky step-1",
            "start": iso(started),
            "end": None,
            "success": None,
            "type": "step",
            "config": {
                "retries": {"limit": 5, "backoff": "constant", "delay": "1 second"},
                "timeout": "30 seconds",
            },
            "attempts": [failed],
        }
        self.instances["sleepy-workflow"]["retrier-1"] = {
            "created_on": iso(started - timedelta(seconds=1)),
            "details": {
                "status": "waiting",
                "params": {},
                "queued": iso(started),
                "start": iso(started),
                "end": None,
                "output": None,
                "error": None,
                "steps": [dict(retry_step, retry_at=iso(wake))],
                "step_count": 1,
            },
        }
        # The same step with no `retry_at`, as `wrangler dev` reports it: the CLI must estimate.
        estimate = copy.deepcopy(retry_step)
        estimate["attempts"][0]["end"] = iso(now + timedelta(hours=3))
        self.instances["sleepy-workflow"]["retrier-2"] = {
            "created_on": iso(started - timedelta(seconds=2)),
            "details": {
                "status": "waiting",
                "params": {},
                "queued": iso(started),
                "start": iso(started),
                "end": None,
                "output": None,
                "error": None,
                "steps": [estimate],
                "step_count": 1,
            },
        }


def ok(result: Any, result_info: dict[str, Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if result_info is not None:
        body["result_info"] = result_info
    return JSONResponse(body)


def fail(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None},
        status_code=status,
    )


def build_app(state: State) -> Starlette:
    def workflow_or_404(request: Request) -> tuple[str, Response | None]:
        name = request.path_params["wf"]
        if name not in state.workflows:
            return name, fail(404, 10501, f"Workflow '{name}' not found.")
        return name, None

    def instance_or_404(request: Request) -> tuple[str, str, dict[str, Any] | None, Response | None]:
        name, missing = workflow_or_404(request)
        if missing:
            return name, "", None, missing
        iid = request.path_params["iid"]
        row = state.instances[name].get(iid)
        if row is None:
            return name, iid, None, fail(404, 10501, f"Workflow instance '{iid}' not found.")
        return name, iid, row, None

    async def list_workflows(request: Request) -> Response:
        rows = list(state.workflows.values())
        return ok(rows, {"count": len(rows)})

    async def get_workflow(request: Request) -> Response:
        name, missing = workflow_or_404(request)
        if missing:
            return missing
        # Wrangler's order: complete, errored, paused, queued, running, terminated, waiting, waitingForPause.
        counts = dict.fromkeys(sorted(STATUSES, key=str.lower), 0)
        for row in state.instances[name].values():
            counts[row["details"]["status"]] = counts.get(row["details"]["status"], 0) + 1
        wf = state.workflows[name]
        return ok(
            {
                "name": name,
                "class_name": wf["class_name"],
                "script_name": wf["script_name"],
                "instances": counts,
            }
        )

    async def delete_workflow(request: Request) -> Response:
        name, missing = workflow_or_404(request)
        if missing:
            return missing
        state.instances[name].clear()
        return ok({"status": "ok", "success": True})

    async def create_instance(request: Request) -> Response:
        name, missing = workflow_or_404(request)
        if missing:
            return missing
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        iid = body.get("id", body.get("instance_id"))
        if iid is None:
            iid = str(uuid.uuid4())
        if not isinstance(iid, str) or not ID_RE.match(iid) or len(iid) > 100:
            return fail(500, 10001, "WorkflowError: Workflow instance has invalid id")
        if iid in state.instances[name]:
            return fail(
                500,
                10001,
                f'WorkflowError: (instance.already_exists) Workflow instance with id "{iid}" already exists',
            )
        now = iso(datetime.now(UTC))
        state.instances[name][iid] = {
            "created_on": now,
            "details": {
                "status": "queued",
                "params": body.get("params", {}),
                "queued": now,
                "start": None,
                "end": None,
                "output": None,
                "error": None,
                "steps": [],
                "step_count": 0,
            },
        }
        return ok({"id": iid})

    def query_int(request: Request, key: str, default: int) -> int | Response:
        raw = request.query_params.get(key)
        if raw is None:
            return default
        if not re.fullmatch(r"-?\d+", raw):
            return fail(400, 10001, f'{key}: Expected query param to be number but received "{raw}"')
        value = int(raw)
        if value < 1:
            return fail(400, 10001, f"{key}: Too small: expected number to be >=1")
        if key == "per_page" and value > 100:
            return fail(400, 10001, "per_page: Too big: expected number to be <=100")
        return value

    async def list_instances(request: Request) -> Response:
        name, missing = workflow_or_404(request)
        if missing:
            return missing
        page = query_int(request, "page", 1)
        per_page = query_int(request, "per_page", 25)
        if isinstance(page, Response):
            return page
        if isinstance(per_page, Response):
            return per_page
        bounds = {}
        for key in ("date_start", "date_end"):
            raw = request.query_params.get(key)
            if raw is not None:
                try:
                    bounds[key] = datetime.fromisoformat(raw)
                except ValueError:
                    return fail(400, 10001, f"{key}: Invalid ISO datetime")
        if len(bounds) == 2 and bounds["date_start"] > bounds["date_end"]:
            return fail(
                400,
                10502,
                "'date_start' must not be after 'date_end'. Update 'date_start' or 'date_end' "
                "so 'date_start' is before or equal to 'date_end'.",
            )
        status = request.query_params.get("status")
        rows = []
        counts: dict[str, int] = {}
        for iid, row in state.instances[name].items():
            current = row["details"]["status"]
            counts[current] = counts.get(current, 0) + 1
            created = datetime.fromisoformat(row["created_on"])
            if status is not None and current != status:
                continue
            if "date_start" in bounds and created < bounds["date_start"]:
                continue
            if "date_end" in bounds and created > bounds["date_end"]:
                continue
            rows.append({"id": iid, "status": current, "created_on": row["created_on"]})
        rows.sort(key=lambda r: r["created_on"], reverse=True)
        total = len(rows)
        chunk = rows[(page - 1) * per_page : page * per_page]
        info = {
            "page": page,
            "per_page": per_page,
            "total_count": total,
            "total_pages": max(1, -(-total // per_page)),
            "status_counts": counts,
        }
        return ok(chunk, info)

    async def get_instance(request: Request) -> Response:
        _, _, row, missing = instance_or_404(request)
        return missing or ok(row["details"])  # type: ignore[index]

    async def delete_instance(request: Request) -> Response:
        name, iid, _, missing = instance_or_404(request)
        if missing:
            return missing
        del state.instances[name][iid]
        return ok({"success": True})

    async def change_status(request: Request) -> Response:
        _, _, row, missing = instance_or_404(request)
        if missing:
            return missing
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            return fail(400, 10001, "Invalid input")
        try:
            body = json.loads(await request.body())
        except ValueError:
            return fail(400, 10001, "Invalid JSON request body")
        action = body.get("status") if isinstance(body, dict) else None
        if action not in ("pause", "resume", "restart", "terminate"):
            return fail(400, 10001, "Invalid input")
        if "rollback" in body and action != "terminate":
            return fail(400, 10001, "'rollback' is only valid when terminating.")
        details = row["details"]  # type: ignore[index]
        finite = details["status"] in ("complete", "errored", "terminated")
        if action == "terminate":
            if finite:
                return fail(
                    500,
                    10001,
                    "WorkflowError: (instance.cannot_terminate) Cannot terminate instance since its on a finite state",
                )
            details["status"] = "terminated"
        elif action == "pause" and not finite:
            details["status"] = "paused"
        elif action == "resume" and details["status"] == "paused":
            details["status"] = "running"
        elif action == "restart":
            start_from = body.get("from")
            if start_from:
                kind = {"do": "step", None: "step"}.get(start_from.get("type"), start_from.get("type"))
                target = f"{start_from['name']}-{start_from.get('count', 1)}"
                if not any(s["name"] == target and s["type"] == kind for s in details["steps"]):
                    return fail(
                        409,
                        10001,
                        f'WorkflowError: (instance.cannot_restart) Step "{start_from["name"]}" '
                        "not found in execution history",
                    )
            details["status"] = "queued"
        return ok({"status": details["status"], "timestamp": iso(datetime.now(UTC))})

    async def send_event(request: Request) -> Response:
        name, iid, _, missing = instance_or_404(request)
        if missing:
            return missing
        raw = await request.body()
        state.events.append((name, iid, request.path_params["etype"], json.loads(raw) if raw else None))
        return ok({"success": True})

    async def batch_delete(request: Request) -> Response:
        name, missing = workflow_or_404(request)
        if missing:
            return missing
        body = json.loads(await request.body())
        deleted, errors = [], []
        for iid in body.get("instances", []):
            if state.instances[name].pop(iid, None) is None:
                errors.append({"id": iid, "code": 10400, "message": "workflows.api.error.instance.not_found"})
            else:
                deleted.append({"id": iid})
        return ok({"deleted": deleted, "errors": errors})

    routes = [
        Route("/workflows", list_workflows),
        Route("/workflows/{wf}", get_workflow, methods=["GET"]),
        Route("/workflows/{wf}", delete_workflow, methods=["DELETE"]),
        Route("/workflows/{wf}/instances", list_instances, methods=["GET"]),
        Route("/workflows/{wf}/instances", create_instance, methods=["POST"]),
        Route("/workflows/{wf}/instances/batch/delete", batch_delete, methods=["POST"]),
        Route("/workflows/{wf}/instances/{iid}", get_instance, methods=["GET"]),
        Route("/workflows/{wf}/instances/{iid}", delete_instance, methods=["DELETE"]),
        Route("/workflows/{wf}/instances/{iid}/status", change_status, methods=["PATCH"]),
        Route("/workflows/{wf}/instances/{iid}/events/{etype}", send_event, methods=["POST"]),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("404 Not Found", status_code=404)

    app = Starlette(
        routes=[
            Mount(LOCAL_PREFIX, routes=routes),
            Mount(REMOTE_ROOT + "/accounts/{account}", routes=routes),
        ],
        exception_handlers={404: not_found},
    )

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)
        request = Request(scope, receive)
        body = await request.body()
        state.requests.append(
            Recorded(
                scope["method"],
                scope.get("raw_path", scope["path"].encode()).decode("latin-1"),  # as sent, %-encoded
                scope["query_string"].decode(),
                dict(request.headers),
                body,
            )
        )

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        response: Response | None = None
        if state.foreign:
            response = PlainTextResponse("404 Not Found", status_code=404)
        elif scope["path"].startswith(LOCAL_PREFIX):
            host = request.headers.get("host", "").rsplit(":", 1)[0]
            if host not in ("localhost", "127.0.0.1", "[::1]"):
                response = PlainTextResponse("Invalid Host header", status_code=403)
        elif scope["path"].startswith(REMOTE_ROOT):
            if request.headers.get("authorization") != f"Bearer {TOKEN}":
                response = fail(403, 10000, "Authentication error")
            elif not scope["path"].startswith(f"{REMOTE_ROOT}/accounts/{ACCOUNT}/"):
                response = fail(403, 10000, "Authentication error")
        if response is not None:
            return await response(scope, replay, send)
        await app(scope, replay, send)

    return asgi  # type: ignore[return-value]


class StandIn:
    """The stand-in running under uvicorn in a thread, on a free port of 127.0.0.1."""

    def __init__(self) -> None:
        self.state = State()
        self.state.reset()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(build_app(self.state), log_level="warning", lifespan="off", ws="none", http="h11")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    @property
    def remote_base(self) -> str:
        return f"http://127.0.0.1:{self.port}{REMOTE_ROOT}"

    def start(self) -> StandIn:
        self._thread.start()
        deadline = datetime.now() + timedelta(seconds=10)
        while not self._server.started:
            if datetime.now() > deadline or not self._thread.is_alive():
                raise RuntimeError("the stand-in management API did not start within 10 s")
            threading.Event().wait(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
