"""`pyflows workflows …` without `--local`, against a stand-in that checks every request against
the Workflows operations of Cloudflare's published API schema (tests/client/data/, see its `info`).

The stand-in (a real HTTP server on a free port) refuses, with a 400 and a recorded violation, any
request whose path, method, token, query parameters or JSON body the schema does not allow, and
answers the rest with canned Cloudflare envelopes; instance lists page with `result_info.cursor`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import jsonschema
import pytest

SCHEMA = json.loads((Path(__file__).parent / "data" / "cloudflare-workflows-openapi.json").read_text("utf-8"))
TOKEN = "test-token-123"
ACCOUNT = "0123456789abcdef0123456789abcdef"
INSTANCES = [f"inst-{n}" for n in range(7, 0, -1)]  # newest first
ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "PYFLOWS_", "FORCE_COLOR"))},
    "TZ": "UTC",
    "NO_COLOR": "1",
    "PYFLOWS_HIDE_BANNER": "1",
}


def _operations() -> list[tuple[re.Pattern[str], str, dict[str, Any]]]:
    ops = []
    for template, item in SCHEMA["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$")
        for method, op in item.items():
            ops.append((pattern, method.upper(), op))
    return ops


OPERATIONS = _operations()


def check(method: str, path: str, query: list[tuple[str, str]], headers: Any, body: bytes) -> list[str]:
    """Every way the request breaks the schema (empty when it conforms)."""
    problems: list[str] = []
    if headers.get("authorization") != f"Bearer {TOKEN}":
        problems.append("no bearer token")
    found = [(p.match(path), m, op) for p, m, op in OPERATIONS if p.match(path)]
    if not found:
        return [*problems, f"no operation has the path {path}"]
    ops = [(match, op) for match, m, op in found if m == method]
    if not ops:
        return [*problems, f"{method} is not an operation of {path}"]
    match, op = ops[0]
    params = {(p["in"], p["name"]): p for p in op.get("parameters", [])}
    for name, value in match.groupdict().items():
        limit = params[("path", name)]["schema"].get("maxLength")
        if limit is not None and len(unquote(value)) > limit:
            problems.append(f"path {name} is longer than {limit}")
    seen = set()
    for name, value in query:
        seen.add(name)
        param = params.get(("query", name))
        if param is None:
            problems.append(f"unknown query parameter {name}")
            continue
        schema = dict(param["schema"])
        typed: Any = value
        if schema.get("type") == "number":
            try:
                typed = float(value)
            except ValueError:
                problems.append(f"query {name}={value!r} is not a number")
                continue
        schema.pop("deprecated", None)
        for error in jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker()).iter_errors(typed):
            problems.append(f"query {name}: {error.message}")
    for group in op.get("x-mutually-exclusive", []):
        if all(name in seen for name in group):
            problems.append(f"query parameters {' and '.join(group)} are mutually exclusive")
    request_body = op.get("requestBody")
    if request_body is None:
        if body:
            problems.append("a body where the operation takes none")
    elif body or request_body.get("required"):
        if not headers.get("content-type", "").startswith("application/json"):
            problems.append("the body is not application/json")
        try:
            data = json.loads(body)
        except ValueError:
            return [*problems, "the body is not JSON"]
        schema = request_body["content"]["application/json"]["schema"]
        for error in jsonschema.Draft7Validator(schema).iter_errors(data):
            problems.append(f"body: {error.message}")
    return problems


def envelope(result: Any, **info: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if info:
        body["result_info"] = info
    return body


def _instance(iid: str) -> dict[str, Any]:
    n = int(iid.rsplit("-", 1)[1])
    return {"id": iid, "status": "complete", "created_on": f"2026-11-0{n}T10:00:00.000Z", "workflow_id": "w"}


def answer(method: str, path: str, query: dict[str, str], body: bytes) -> dict[str, Any]:
    """Cloudflare-shaped answers; instance lists page by cursor (`c<offset>`)."""
    tail = path.split(f"/accounts/{ACCOUNT}", 1)[1] if f"/accounts/{ACCOUNT}" in path else path
    if tail == "/workflows":
        row = {"name": "my-workflow", "class_name": "MyWorkflow", "script_name": "wf", "id": "w"}
        return envelope([row], count=1, page=1, per_page=10, total_count=1)
    if re.fullmatch(r"/workflows/[^/]+/instances", tail) and method == "GET":
        per_page = int(float(query.get("per_page", "2")))
        start = int(query["cursor"][1:]) if "cursor" in query else 0
        rows = [_instance(i) for i in INSTANCES[start : start + per_page]]
        more = {"cursor": f"c{start + per_page}"} if start + per_page < len(INSTANCES) else {}
        return envelope(rows, count=len(rows), per_page=per_page, **more)
    if re.fullmatch(r"/workflows/[^/]+/instances", tail):
        sent = json.loads(body or b"{}")
        return envelope({"id": sent.get("instance_id", "generated-id"), "status": "queued", "version_id": "v"})
    if tail.endswith("/status"):
        return envelope({"status": json.loads(body)["status"], "timestamp": "2026-11-29T10:00:00.000Z"})
    if "/events/" in tail:
        return envelope(None)
    if re.fullmatch(r"/workflows/[^/]+/instances/[^/]+", tail):
        return envelope({**_instance("inst-3"), "status": "running", "params": {}, "queued": "2026-11-03T10:00:00.000Z",
                         "start": "2026-11-03T10:00:00.000Z", "end": "2026-11-03T10:00:01.000Z",
                         "output": None, "error": None, "steps": [], "step_count": 0})  # fmt: skip
    counts = {s: 0 for s in ("queued", "running", "paused", "errored", "terminated", "complete", "waiting")}
    return envelope({"name": "my-workflow", "class_name": "MyWorkflow", "script_name": "wf", "instances": counts})


class StandIn:
    def __init__(self) -> None:
        self.requests: list[str] = []
        self.violations: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                query = parse_qsl(parts.query, keep_blank_values=True)
                path = parts.path.removeprefix("/client/v4")
                headers = {k.lower(): v for k, v in self.headers.items()}
                problems = check(self.command, path, query, headers, body)
                stand_in.requests.append(f"{self.command} {path}" + (f"?{parts.query}" if parts.query else ""))
                if problems:
                    stand_in.violations.extend(f"{self.command} {self.path}: {p}" for p in problems)
                    reply = {"success": False, "errors": [{"code": 10001, "message": "; ".join(problems)}],
                             "messages": [], "result": None}  # fmt: skip
                    status = 400
                else:
                    reply, status = answer(self.command, path, dict(query), body), 200
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}/client/v4"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def cloudflare() -> Iterator[StandIn]:
    stand_in = StandIn()
    try:
        yield stand_in
    finally:
        stand_in.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    config = {
        "name": "wf",
        "main": "src/entry.py",
        "account_id": ACCOUNT,
        "env": {"staging": {"account_id": "ffffffffffffffffffffffffffffffff"}},
    }
    (tmp_path / "wrangler.jsonc").write_text(json.dumps(config))
    return tmp_path


def pyflows(stand_in: StandIn, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**ENV, "PYFLOWS_API_BASE_URL": stand_in.base, "CLOUDFLARE_API_TOKEN": TOKEN, **env}
    return subprocess.run(
        [sys.executable, "-m", "pyflows", "workflows", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={k: v for k, v in full.items() if v},
        cwd=cwd,
        timeout=60,
    )


def test_the_stand_in_refuses_what_the_schema_does_not_allow(cloudflare: StandIn) -> None:
    base = f"{cloudflare.base}/accounts/{ACCOUNT}/workflows/my-workflow/instances"
    for url, body in ((f"{base}?page=1&cursor=c2", None), (f"{base}?status=bogus", None), (base, b'{"id": "x"}')):
        request = urllib.request.Request(url, data=body, headers={"Authorization": f"Bearer {TOKEN}"})
        if body:
            request.add_header("content-type", "application/json")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 400
        refused.value.close()
    assert len(cloudflare.violations) == 3
    assert "mutually exclusive" in cloudflare.violations[0]
    assert "'bogus' is not one of" in cloudflare.violations[1]
    assert "Additional properties are not allowed ('id' was unexpected)" in cloudflare.violations[2]


def test_every_command_sends_requests_the_schema_allows(cloudflare: StandIn, project: Path) -> None:
    account = {"CLOUDFLARE_ACCOUNT_ID": ACCOUNT}
    commands = [
        ("list",),
        ("describe", "my-workflow"),
        ("trigger", "my-workflow", '{"a": 1}', "--id", "r-1"),
        ("instances", "list", "my-workflow", "--status", "complete", "--per-page", "2"),
        ("instances", "describe", "my-workflow", "inst-3"),
        ("instances", "pause", "my-workflow", "inst-3"),
        ("instances", "resume", "my-workflow", "inst-3"),
        ("instances", "terminate", "my-workflow", "inst-3"),
        ("instances", "restart", "my-workflow", "inst-3", "--from-step-name", "nap", "--from-step-type", "sleep"),
        ("instances", "send-event", "my-workflow", "inst-3", "--type", "approve", "--payload", '{"ok": true}'),
    ]
    for command in commands:
        done = pyflows(cloudflare, project, *command, **account)
        assert done.returncode == 0, (command, done.stdout, done.stderr, cloudflare.violations)
    assert cloudflare.violations == []
    assert len(cloudflare.requests) >= len(commands)  # send-event reads the instance's status first
    assert all(r.split(" ", 1)[1].startswith(f"/accounts/{ACCOUNT}/workflows") for r in cloudflare.requests)


def test_instances_list_follows_cursors_to_the_page_asked_for(cloudflare: StandIn, project: Path) -> None:
    done = pyflows(cloudflare, project, "instances", "list", "my-workflow", "--per-page", "2", "--page", "3", "--json")
    assert done.returncode == 0, (done.stdout, done.stderr, cloudflare.violations)
    assert [row["id"] for row in json.loads(done.stdout)] == ["inst-3", "inst-2"]  # rows 5 and 6 of 7
    path = f"/accounts/{ACCOUNT}/workflows/my-workflow/instances"
    assert cloudflare.requests == [f"GET {path}?per_page=2", f"GET {path}?per_page=2&cursor=c2",
                                   f"GET {path}?per_page=2&cursor=c4"]  # fmt: skip
    assert cloudflare.violations == []
    done = pyflows(cloudflare, project, "instances", "list", "my-workflow", "--per-page", "5", "--page", "3", "--json")
    assert done.returncode == 0 and json.loads(done.stdout) == []  # the list ended before page 3
    assert cloudflare.violations == []


def test_the_account_id_comes_from_the_environment_else_the_config(cloudflare: StandIn, project: Path) -> None:
    assert pyflows(cloudflare, project, "list").returncode == 0  # no CLOUDFLARE_ACCOUNT_ID: the config's
    assert pyflows(cloudflare, project, "list", "--env", "staging").returncode == 1  # env.staging's account
    assert pyflows(cloudflare, project, "list", CLOUDFLARE_ACCOUNT_ID="a" * 32).returncode == 1
    accounts = [r.split("/")[2] for r in cloudflare.requests]
    assert accounts == [ACCOUNT, "f" * 32, "a" * 32]
    (project / "wrangler.jsonc").write_text(json.dumps({"name": "wf", "main": "src/entry.py"}))
    done = pyflows(cloudflare, project, "list")
    assert done.returncode == 1 and "CLOUDFLARE_ACCOUNT_ID" in done.stderr and '"account_id"' in done.stderr
