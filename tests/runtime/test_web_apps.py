"""ASGI and WSGI apps inside a Worker, shaped like Cloudflare's python-workers-examples.

03-fastapi (FastAPI + Jinja2, `asgi.fetch(app, request.js_object, self.env)`, `request.scope["env"]`),
18-django (`wsgi.fetch(application, request, self.env)`), a Flask app, and `pyodide.ffi.run_sync`
from the synchronous code of a WSGI view. Each project is loaded by the real loader and served by the
real dev app in-process. Django configures itself once per process, so one Django project runs here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from test_worker import open_app, restore_sys_path  # noqa: F401 - the fixture is used by name

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restore_sys_path", "forget_app_modules")]


@contextlib.asynccontextmanager
async def served(root: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The project's dev app in-process; the runtime is closed even when an assertion fails."""
    runtime, client = await open_app(root)
    try:
        async with client:
            yield client
    finally:
        await runtime.close()


@pytest.fixture
def forget_app_modules():
    yield
    for name in list(sys.modules):
        if name.split(".")[0] in ("worker", "hello_django", "flask_app"):
            del sys.modules[name]


def write(root: Path, files: dict[str, str], config: dict[str, object]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    (root / "wrangler.jsonc").write_text(json.dumps(config))
    return root


FASTAPI_WORKER = """
    import jinja2
    from fastapi import FastAPI, Request
    from workers import WorkerEntrypoint

    template = jinja2.Environment().from_string("Hello, {{ name }}!")
    app = FastAPI()


    @app.get("/")
    async def root():
        return {"message": "FastAPI with Jinja2 - go to /hi/<name>"}


    @app.get("/hi/{name}")
    async def say_hi(name: str):
        return {"message": template.render(name=name)}


    @app.get("/env")
    async def env(req: Request):
        env = req.scope["env"]
        return {"message": f"The variable is: {env.MESSAGE}"}


    @app.post("/echo")
    async def echo(req: Request):
        return {"body": await req.json(), "agent": req.headers.get("x-agent"), "query": req.url.query}


    class Default(WorkerEntrypoint):
        async def fetch(self, request):
            import asgi

            return await asgi.fetch(app, request.js_object, self.env)
"""


async def test_fastapi_with_templates_and_scope_env(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {"src/worker.py": FASTAPI_WORKER},
        {
            "name": "fastapi-worker",
            "main": "src/worker.py",
            "compatibility_date": "2025-11-02",
            "compatibility_flags": ["python_workers"],
            "vars": {"MESSAGE": "My env var"},
        },
    )
    async with served(root) as client:
        home = await client.get("/")
        assert home.text == '{"message":"FastAPI with Jinja2 - go to /hi/<name>"}'
        assert home.headers["content-type"] == "application/json"
        hi = await client.get("/hi/Dominik")
        assert (hi.status_code, hi.text) == (200, '{"message":"Hello, Dominik!"}')
        env = await client.get("/env")
        assert env.json() == {"message": "The variable is: My env var"}
        echo = await client.post("/echo?a=1", json={"n": [1, 2]}, headers={"X-Agent": "t"})
        assert echo.json() == {"body": {"n": [1, 2]}, "agent": "t", "query": "a=1"}
        missing = await client.get("/nope")
        assert (missing.status_code, missing.json()) == (404, {"detail": "Not Found"})


DJANGO_FILES = {
    "src/entry.py": """
        import os

        from workers import WorkerEntrypoint, wsgi

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hello_django.settings")

        from hello_django.wsgi import application


        class Default(WorkerEntrypoint):
            async def fetch(self, request):
                return await wsgi.fetch(application, request, self.env)
    """,
    "src/hello_django/__init__.py": "",
    "src/hello_django/settings.py": """
        SECRET_KEY = "test-only"
        DEBUG = False
        ALLOWED_HOSTS = ["*"]
        ROOT_URLCONF = "hello_django.urls"
        MIDDLEWARE = []
        INSTALLED_APPS = []
        DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
    """,
    "src/hello_django/urls.py": """
        import json

        from django.http import HttpResponse, JsonResponse
        from django.urls import path


        def root(_request):
            return JsonResponse({"message": "Hello from Django on Cloudflare Workers!"})


        def echo(request, word):
            return JsonResponse({
                "method": request.method,
                "body": json.loads(request.body or b"null"),
                "q": request.GET.get("q"),
                "agent": request.headers.get("X-Agent"),
                "path": request.path,
                "word": word,
                "greeting": request.META["workers.env"].GREETING,
            })


        def empty(_request):
            return HttpResponse(status=204)


        urlpatterns = [path("", root), path("echo/<str:word>/", echo), path("empty/", empty)]
    """,
    "src/hello_django/wsgi.py": """
        import os

        from django.core.wsgi import get_wsgi_application

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hello_django.settings")
        application = get_wsgi_application()
    """,
}


async def test_django_through_workers_wsgi(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        DJANGO_FILES,
        {
            "name": "django-worker",
            "main": "src/entry.py",
            "compatibility_date": "2026-07-29",
            "compatibility_flags": ["python_workers"],
            "vars": {"GREETING": "hi"},
        },
    )
    async with served(root) as client:
        home = await client.get("/")
        assert home.text == '{"message": "Hello from Django on Cloudflare Workers!"}'
        assert home.headers["content-type"] == "application/json"
        echo = await client.patch("/echo/caf%C3%A9/?q=x%20y", json={"done": True}, headers={"X-Agent": "t"})
        assert echo.json() == {
            "method": "PATCH",
            "body": {"done": True},
            "q": "x y",
            "agent": "t",
            "path": "/echo/café/",
            "word": "café",
            "greeting": "hi",
        }
        empty = await client.delete("/empty/")
        assert (empty.status_code, empty.text) == (204, "")
        assert (await client.get("/missing")).status_code == 404


FLASK_WORKER = """
    import asyncio

    from flask import Flask, jsonify, make_response, request
    from pyodide.ffi import run_sync
    from workers import WorkerEntrypoint, wsgi

    app = Flask(__name__)


    async def create_instance(env):
        await asyncio.sleep(0)
        instance = await env.MY_WORKFLOW.create(id="from-flask")
        return instance.id


    @app.post("/items")
    def items():
        data = request.get_json()
        response = make_response(jsonify({"got": data, "ua": request.headers.get("User-Agent")}), 201)
        response.set_cookie("a", "1")
        response.set_cookie("b", "2")
        return response


    @app.get("/start")
    def start():
        # Synchronous view code awaiting a binding call, as django-cf's D1 backend does.
        env = request.environ["workers.env"]
        return {"id": run_sync(create_instance(env))}


    @app.get("/status/<instance_id>")
    def status(instance_id):
        env = request.environ["workers.env"]

        async def read():
            return await (await env.MY_WORKFLOW.get(instance_id)).status()

        return dict(run_sync(read()))


    class Default(WorkerEntrypoint):
        async def fetch(self, request):
            return await wsgi.fetch(app, request, self.env)


    class Flow(__import__("workers").WorkflowEntrypoint):
        async def run(self, event, step):
            return "done"
"""


async def test_flask_and_run_sync_from_a_sync_view(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {"src/flask_app.py": FLASK_WORKER},
        {
            "name": "flask-worker",
            "main": "src/flask_app.py",
            "compatibility_date": "2026-03-01",
            "workflows": [{"name": "flow", "binding": "MY_WORKFLOW", "class_name": "Flow"}],
        },
    )
    async with served(root) as client:
        created = await client.post("/items", json={"x": 1}, headers={"User-Agent": "pytest"})
        assert created.status_code == 201
        assert created.json() == {"got": {"x": 1}, "ua": "pytest"}
        assert created.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
        started = await client.get("/start")
        assert started.json() == {"id": "from-flask"}
        status = (await client.get("/status/from-flask")).json()
        assert status["status"] in ("queued", "running", "complete")


# django-cf's shape: the WSGI app is called synchronously, straight from the async fetch, on the
# server's loop; the ORM then calls run_sync on binding awaitables (here: the Workflow binding and
# an asyncio.Event another request sets, which proves the loop keeps serving while one waits).
ON_THE_LOOP_WORKER = """
    import asyncio

    from flask import Flask, request
    from pyodide.ffi import run_sync
    from workers import Response, WorkerEntrypoint, WorkflowEntrypoint

    app = Flask(__name__)
    released = asyncio.Event()


    @app.get("/create")
    def create():
        instance = run_sync(request.environ["workers.env"].MY_WORKFLOW.create(id="on-the-loop"))
        return {"id": instance.id}


    @app.get("/wait")
    def wait():
        run_sync(asyncio.wait_for(released.wait(), 10))
        return {"released": True}


    @app.get("/release")
    def release():
        released.set()
        return {"ok": True}


    @app.get("/fail")
    def fail():
        async def boom():
            raise ValueError("from the awaitable")

        try:
            run_sync(boom())
        except ValueError as exc:
            return {"caught": str(exc)}


    class Flow(WorkflowEntrypoint):
        async def run(self, event, step):
            return "done"


    class Default(WorkerEntrypoint):
        async def fetch(self, req):
            path = req.url.split("/", 3)[3]
            environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/" + path, "SERVER_NAME": "x", "SERVER_PORT": "80",
                       "wsgi.url_scheme": "http", "workers.env": self.env}
            seen = {}

            def start_response(status, headers, exc_info=None):
                seen.update(status=int(status.split()[0]), headers=headers)

            body = b"".join(app(environ, start_response))  # synchronous, on the event loop
            return Response(body, status=seen["status"], headers=seen["headers"])
"""


async def test_run_sync_in_a_wsgi_app_called_on_the_loop(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {"src/flask_app.py": ON_THE_LOOP_WORKER},
        {
            "name": "on-the-loop",
            "main": "src/flask_app.py",
            "compatibility_date": "2026-03-01",
            "workflows": [{"name": "flow", "binding": "MY_WORKFLOW", "class_name": "Flow"}],
        },
    )
    async with served(root) as client:
        assert (await client.get("/create")).json() == {"id": "on-the-loop"}
        waiting = asyncio.ensure_future(client.get("/wait"))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        assert (await client.get("/release")).json() == {"ok": True}  # served while /wait is suspended
        assert (await asyncio.wait_for(waiting, 10)).json() == {"released": True}
        assert (await client.get("/fail")).json() == {"caught": "from the awaitable"}


# What django-cf's D1 backend does for each ORM query: reach the binding through
# import_from_javascript("cloudflare:workers").env, then run_sync(...) and .to_py() on the results.
D1_WORKER = """
    from pyodide.ffi import run_sync
    from workers import Response, WorkerEntrypoint, import_from_javascript


    def query(sql, *params):  # synchronous, like an ORM's cursor.execute
        db = getattr(import_from_javascript("cloudflare:workers").env, "DB")
        stmt = db.prepare(sql).bind(*params) if params else db.prepare(sql)
        if sql.lstrip().upper().startswith("SELECT"):
            return run_sync(stmt.raw()).to_py()
        result = run_sync(stmt.all())
        return {"rows": result.results.to_py(), "last_row_id": result.meta.last_row_id}


    class Default(WorkerEntrypoint):
        async def fetch(self, request):
            query("CREATE TABLE IF NOT EXISTS todos (id INTEGER PRIMARY KEY, title TEXT)")
            inserted = query("INSERT INTO todos (title) VALUES (?) RETURNING id", "write it")
            return Response.json({"inserted": inserted, "rows": query("SELECT id, title FROM todos")})
"""


async def test_d1_through_run_sync_the_way_django_cf_queries(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {"src/entry.py": D1_WORKER},
        {
            "name": "d1-orm",
            "main": "src/entry.py",
            "compatibility_date": "2026-07-29",
            "d1_databases": [{"binding": "DB", "database_name": "todos", "database_id": "0000-test"}],
        },
    )
    async with served(root) as client:
        reply = await client.get("/")
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"inserted": {"rows": [{"id": 1}], "last_row_id": 1}, "rows": [[1, "write it"]]}
