"""The Worker side of `pyflows dev`: loading `main`, the SDK shims, handlers, Request/Response.

Worker code here is written the way Cloudflare's examples write it and must load
and run unchanged; the HTTP round trips go through the real dev app in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pyflows.runtime.config import load
from pyflows.runtime.errors import UserCodeError
from pyflows.runtime.server.app import Runtime, create_app
from pyflows.runtime.surface.http import Headers, Request, Response
from pyflows.runtime.worker.loader import Env, call_relaxed, load_worker

pytestmark = pytest.mark.anyio

WORKFLOW_CONFIG = '"workflows": [{"name": "my-workflow", "binding": "MY_WORKFLOW", "class_name": "MyWorkflow"}]'

# Cloudflare's own example style: `js`, `pyodide.ffi.to_js`, `workers`, `Response.json(status)`.
CLOUDFLARE_STYLE = """
    from urllib.parse import urlparse

    import js
    from pyodide.ffi import to_js, create_proxy, jsnull
    from workers import Response, WorkerEntrypoint, WorkflowEntrypoint
    from workers.workflows import NonRetryableError

    from helpers import greeting


    class MyWorkflow(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("first step")
            async def first():
                return {"greeting": greeting(), "params": event["payload"]}

            return await first()


    class Default(WorkerEntrypoint):
        async def fetch(self, request):
            path = urlparse(request.url).path
            if path == "/create":
                options = to_js({"params": {"a": 1}}, dict_converter=js.Object.fromEntries)
                instance = await self.env.MY_WORKFLOW.create(options)
                return Response.json({"id": instance.id})
            if path.startswith("/status/"):
                instance = await self.env.MY_WORKFLOW.get(path.rsplit("/", 1)[1])
                return Response.json(await instance.status())
            if path == "/echo":
                body = await request.json()
                headers = request.headers
                return Response.json({"method": str(request.method), "is_post": request.method == "POST",
                                      "ct": headers["content-type"], "missing": headers["x-nope"],
                                      "body": body, "var": self.env.GREETING})
            if path == "/boom":
                raise ValueError("boom from the handler")
            if path == "/redirect":
                return Response.redirect("https://example.com/", 301)
            return Response("hello " + self.env.GREETING)
"""


def write_project(
    root: Path,
    entry: str,
    *,
    config_extra: str = WORKFLOW_CONFIG,
    date: str = "2026-03-01",
    files: dict[str, str] | None = None,
) -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    extra = f", {config_extra}" if config_extra else ""
    (root / "wrangler.jsonc").write_text(
        f'{{"name": "wf-test", "main": "src/entry.py", "compatibility_date": "{date}",'
        f' "vars": {{"GREETING": "hi"}}{extra}}}'
    )
    (root / "src" / "entry.py").write_text(textwrap.dedent(entry))
    (root / "src" / "helpers.py").write_text("def greeting():\n    return 'hello'\n")
    for name, text in (files or {}).items():
        (root / name).write_text(textwrap.dedent(text))
    return root


@pytest.fixture
def restore_sys_path():
    saved_path, saved_modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = saved_path
    for name in set(sys.modules) - saved_modules:
        if name.split(".")[0] in ("workers", "js", "pyodide", "asgi", "entry", "helpers"):
            del sys.modules[name]


async def open_app(root: Path, *, public: bool = False) -> tuple[Runtime, httpx.AsyncClient]:
    config = load(root)
    runtime = await Runtime.open(config, load_worker(config), state_dir=root / ".pyflows" / "state", public=public)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://localhost:8787")
    return runtime, client


async def test_cloudflare_style_worker_creates_an_instance_and_reports_status(tmp_path: Path, restore_sys_path) -> None:
    runtime, client = await open_app(write_project(tmp_path, CLOUDFLARE_STYLE))
    async with client:
        created = await client.get("/create")
        assert created.status_code == 200
        assert created.headers["content-type"] == "application/json"
        instance_id = created.json()["id"]
        for _ in range(200):
            status = (await client.get(f"/status/{instance_id}")).json()
            if status["status"] == "complete":
                break
            await asyncio.sleep(0.01)
        assert status == {
            "status": "complete",
            "error": None,
            "output": {"greeting": "hello", "params": {"a": 1}},
        }
        plain = await client.get("/")
        assert plain.text == "hello hi"
        assert plain.headers["content-type"] == "text/plain;charset=UTF-8"
    await runtime.close()


async def test_request_object_as_the_sdk_gives_it(tmp_path: Path, restore_sys_path) -> None:
    runtime, client = await open_app(write_project(tmp_path, CLOUDFLARE_STYLE))
    async with client:
        reply = await client.post("/echo", json={"x": [1, 2]})
        assert reply.json() == {
            "method": "POST",
            "is_post": True,
            "ct": "application/json",
            "missing": None,
            "body": {"x": [1, 2]},
            "var": "hi",
        }
        redirect = await client.get("/redirect")
        assert (redirect.status_code, redirect.headers["location"]) == (301, "https://example.com/")
    await runtime.close()


async def test_handler_exception_is_a_500_with_the_traceback_and_the_server_keeps_serving(
    tmp_path: Path, restore_sys_path, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime, client = await open_app(write_project(tmp_path, CLOUDFLARE_STYLE))
    async with client:
        reply = await client.get("/boom")
        assert reply.status_code == 500
        assert "ValueError: boom from the handler" in reply.text
        assert "src/entry.py" in reply.text and "raise ValueError" in reply.text
        assert (await client.get("/")).status_code == 200
    await runtime.close()
    out, err = capsys.readouterr()
    assert "✘ [ERROR] Uncaught ValueError: boom from the handler (GET /boom)" in err
    assert "[pyflows:info] GET /boom 500 Internal Server Error (" in out
    assert "[pyflows:info] GET / 200 OK (" in out


async def test_worker_refuses_a_foreign_host_unless_public(tmp_path: Path, restore_sys_path) -> None:
    runtime, client = await open_app(write_project(tmp_path, CLOUDFLARE_STYLE))
    async with client:
        reply = await client.get("/", headers={"host": "evil.example"})
        assert (reply.status_code, reply.text) == (403, "Invalid Host header")
        reply = await client.get("/", headers={"origin": "https://evil.example"})
        assert (reply.status_code, reply.text) == (403, "Invalid Origin header")
    runtime.public = True
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://192.168.1.20:8787"
    ) as remote:
        assert (await remote.get("/")).text == "hello hi"
    await runtime.close()


def test_pyflows_workers_wins_over_an_installed_workers_runtime_sdk(tmp_path: Path, restore_sys_path) -> None:
    # The real SDK cannot import under CPython (`import js` fails); a stand-in that says so.
    fake = tmp_path / "site"
    (fake / "workers").mkdir(parents=True)
    (fake / "workers" / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'js'\")\n")
    (fake / "asgi.py").write_text("raise ImportError('the real asgi shim')\n")
    sys.path.insert(0, str(fake))
    sys.modules["workers"] = type(sys)("workers")  # a stale copy already imported
    config = load(write_project(tmp_path / "proj", CLOUDFLARE_STYLE + "    import asgi\n"))
    worker = load_worker(config)
    import workers

    assert workers.Response is Response
    assert set(worker.workflow_classes) == {"MyWorkflow"}


def test_legacy_on_fetch_is_called_relaxed(tmp_path: Path, restore_sys_path) -> None:
    entry = """
        from workers import Response, WorkflowEntrypoint

        class MyWorkflow(WorkflowEntrypoint):
            async def run(self, event, step):
                return None

        async def on_fetch(request, env):
            return Response(f"{request.method} {env.GREETING}")
    """
    config = load(write_project(tmp_path, entry, date="2025-01-01"))
    assert not config.modern_handlers
    worker = load_worker(config)
    reply = asyncio.run(worker.fetch(Request("http://localhost/", method="PUT"), Env({"GREETING": "hi"})))
    assert asyncio.run(reply.text()) == "PUT hi"


def test_global_on_fetch_under_a_modern_date_is_explained(tmp_path: Path, restore_sys_path) -> None:
    entry = """
        from workers import Response
        def on_fetch(request):
            return Response("never called")
    """
    worker = load_worker(load(write_project(tmp_path, entry, config_extra="")))
    assert worker.warnings and "class Default(WorkerEntrypoint)" in worker.warnings[0]
    reply = asyncio.run(worker.fetch(Request("http://localhost/"), Env({})))
    assert reply.status == 500
    assert "disable_python_no_global_handlers" in asyncio.run(reply.text())


def test_missing_workflow_class_names_the_class_the_module_and_what_exists(tmp_path: Path, restore_sys_path) -> None:
    entry = """
        from workers import WorkflowEntrypoint
        class OtherWorkflow(WorkflowEntrypoint):
            async def run(self, event, step):
                return None
    """
    with pytest.raises(UserCodeError) as err:
        load_worker(load(write_project(tmp_path, entry)))
    message = str(err.value)
    assert "'MyWorkflow'" in message and "src/entry.py" in message
    assert "WorkflowEntrypoint classes found: OtherWorkflow" in message


def test_import_errors_carry_the_traceback(tmp_path: Path, restore_sys_path) -> None:
    entry = """
        import helpers
        helpers.explode()
    """
    with pytest.raises(UserCodeError) as err:
        load_worker(load(write_project(tmp_path, entry, files={"src/helpers.py": "def explode():\n    1 / 0\n"})))
    text = str(err.value)
    assert text.startswith("Could not import the Worker module src/entry.py:")
    assert 'src/helpers.py", line 2, in explode' in text and "ZeroDivisionError" in text
    assert "importlib" not in text

    write_project(tmp_path, "def broken(:\n    pass\n")
    with pytest.raises(UserCodeError) as err:
        load_worker(load(tmp_path))
    assert "SyntaxError" in str(err.value) and 'entry.py", line 1' in str(err.value)

    write_project(tmp_path, "from src.helpers import greeting\n")
    with pytest.raises(UserCodeError) as err:
        load_worker(load(tmp_path))
    assert "without the 'src.' prefix" in str(err.value)


def test_env_attribute_access_and_hidden_secrets() -> None:
    env = Env({"API_KEY": "s3cret", "NAME": "x"}, secret_names=frozenset({"API_KEY"}))
    assert env.NAME == "x" and env["API_KEY"] == "s3cret"
    assert "s3cret" not in repr(env)
    with pytest.raises(AttributeError, match="env has no binding or variable 'NOPE'"):
        _ = env.NOPE


def test_call_relaxed_drops_arguments_a_handler_does_not_take() -> None:
    assert call_relaxed(lambda: 0, 1, 2, 3) == 0
    assert call_relaxed(lambda a, b: (a, b), 1, 2, 3) == (1, 2)
    assert call_relaxed(lambda *a: a, 1, 2, 3) == (1, 2, 3)


def test_call_relaxed_counts_self_and_decorators_every_time() -> None:
    # The count is remembered per code object; bound methods, new closures and decorated
    # functions must still get what their own signature takes.
    class Workflow:
        def run(self, event: Any, step: Any = None) -> Any:
            return (event, step)

        def short(self, event: Any) -> Any:
            return event

    for _ in range(2):
        assert call_relaxed(Workflow().run, "e", "s", "extra") == ("e", "s")
        assert call_relaxed(Workflow().short, "e", "s") == "e"
        assert call_relaxed(Workflow.run, "self", "e", "s") == ("e", "s")  # unbound: self is an argument

    def make(n: int) -> Any:
        def handler(a: Any, b: Any) -> Any:
            return (n, a, b)

        return handler

    assert [call_relaxed(make(n), 1, 2, 3) for n in range(2)] == [(0, 1, 2), (1, 1, 2)]

    def one(a: Any) -> Any:
        return a

    @functools.wraps(one)
    def wrapped(*args: Any) -> Any:
        return args

    assert call_relaxed(wrapped, 1, 2) == (1,)  # inspect follows __wrapped__, as before the cache


# Request / Response / Headers (workers-runtime-sdk) ------------------------------------------------


def test_response_bodies_and_content_types() -> None:
    assert Response("hi").headers["content-type"] == "text/plain;charset=UTF-8"
    assert Response(b"raw").headers.get("content-type") is None
    with pytest.raises(TypeError, match="Unsupported type in Response: dict"):
        Response({"a": 1})  # type: ignore[arg-type]
    data = Response.json({"a": 1}, status=201, headers={"x-a": "b"})
    assert (data.status, data.headers["Content-Type"], data.headers["X-A"]) == (201, "application/json", "b")
    assert asyncio.run(data.json()) == {"a": 1}  # the same name parses on an instance
    with pytest.raises(OSError, match="Body already used"):
        asyncio.run(data.text())
    moved = Response.redirect("/elsewhere")
    assert (moved.status, moved.headers["location"]) == (302, "/elsewhere")
    assert Response.from_json([1]).headers["content-type"] == "application/json"


def test_request_and_headers() -> None:
    request = Request(
        "http://localhost/x?y=1", method="post", headers=[("X-Thing", "a"), ("x-thing", "b")], body='{"k": 1}'
    )
    assert request.method == "POST" and str(request.method) == "POST"
    assert request.headers["X-THING"] == "a, b" and request.headers.get_all("x-thing") == ["a", "b"]
    assert request.headers["missing"] is None and "x-thing" in request.headers
    assert asyncio.run(request.json()) == {"k": 1}
    with pytest.raises(OSError, match="Body already used"):
        asyncio.run(request.bytes())
    headers = Headers({"A": "1"})
    headers.set("a", "2")
    headers.append("B", "3")
    assert dict(headers.items()) == {"a": "2", "b": "3"}


# Shims -----------------------------------------------------------------------------------------


def test_js_and_pyodide_shims_are_identities_on_plain_data(restore_sys_path) -> None:
    from pyflows.runtime.sdk.pyodide import ffi
    from pyflows.runtime.surface import js

    data = {"params": {"a": [1, 2]}}
    assert ffi.to_js(data, dict_converter=js.Object.fromEntries) is data
    assert js.Object.fromEntries([("a", 1)]) == {"a": 1}
    assert ffi.create_proxy(len) is len and ffi.jsnull is None
    assert js.JSON.parse(js.JSON.stringify({"a": 1})) == {"a": 1}
    assert js.Response.new("x", {"status": 404}).status == 404


async def test_asgi_fetch_runs_an_asgi_app_with_env_in_scope(tmp_path: Path, restore_sys_path) -> None:
    from pyflows.runtime.surface import asgi
    from starlette.applications import Starlette
    from starlette.requests import Request as StarletteRequest
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    started: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        started.append("up")
        yield

    async def hello(request: StarletteRequest) -> JSONResponse:
        body = await request.json()
        return JSONResponse(
            {"env": request.scope["env"]["GREETING"], "q": request.query_params["q"], "body": body},
            status_code=201,
        )

    app = Starlette(routes=[Route("/hello", hello, methods=["POST"])], lifespan=lifespan)
    env = Env({"GREETING": "hi"})
    for _ in range(2):
        reply = await asgi.fetch(app, Request("http://localhost/hello?q=1", method="POST", body='{"b": 2}'), env)
        assert reply.status == 201
        assert await reply.json() == {"env": "hi", "q": "1", "body": {"b": 2}}
    assert started == ["up"]  # lifespan startup ran once


async def test_create_app_with_a_factory_opens_and_closes_the_runtime_in_the_lifespan(
    tmp_path: Path, restore_sys_path
) -> None:
    config = load(write_project(tmp_path, CLOUDFLARE_STYLE))
    worker = load_worker(config)
    opened: list[Runtime] = []

    async def factory() -> Runtime:
        opened.append(await Runtime.open(config, worker, state_dir=tmp_path / "state"))
        return opened[-1]

    app = create_app(factory)
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    sent: list[str] = []

    async def send(message: dict[str, str]) -> None:
        sent.append(message["type"])

    lifespan = asyncio.ensure_future(app({"type": "lifespan"}, inbox.get, send))
    await inbox.put({"type": "lifespan.startup"})
    while not sent:
        await asyncio.sleep(0.001)
    assert sent == ["lifespan.startup.complete"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as client:
        assert (await client.get("/")).text == "hello hi"
    await inbox.put({"type": "lifespan.shutdown"})
    await lifespan
    assert sent[-1] == "lifespan.shutdown.complete"
    assert len(opened) == 1 and opened[0]._closed


def test_a_reload_never_runs_a_stale_pyc(tmp_path: Path, restore_sys_path) -> None:
    """CPython trusts a .pyc when the source's size and mtime second match; a same-length edit in
    the same second as the last load must still run the new code (for main and for its imports)."""
    import importlib.util
    import os
    import py_compile

    entry = "from helpers import greeting\n\nVERSION = 'v1'\n"
    root = write_project(tmp_path, entry, config_extra="")
    src = root / "src"
    for path, new in (
        (src / "entry.py", entry.replace("'v1'", "'v2'")),
        (src / "helpers.py", "def greeting():\n    return 'HELLO'\n"),
    ):
        stat = path.stat()
        py_compile.compile(str(path), cfile=importlib.util.cache_from_source(str(path)), doraise=True)
        path.write_text(new)  # same length as before
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime: the .pyc looks valid
        assert path.stat().st_size == stat.st_size
    worker = load_worker(load(root))
    assert worker.module.VERSION == "v2"
    assert worker.module.greeting() == "HELLO"
