"""Static assets, served as Cloudflare serves them (runtime/server/assets.py, runtime/bindings/assets.py).

Projects are shaped like python-workers-examples/06-assets (a Worker returning
`await self.env.ASSETS.fetch(request)`) and 19-django-todo-d1 (assets first, `run_worker_first`
for /api/*); every request goes through the real dev app in-process.
"""

from __future__ import annotations

import contextlib
import json
import os
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pyflows.runtime.config import load
from pyflows.runtime.errors import ConfigError, ConfigSchemaError
from pyflows.runtime.server.assets import content_type
from test_worker import open_app, restore_sys_path  # noqa: F401 - the fixture is used by name

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("restore_sys_path")]


@contextlib.asynccontextmanager
async def served(root: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The project's dev app in-process; the runtime is closed even when an assertion fails."""
    runtime, client = await open_app(root)
    try:
        async with client:
            yield client
    finally:
        await runtime.close()


ASSETS_WORKER = """
    from workers import WorkerEntrypoint

    class Default(WorkerEntrypoint):
        async def fetch(self, request):
            return await self.env.ASSETS.fetch(request)
"""

API_WORKER = """
    from urllib.parse import urlparse
    from workers import Response, WorkerEntrypoint

    class Default(WorkerEntrypoint):
        async def fetch(self, request):
            path = urlparse(request.url).path
            if path == "/via-binding":
                return await self.env.ASSETS.fetch("http://assets.local/style.css")
            if path == "/via-js-object":
                return await self.env.ASSETS.fetch(request.js_object)
            return Response("worker " + path)
"""

# The 06-assets example's files (our own bytes: only the names and kinds matter).
SITE = {
    "index.html": "<!doctype html><title>home</title>",
    "image.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>",
    "style.css": "body { color: red }",
    "script.js": "console.log('hi')",
    "favicon.ico": b"\x00\x00\x01\x00\x01\x00",
    "painting.jpg": b"\xff\xd8\xff\xe0JFIF",
    "data.json": '{"a": 1}',
    "notes.txt": "plain",
    "font.woff2": b"wOF2",
    "blob.unknownext": b"\x01\x02",
    "about.html": "<p>about</p>",
    "blog/index.html": "<p>blog</p>",
    "docs/404.html": "<p>docs missing</p>",
    "404.html": "<p>top missing</p>",
    "_headers": "/*\n  X-Test: 1\n",
}


def make_project(
    root: Path, *, entry: str = ASSETS_WORKER, assets: dict[str, object] | None = None, date: str = "2025-11-02"
) -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "worker.py").write_text(textwrap.dedent(entry))
    for name, data in SITE.items():
        path = root / "public" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data)
    config = {
        "name": "assets-worker",
        "main": "src/worker.py",
        "compatibility_date": date,
        "compatibility_flags": ["python_workers"],
        "assets": {"directory": "./public/", "binding": "ASSETS", **(assets or {})},
    }
    (root / "wrangler.jsonc").write_text(json.dumps(config))
    return root


async def test_each_content_type_is_what_cloudflare_sends(tmp_path: Path) -> None:
    expected = {
        "/": "text/html; charset=utf-8",
        "/image.svg": "image/svg+xml",
        "/style.css": "text/css; charset=utf-8",
        "/script.js": "text/javascript; charset=utf-8",
        "/favicon.ico": "image/vnd.microsoft.icon",
        "/painting.jpg": "image/jpeg",
        "/data.json": "application/json",
        "/notes.txt": "text/plain; charset=utf-8",
        "/font.woff2": "font/woff2",
    }
    async with served(make_project(tmp_path)) as client:
        for path, kind in expected.items():
            reply = await client.get(path)
            assert (path, reply.status_code, reply.headers.get("content-type")) == (path, 200, kind)
            assert reply.headers["cache-control"] == "public, max-age=0, must-revalidate"
        ico = await client.get("/favicon.ico")
        assert ico.content == SITE["favicon.ico"]
        unknown = await client.get("/blob.unknownext")
        assert unknown.status_code == 200 and "content-type" not in unknown.headers
        assert (await client.get("/_headers")).status_code == 404  # metafiles are never served


def test_content_type_table_matches_the_mime_names() -> None:
    assert content_type("a/b.HTML") == "text/html; charset=utf-8"
    assert content_type("x.mjs") == "text/javascript; charset=utf-8"
    assert content_type("x.webmanifest") == "application/manifest+json"
    assert content_type("x.wasm") == "application/wasm"
    assert content_type("Makefile") is None
    assert content_type("dir.v1/file") is None


async def test_etag_and_if_none_match_give_304(tmp_path: Path) -> None:
    async with served(make_project(tmp_path)) as client:
        first = await client.get("/style.css")
        etag = first.headers["etag"]
        assert etag.startswith('"') and etag.endswith('"') and len(etag) > 10
        again = await client.get("/style.css", headers={"If-None-Match": etag})
        assert (again.status_code, again.content) == (304, b"")
        assert again.headers["etag"] == etag
        weak = await client.get("/style.css", headers={"If-None-Match": "W/" + etag})
        assert weak.status_code == 304
        other = await client.get("/style.css", headers={"If-None-Match": '"nope"'})
        assert other.status_code == 200
        private = await client.get("/style.css", headers={"Authorization": "Bearer x"})
        assert "cache-control" not in private.headers
        # An edit is served at once (no reload), with a new ETag.
        css = tmp_path / "public" / "style.css"
        css.write_text("body { color: blue; margin: 0 }")
        os.utime(css, ns=(css.stat().st_atime_ns, css.stat().st_mtime_ns + 1_000_000))
        edited = await client.get("/style.css", headers={"If-None-Match": etag})
        assert (edited.status_code, edited.text) == (200, "body { color: blue; margin: 0 }")
        assert edited.headers["etag"] != etag
        head = await client.head("/style.css")
        assert (head.status_code, head.content) == (200, b"")
        assert head.headers["content-length"] == str(len("body { color: blue; margin: 0 }"))


async def test_auto_trailing_slash_html_handling(tmp_path: Path) -> None:
    async with served(make_project(tmp_path)) as client:
        assert (await client.get("/about")).text == "<p>about</p>"
        for path, location in [
            ("/about.html", "/about"),
            ("/about/", "/about"),
            ("/blog", "/blog/"),
            ("/blog/index.html", "/blog/"),
            ("/blog.html", "/blog/"),
            ("/index.html", "/"),
            ("/about.html?x=1", "/about?x=1"),
        ]:
            reply = await client.get(path)
            assert (path, reply.status_code, reply.headers.get("location")) == (path, 307, location)
        assert (await client.get("/blog/")).text == "<p>blog</p>"
        assert (await client.post("/about")).status_code == 405
        assert (await client.get("/nothing-here")).status_code == 404


@pytest.mark.parametrize(
    ("mode", "cases"),
    [
        ("force-trailing-slash", [("/about", 307, "/about/"), ("/about/", 200, None), ("/blog/", 200, None)]),
        ("drop-trailing-slash", [("/blog/", 307, "/blog"), ("/blog", 200, None), ("/about/", 307, "/about")]),
        ("none", [("/about", 404, None), ("/about.html", 200, None), ("/blog/", 404, None)]),
    ],
)
async def test_other_html_handling_modes(tmp_path: Path, mode: str, cases: list[tuple[str, int, str | None]]) -> None:
    async with served(make_project(tmp_path, assets={"html_handling": mode})) as client:
        for path, status, location in cases:
            reply = await client.get(path)
            assert (path, reply.status_code, reply.headers.get("location")) == (path, status, location)


async def test_single_page_application_and_404_page_fallbacks(tmp_path: Path) -> None:
    async with served(
        make_project(tmp_path / "spa", assets={"not_found_handling": "single-page-application"})
    ) as client:
        reply = await client.get("/some/client/route")
        assert (reply.status_code, reply.text) == (200, SITE["index.html"])
    async with served(make_project(tmp_path / "ssg", assets={"not_found_handling": "404-page"})) as client:
        nested = await client.get("/docs/missing/page")
        assert (nested.status_code, nested.text) == (404, "<p>docs missing</p>")
        top = await client.get("/missing")
        assert (top.status_code, top.text) == (404, "<p>top missing</p>")
        assert top.headers["content-type"] == "text/html; charset=utf-8"


async def test_assets_first_then_the_worker_and_run_worker_first(tmp_path: Path) -> None:
    async with served(
        make_project(tmp_path / "a", entry=API_WORKER, assets={"not_found_handling": "single-page-application"})
    ) as client:
        assert (await client.get("/style.css")).text == SITE["style.css"]  # an asset: the Worker never runs
        assert (await client.get("/api/todos")).text == "worker /api/todos"  # no asset: the Worker
        # The SPA fallback applies to browser navigations only (compatibility_date >= 2025-04-01).
        nav = await client.get("/app/route", headers={"Sec-Fetch-Mode": "navigate"})
        assert nav.text == SITE["index.html"]
        via = await client.get("/via-binding")
        assert (via.text, via.headers["content-type"]) == (SITE["style.css"], "text/css; charset=utf-8")
    async with served(
        make_project(tmp_path / "b", entry=API_WORKER, assets={"run_worker_first": ["/api/*", "!/api/docs.html"]})
    ) as client:
        assert (await client.get("/api/style.css")).text == "worker /api/style.css"
        (tmp_path / "b" / "public" / "api").mkdir()
        (tmp_path / "b" / "public" / "api" / "docs.html").write_text("docs")
        assert (await client.get("/api/docs.html")).status_code == 307  # excluded: the assets answer
        assert (await client.get("/style.css")).text == SITE["style.css"]
        reply = await client.get("/via-js-object")
        assert reply.status_code == 404  # the binding has no /via-js-object asset
    async with served(make_project(tmp_path / "c", entry=API_WORKER, assets={"run_worker_first": True})) as client:
        assert (await client.get("/style.css")).text == "worker /style.css"


async def test_percent_encoded_paths_are_decoded_and_canonicalised(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    (root / "public" / "hello world.txt").write_text("spaced")
    (root / "public" / "[id].html").write_text("bracket")
    async with served(root) as client:
        assert (await client.get("/hello%20world.txt")).text == "spaced"
        reply = await client.get("/[id]")
        assert (reply.status_code, reply.headers["location"]) == (307, "/%5Bid%5D")
        assert (await client.get("/%5Bid%5D")).text == "bracket"
        assert (await client.get("/../wrangler.jsonc")).status_code == 404


def test_assets_config_errors_name_the_key(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    (root / "wrangler.jsonc").write_text('{"name": "x", "main": "src/worker.py", "assets": {"directory": "./nope"}}')
    with pytest.raises(ConfigError, match=r"assets.directory is './nope', but .* is not a directory"):
        load(root)
    (root / "wrangler.jsonc").write_text(
        '{"name": "x", "main": "src/worker.py", "assets": {"directory": "./public", "html_handling": "sometimes"}}'
    )
    with pytest.raises(ConfigSchemaError, match="assets.html_handling"):
        load(root)
    (root / "wrangler.jsonc").write_text(
        '{"name": "x", "main": "src/worker.py", "assets": {"directory": "./public", "run_worker_first": ["api/*"]}}'
    )
    with pytest.raises(ConfigSchemaError, match="run_worker_first"):
        load(root)


async def test_binding_exists_only_when_named(tmp_path: Path) -> None:
    root = make_project(tmp_path, entry=API_WORKER)
    data = json.loads((root / "wrangler.jsonc").read_text())
    del data["assets"]["binding"]
    (root / "wrangler.jsonc").write_text(json.dumps(data))
    async with served(root) as client:
        assert (await client.get("/style.css")).text == SITE["style.css"]
        reply = await client.get("/via-binding")
        assert reply.status_code == 500 and "env has no binding or variable 'ASSETS'" in reply.text


async def test_direct_binding_call_without_a_server(tmp_path: Path) -> None:
    from pyflows.runtime.bindings.platform import platform_bindings

    config = load(make_project(tmp_path))
    binding = platform_bindings(config)["ASSETS"]
    reply = await binding.fetch("http://x/blog/")
    assert (reply.status, await reply.text()) == (200, "<p>blog</p>")
    with pytest.raises(TypeError, match="takes a Request or a URL string"):
        await binding.fetch(42)


async def test_redirects_and_headers_files(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    (root / "public" / "_redirects").write_text(
        "# comments and bad lines are skipped\n"
        "/old-about /about 301\n"
        "/blog/:year/:slug /posts/:slug?from=:year\n"
        "/docs/* /manual/:splat 308\n"
        "/app/* / 200\n"
        "/away https://example.com/x\n"
        "/broken\n"
        "/bad-status /about 999\n"
    )
    (root / "public" / "_headers").write_text(
        "/*\n  X-Frame-Options: DENY\n  X-Multi: a\n/style.css\n  ! Cache-Control\n  X-Multi: b\n"
        "/files/:name\n  X-Name: :name\n"
    )
    async with served(root) as client:
        moved = await client.get("/old-about")
        assert (moved.status_code, moved.headers["location"]) == (301, "/about")
        assert moved.headers["x-frame-options"] == "DENY"  # _headers apply to every asset response
        post = await client.get("/blog/2024/hello?x=1")
        assert (post.status_code, post.headers["location"]) == (302, "/posts/hello?from=2024")
        docs = await client.get("/docs/a/b")
        assert (docs.status_code, docs.headers["location"]) == (308, "/manual/a/b")
        spa = await client.get("/app/deep/route")
        assert (spa.status_code, spa.text) == (200, SITE["index.html"])  # 200: served in place
        away = await client.get("/away?q=2")
        assert away.headers["location"] == "https://example.com/x?q=2"
        assert (await client.get("/broken")).status_code == 404
        assert (await client.get("/bad-status")).status_code == 404
        css = await client.get("/style.css")
        assert "cache-control" not in css.headers
        assert css.headers.get_list("x-multi") == ["a", "b"]
        assert (await client.get("/about")).headers.get_list("x-multi") == ["a"]
        named = await client.get("/files/report")
        assert named.headers["x-name"] == "report"
        (root / "public" / "_redirects").write_text("/old-about /blog/ 302\n")  # edits apply at once
        again = await client.get("/old-about")
        assert (again.status_code, again.headers["location"]) == (302, "/blog/")


async def test_assetsignore_hides_files_with_gitignore_patterns(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    (root / "public" / "app.js.map").write_text("{}")
    (root / "public" / "secret").mkdir()
    (root / "public" / "secret" / "key.txt").write_text("k")
    async with served(root) as client:
        assert (await client.get("/app.js.map")).status_code == 200
        assert (await client.get("/_headers")).status_code == 404  # metafiles are hidden by default
        (root / "public" / ".assetsignore").write_text("*.map\nsecret/\n!_headers\n")
        assert (await client.get("/app.js.map")).status_code == 404
        assert (await client.get("/secret/key.txt")).status_code == 404
        assert (await client.get("/.assetsignore")).status_code == 404
        assert (await client.get("/_headers")).text == SITE["_headers"]  # opted back in
        assert (await client.get("/style.css")).status_code == 200
