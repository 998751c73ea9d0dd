"""The Pyodide FFI surface real Worker code uses, as CPython stand-ins (runtime/surface/js.py, http.py).

The modules are imported the way user code imports them: through the shims the loader puts first on
sys.path (`js`, `pyodide.ffi`, `workers`).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from types import ModuleType

import pytest
from pyflows.runtime.sdk import SHIM_DIR
from pyflows.runtime.surface import entrypoints
from pyflows.runtime.surface.http import Request


@pytest.fixture
def shims() -> Iterator[tuple[ModuleType, ModuleType, ModuleType]]:
    saved = list(sys.path)
    sys.path.insert(0, str(SHIM_DIR))
    for name in [n for n in sys.modules if n.split(".")[0] in ("js", "pyodide", "workers")]:
        del sys.modules[name]
    import js
    import pyodide.ffi
    import workers

    yield js, pyodide.ffi, workers
    sys.path[:] = saved
    for name in [n for n in sys.modules if n.split(".")[0] in ("js", "pyodide", "workers")]:
        del sys.modules[name]


def test_js_globals_behave_like_their_javascript_namesakes(shims) -> None:
    js, _, _ = shims
    url = js.URL.new("/a/b?x=1#top", "https://example.com:8443/base")
    assert (url.href, url.origin, url.pathname, url.search, url.hash, url.port) == (
        "https://example.com:8443/a/b?x=1#top",
        "https://example.com:8443",
        "/a/b",
        "?x=1",
        "#top",
        "8443",
    )
    with pytest.raises(TypeError, match="Invalid URL"):
        js.URL.new("not a url")
    with pytest.raises(js.Error) as caught:
        raise js.Error.new("bad thing")
    assert (caught.value.message, caught.value.name) == ("bad thing", "Error")
    assert js.JSON.parse(js.JSON.stringify({"a": [1, None]})) == {"a": [1, None]}
    assert js.JSON.stringify({"a": 1}) == '{"a":1}'
    assert js.Object.fromEntries([("k", 1)]) == {"k": 1}
    headers = js.Headers.new({"X-A": "1"})
    headers.append("x-a", "2")
    assert headers.get("x-a") == "1, 2"
    response = js.Response.new("body", {"status": 201, "headers": {"X-B": "y"}})
    assert (response.status, response.headers["x-b"]) == (201, "y")
    keyword = js.Response.new("x", headers=js.Object.fromEntries({"Content-Type": "text/html"}.items()), status=404)
    assert (keyword.status, keyword.headers["content-type"]) == (404, "text/html")
    assert js.Error.new("why").stack == "Error: why"
    as_json = js.Response.json({"ok": True})
    assert as_json.headers["content-type"] == "application/json"
    data = js.Uint8Array.new([104, 105])
    assert (data.to_bytes(), data.byteLength) == (b"hi", 2)
    assert js.AbortSignal.timeout(500).timeout_ms == 500
    assert isinstance(js.Date.now(), int)
    assert js.fetch is not None


def test_js_console_prints(shims, capsys: pytest.CaptureFixture[str]) -> None:
    js, _, _ = shims
    js.console.log("hello", 1)
    js.console.error("oops")
    out, err = capsys.readouterr()
    assert (out, err) == ("hello 1\n", "oops\n")


def test_a_javascript_api_pyflows_lacks_fails_naming_it(shims) -> None:
    js, _, _ = shims
    from js import ReadableStream  # importing works, as it does under Pyodide

    with pytest.raises(js.JsNotEmulatedError, match=r"js\.ReadableStream is a JavaScript API that pyflows does not"):
        ReadableStream.new()
    with pytest.raises(js.JsNotEmulatedError, match=r"js\.document"):
        js.document.title  # noqa: B018 - the attribute access is the test
    with pytest.raises(AttributeError):
        js.__wrapped__  # noqa: B018 - dunder lookups stay ordinary AttributeErrors


def test_run_sync_from_sync_code(shims) -> None:
    _, ffi, _ = shims

    async def add(a: int, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    assert ffi.run_sync(add(1, 2)) == 3  # no event loop at all
    with pytest.raises(TypeError, match="takes an awaitable"):
        ffi.run_sync(5)

    async def main() -> tuple[int, int, bool]:
        loop_thread = threading.get_ident()
        seen: list[int] = []

        async def where() -> int:
            seen.append(threading.get_ident())
            return 7

        def sync_code_on_the_loop() -> int:  # called directly from a coroutine: a helper loop runs it
            return ffi.run_sync(add(2, 3))

        def sync_code_in_a_thread() -> int:  # e.g. a WSGI view: it runs on the server's loop
            from pyflows.runtime.surface import js as impl

            token = impl.HOST_LOOP.set(loop)
            try:
                return ffi.run_sync(where())
            finally:
                impl.HOST_LOOP.reset(token)

        loop = asyncio.get_running_loop()
        direct = sync_code_on_the_loop()
        threaded = await asyncio.to_thread(sync_code_in_a_thread)
        return direct, threaded, seen == [loop_thread]

    assert asyncio.run(main()) == (5, 7, True)


def test_request_js_object_and_its_headers_iteration() -> None:
    request = Request("http://x/p?q=1", method="POST", headers={"A": "1", "B": "2"}, body=b"data")
    js_request = request.js_object
    assert (js_request.url, js_request.method) == ("http://x/p?q=1", "POST")
    assert sorted(tuple(pair) for pair in js_request.headers) == [("a", "1"), ("b", "2")]
    assert js_request.headers.get("A") == "1" and js_request.headers.has("b")
    assert Request(js_request).url == "http://x/p?q=1"
    assert request._js_request.url == js_request.url  # the SDK's private name, which django-cf uses
    buffer = asyncio.run(js_request.arrayBuffer())
    assert buffer.to_bytes() == b"data"
    with pytest.raises(OSError, match="Body already used"):
        asyncio.run(request.text())


def test_import_from_javascript_gives_cloudflare_workers_env(shims) -> None:
    _, _, workers = shims
    saved = entrypoints.current_env
    entrypoints.current_env = {"K": "v"}
    try:
        assert workers.import_from_javascript("cloudflare:workers").env == {"K": "v"}
    finally:
        entrypoints.current_env = saved
    with pytest.raises(ImportError, match="provides only 'cloudflare:workers'"):
        workers.import_from_javascript("cloudflare:sockets")
    from workers import wsgi

    assert callable(wsgi.fetch) and callable(workers.asgi.fetch)


def test_run_switchable_keeps_asyncio_semantics() -> None:
    from pyflows.runtime.surface.stack import in_switchable, run_switchable, suspend

    async def handler() -> list[object]:
        seen: list[object] = [in_switchable()]
        try:
            async with asyncio.timeout(0.05):  # cancels this task; the coroutine sees TimeoutError
                await asyncio.sleep(5)
        except TimeoutError:
            seen.append("timed out")
        failing: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        failing.set_exception(KeyError("k"))
        try:
            await failing
        except KeyError as exc:
            seen.append(f"future failed: {exc}")
        seen.append(suspend(asyncio.sleep(0, result="suspended")))
        seen.append(await asyncio.gather(asyncio.sleep(0.01, result="a"), asyncio.sleep(0, result="b")))
        return seen

    assert asyncio.run(run_switchable(handler())) == [
        True,
        "timed out",
        "future failed: 'k'",
        "suspended",
        ["a", "b"],
    ]
    assert not in_switchable()
    outside = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="only possible inside run_switchable"):
        suspend(outside)
    outside.close()
