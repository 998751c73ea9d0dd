"""The explorer UI's serving rules and the API extensions' guards (in-process; the browser tests are e2e)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pyflows.runtime.server.app import Runtime, create_app
from pyflows.runtime.server.explorer.routes import API_PREFIX
from test_management import ApprovalWorkflow, QuickWorkflow, runtime  # noqa: F401  (fixture)

pytestmark = pytest.mark.anyio
_ = (ApprovalWorkflow, QuickWorkflow)


@pytest.fixture
async def web(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost:8787") as client:
        yield client


@pytest.mark.parametrize("prefix", ["/cdn-cgi/local/explorer", "/cdn-cgi/explorer"])
async def test_pages_and_assets_under_both_prefixes(web: httpx.AsyncClient, prefix: str) -> None:
    redirect = await web.get(prefix)
    assert redirect.status_code == 308 and redirect.headers["location"] == prefix + "/"
    for path in ("/", "/workflows/my-workflow", "/workflows/my-workflow/some-id", "/kv/ns", "/r2/b", "/d1/db/a%2Fb"):
        page = await web.get(prefix + path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert f'<base href="{prefix}/">' in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
    listing = await web.get(prefix + "/workflows/my-workflow")
    preload = f"{API_PREFIX}/pyflows/workflows/my-workflow/instances?page=1&amp;per_page=25"
    assert f'<link rel="preload" href="{preload}" as="fetch" crossorigin>' in listing.text
    assert "{{PRELOAD}}" not in (await web.get(prefix + "/")).text
    assert '<script src="static/app.js" defer>' in page.text  # it loads storage.js for the KV, R2 and D1 pages
    for name in ("app.js", "storage.js"):
        script = await web.get(prefix + "/static/" + name)
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert (await web.get(prefix + "/static/..%2Fui.py")).status_code == 404
    assert (await web.get(prefix + "/static/nope.js")).status_code == 404


async def test_alias_prefix_reaches_the_api(web: httpx.AsyncClient) -> None:
    reply = await web.get("/cdn-cgi/explorer/api/workflows")
    assert reply.status_code == 200 and reply.json()["result"][0]["name"] == "my-workflow"


async def test_foreign_host_or_origin_is_refused(web: httpx.AsyncClient) -> None:
    assert (await web.get("/cdn-cgi/local/explorer/", headers={"host": "evil.example"})).status_code == 403
    reply = await web.get("/cdn-cgi/local/explorer/", headers={"origin": "https://evil.example"})
    assert (reply.status_code, reply.text) == (403, "Invalid Origin header")
    assert (await web.post("/cdn-cgi/local/explorer/")).status_code == 405


async def test_browser_actions_need_the_explorer_header(web: httpx.AsyncClient) -> None:
    url = API_PREFIX + "/workflows/approval-workflow/instances"
    local = {"origin": "http://localhost:8787"}
    # A page on this origin without the header (what a plain cross-site form would also lack): refused.
    refused = await web.post(url, json={"id": "x1"}, headers=local)
    assert (refused.status_code, refused.text) == (403, "Missing X-Pyflows-Explorer header")
    made = await web.post(url, json={"id": "x1"}, headers={**local, "x-pyflows-explorer": "1"})
    assert made.status_code == 200
    assert (await web.post(url, json={"id": "x2"})).status_code == 200  # the CLI sends no Origin
    foreign = await web.post(
        url, json={"id": "x3"}, headers={"origin": "https://evil.example", "x-pyflows-explorer": "1"}
    )
    assert foreign.status_code == 403


async def test_wake_retry_and_diagram_extensions(web: httpx.AsyncClient) -> None:
    base = API_PREFIX + "/pyflows/workflows/approval-workflow"
    missing = await web.post(base + "/instances/nope/wake")
    assert missing.status_code == 404
    graph = (await web.get(base + "/diagram")).json()["result"]
    assert graph["class_name"] == "ApprovalWorkflow"
    assert [n["type"] for n in graph["nodes"]][:1] == ["StartNode"]
    assert any(n["type"] == "StepWaitForEvent" for n in graph["nodes"])
    bad = await web.get(API_PREFIX + "/pyflows/workflows/approval-workflow/instances/x/subscribe?filter=nope")
    assert bad.status_code == 400 and "Unknown event type" in bad.text
    assert (await web.get(API_PREFIX + "/pyflows/events?since=abc")).status_code == 400


async def test_params_search(web: httpx.AsyncClient) -> None:
    url = API_PREFIX + "/workflows/my-workflow/instances"
    for i, colour in enumerate(["red", "blue", "reddish"]):
        assert (await web.post(url, json={"id": f"i{i}", "params": {"colour": colour}})).status_code == 200
    found = (await web.get(API_PREFIX + "/pyflows/workflows/my-workflow/instances?params=red")).json()
    assert sorted(r["id"] for r in found["result"]) == ["i0", "i2"]
    assert found["result_info"]["total_count"] == 2
    none = (await web.get(API_PREFIX + "/pyflows/workflows/my-workflow/instances?params=%25")).json()
    assert none["result"] == []  # % is literal text, not a wildcard
