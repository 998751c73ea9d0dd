"""Local Explorer API routes for KV, D1 and R2, in-process against a real project's bindings."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from pyflows.runtime.config import load
from pyflows.runtime.server.app import Runtime, create_app
from pyflows.runtime.server.explorer.routes import API_PREFIX
from pyflows.runtime.worker.loader import load_worker

pytestmark = pytest.mark.anyio

CONFIG = {
    "name": "explorer-storage",
    "main": "src/entry.py",
    "compatibility_date": "2026-11-01",
    "kv_namespaces": [{"binding": "KV", "id": "kv-1"}],
    "d1_databases": [{"binding": "DB", "database_name": "my-db", "database_id": "db-1"}],
    "r2_buckets": [{"binding": "BUCKET", "bucket_name": "bucket-1"}],
}
ENTRY = """
from workers import Response, WorkerEntrypoint

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response.json({"kv": await self.env.KV.get("from/api"),
                              "d1": await self.env.DB.prepare("SELECT count(*) AS n FROM t").first("n"),
                              "r2": await (await self.env.BUCKET.get("dir/a.txt")).text()})
"""


@pytest.fixture
async def client(tmp_path: Path, restore_sys_path: None):  # type: ignore[no-untyped-def]
    (tmp_path / "src").mkdir()
    (tmp_path / "wrangler.jsonc").write_text(json.dumps(CONFIG))
    (tmp_path / "src" / "entry.py").write_text(textwrap.dedent(ENTRY))
    config = load(tmp_path)
    runtime = await Runtime.open(config, load_worker(config), state_dir=tmp_path / ".pyflows" / "state")
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost:8787") as c:
        yield c
    await runtime.close()


@pytest.fixture
def restore_sys_path():  # type: ignore[no-untyped-def]
    import sys

    saved_path, saved_modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = saved_path
    for name in set(sys.modules) - saved_modules:
        if name.split(".")[0] in ("workers", "js", "pyodide", "asgi", "entry"):
            del sys.modules[name]


async def test_kv_routes(client: httpx.AsyncClient) -> None:
    base = API_PREFIX + "/storage/kv/namespaces"
    listed = (await client.get(base)).json()
    assert listed["success"] is True and listed["result"][0]["id"] == "kv-1" and listed["result"][0]["title"] == "KV"
    assert (await client.put(f"{base}/kv-1/values/from/api", content=b"v1")).json()["success"] is True
    assert (await client.get(f"{base}/kv-1/values/from/api")).content == b"v1"
    bulk = await client.put(
        f"{base}/kv-1/bulk",
        json=[{"key": "a", "value": "1", "metadata": {"m": 1}}, {"key": "b", "value": "Mg==", "base64": True}],
    )
    assert bulk.json()["result"] == {"successful_key_count": 2, "unsuccessful_keys": []}
    keys = (await client.get(f"{base}/kv-1/keys", params={"prefix": "", "limit": 10})).json()
    assert [k["name"] for k in keys["result"]] == ["a", "b", "from/api"] and keys["result"][0]["metadata"] == {"m": 1}
    got = (await client.post(f"{base}/kv-1/bulk/get", json={"keys": ["a", "b", "zz"], "withMetadata": True})).json()
    assert got["result"]["values"] == {
        "a": {"value": "1", "metadata": {"m": 1}},
        "b": {"value": "2", "metadata": None},
        "zz": None,
    }
    assert (await client.post(f"{base}/kv-1/bulk/delete", json=["a", "b"])).json()["success"] is True
    missing = await client.get(f"{base}/kv-1/values/a")
    assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == 10009
    unknown = await client.get(f"{base}/nope/keys")
    assert unknown.status_code == 404 and "kv-1" in unknown.json()["errors"][0]["message"]
    too_short = await client.put(f"{base}/kv-1/values/k", content=b"v", params={"expiration_ttl": 5})
    assert too_short.status_code == 400 and "Invalid expiration_ttl of 5" in too_short.json()["errors"][0]["message"]


async def test_d1_routes(client: httpx.AsyncClient) -> None:
    listed = (await client.get(API_PREFIX + "/d1/database")).json()
    assert listed["result"][0]["uuid"] == "db-1" and listed["result"][0]["name"] == "my-db"
    raw = API_PREFIX + "/d1/database/db-1/raw"
    made = await client.post(
        raw, json={"sql": "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('x')"}
    )
    assert made.json()["success"] is True and len(made.json()["result"]) == 2
    res = (await client.post(raw, json={"batch": [{"sql": "INSERT INTO t (v) VALUES (?)", "params": ["y"]},
                                                  {"sql": "SELECT id, v FROM t ORDER BY id"}]})).json()  # fmt: skip
    assert res["result"][1]["results"] == {"columns": ["id", "v"], "rows": [[1, "x"], [2, "y"]]}
    bad = await client.post(
        raw, json={"batch": [{"sql": "INSERT INTO t (v) VALUES ('z')"}, {"sql": "SELECT * FROM nope"}]}
    )
    assert (
        bad.status_code == 400 and bad.json()["errors"][0]["message"] == "D1_ERROR: no such table: nope: SQLITE_ERROR"
    )
    count = (await client.post(raw, json={"sql": "SELECT count(*) FROM t"})).json()["result"][0]["results"]["rows"]
    assert count == [[2]]  # the failed batch was rolled back
    assert (await client.post(raw, content=b"{not json")).status_code == 400


async def test_r2_routes_and_the_worker_sees_the_same_data(client: httpx.AsyncClient) -> None:
    base = API_PREFIX + "/r2/buckets"
    assert (await client.get(base)).json()["result"]["buckets"][0]["name"] == "bucket-1"
    put = await client.put(f"{base}/bucket-1/objects/dir/a.txt", content=b"hello",
                           headers={"content-type": "text/plain", "cf-r2-custom-metadata": '{"k": "v"}'})  # fmt: skip
    assert put.json()["result"]["size"] == 5 and put.json()["result"]["custom_metadata"] == {"k": "v"}
    await client.put(f"{base}/bucket-1/objects/dir/b.txt", content=b"b")
    await client.put(f"{base}/bucket-1/objects/top.txt", content=b"t")
    listed = (await client.get(f"{base}/bucket-1/objects", params={"delimiter": "/"})).json()
    assert [o["key"] for o in listed["result"]] == ["top.txt"] and listed["result_info"]["delimited"] == ["dir/"]
    body = await client.get(f"{base}/bucket-1/objects/dir/a.txt")
    assert body.content == b"hello" and body.headers["content-type"].startswith("text/plain")
    head = (await client.get(f"{base}/bucket-1/objects/dir/a.txt", headers={"cf-metadata-only": "true"})).json()
    assert head["result"]["http_metadata"] == {"contentType": "text/plain"}

    await client.put(API_PREFIX + "/storage/kv/namespaces/kv-1/values/from/api", content=b"kv!")
    raw = API_PREFIX + "/d1/database/db-1/raw"
    await client.post(raw, json={"sql": "CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t DEFAULT VALUES"})
    assert (await client.get("/")).json() == {"kv": "kv!", "d1": 1, "r2": "hello"}

    deleted = await client.request("DELETE", f"{base}/bucket-1/objects", json=["dir/b.txt", "top.txt"])
    assert deleted.json()["success"] is True
    await client.delete(f"{base}/bucket-1/objects/dir/a.txt")
    assert (await client.get(f"{base}/bucket-1/objects")).json()["result"] == []
    assert (await client.get(f"{base}/nope")).status_code == 404


async def test_kv_put_as_form_with_metadata_and_ttl_then_cursor_paging(client: httpx.AsyncClient) -> None:
    """The write the Local Explorer UI makes: multipart/form-data with a `value` part (a file part
    for binary data) and a JSON `metadata` part, `expiration_ttl` in the query (OpenAPI, KV PUT)."""
    base = API_PREFIX + "/storage/kv/namespaces/kv-1"
    put = await client.put(
        f"{base}/values/bin",
        files={"value": ("blob", b"\x00\xff\x10", "application/octet-stream")},
        data={"metadata": '{"owner": "ada"}'},
        params={"expiration_ttl": 120},
    )
    assert put.status_code == 200 and put.json()["success"] is True
    got = await client.get(f"{base}/values/bin")
    assert got.content == b"\x00\xff\x10" and abs(int(got.headers["expiration"]) - time.time() - 120) < 5
    as_json_part = await client.put(
        f"{base}/values/text", files={"value": (None, "hello"), "metadata": ("m", b"[1, 2]", "application/json")}
    )
    assert as_json_part.status_code == 200
    bad = await client.put(f"{base}/values/text", files={"value": (None, "x"), "metadata": (None, "{nope")})
    assert (bad.status_code, bad.json()["errors"][0]["message"]) == (400, "metadata must be JSON.")
    torn = await client.put(
        f"{base}/values/text", content=b"garbage", headers={"content-type": "multipart/form-data; boundary=zz"}
    )
    assert torn.status_code == 400
    assert "multipart/form-data body could not be read" in torn.json()["errors"][0]["message"]
    await client.put(f"{base}/values/zzz", content=b"z")

    first = (await client.get(f"{base}/keys", params={"limit": 2})).json()
    assert [k["name"] for k in first["result"]] == ["bin", "text"]
    assert first["result"][0]["metadata"] == {"owner": "ada"} and "expiration" in first["result"][0]
    assert first["result"][1]["metadata"] == [1, 2]
    cursor = first["result_info"]["cursor"]
    second = (await client.get(f"{base}/keys", params={"limit": 2, "cursor": cursor})).json()
    assert [k["name"] for k in second["result"]] == ["zzz"] and second["result_info"]["cursor"] == ""
    wrong = await client.get(f"{base}/keys", params={"cursor": "not a cursor!"})
    assert wrong.status_code == 400 and "Invalid cursor 'not a cursor!'" in wrong.json()["errors"][0]["message"]


async def test_r2_cursor_paging_with_a_delimiter_and_a_bad_cursor(client: httpx.AsyncClient) -> None:
    base = API_PREFIX + "/r2/buckets/bucket-1/objects"
    for key in ("a.txt", "b.txt", "docs/1.md", "docs/2.md", "z.txt"):
        put = (await client.put(f"{base}/{key}", content=key.encode())).json()["result"]
        assert put["key"] == key and put["size"] == len(key) and put["version"]  # r2_put-object-result
    pages: list[tuple[list[str], list[str]]] = []
    cursor = ""
    while True:
        reply = (await client.get(base, params={"delimiter": "/", "per_page": 2, "cursor": cursor})).json()
        pages.append(([o["key"] for o in reply["result"]], reply["result_info"]["delimited"]))
        cursor = reply["result_info"]["cursor"]
        if reply["result_info"]["is_truncated"] == "false":
            break
    assert pages == [(["a.txt", "b.txt"], []), ([], ["docs/"]), (["z.txt"], [])] or pages == [
        (["a.txt", "b.txt"], []),
        (["z.txt"], ["docs/"]),
    ]
    inside = (await client.get(base, params={"delimiter": "/", "prefix": "docs/"})).json()
    assert [o["key"] for o in inside["result"]] == ["docs/1.md", "docs/2.md"]
    wrong = await client.get(base, params={"cursor": "%%%"})
    assert wrong.status_code == 400 and "Invalid cursor '%%%'" in wrong.json()["errors"][0]["message"]


async def test_a_callers_mistake_is_a_400_envelope_never_a_500(client: httpx.AsyncClient) -> None:
    """What the OpenAPI fuzzing (tests/runtime/test_api_fuzz.py) found, kept as plain regressions."""
    kv = API_PREFIX + "/storage/kv/namespaces/kv-1"

    async def refused(response: httpx.Response, code: int, text: str) -> None:
        body = response.json()
        assert response.status_code == 400, body
        assert body["success"] is False and body["errors"][0]["code"] == code and text in body["errors"][0]["message"]

    await refused(await client.put(kv + "/bulk", content=b"\x80"), 10001, "The body is not JSON")
    await refused(await client.post(API_PREFIX + "/d1/database/db-1/raw", content=b"\xff\xfe"), 7400, "not JSON")
    await refused(
        await client.request("DELETE", API_PREFIX + "/r2/buckets/bucket-1/objects", content=b"[1"), 10001, "not JSON"
    )
    await refused(await client.post(API_PREFIX + "/d1/database/db-1/raw", json={"batch": 5}), 7400, '"batch" must')
    await refused(await client.post(kv + "/bulk/delete", json=["a", {"b": 1}]), 10001, "item 1 is dict")
    # A bad item anywhere in a bulk write writes nothing, not the items before it.
    await refused(await client.put(kv + "/bulk", json=[{"key": "first", "value": "v"}, {"key": 1}]), 10001, "string")
    assert (await client.get(kv + "/values/first")).status_code == 404
    far = await client.put(kv + "/bulk", json=[{"key": "k", "value": "v", "expiration": 10**30}])
    assert far.json()["result"] == {"successful_key_count": 0, "unsuccessful_keys": ["k"]}
    await refused(await client.put(kv + "/values/k", params={"expiration": 10**30}), 10001, "Invalid expiration of 1")
    await refused(
        await client.put(kv + "/bulk", json=[{"key": "k", "value": "%%", "base64": True}]), 10001, "not base64"
    )
    await refused(await client.get(kv + "/keys", params={"cursor": "%%%"}), 10001, "Invalid cursor")
    await refused(await client.post(kv + "/bulk/get", json={"keys": [""]}), 10001, "Key names must not be empty")
    await client.put(kv + "/values/plain", content=b"not json")
    await refused(await client.post(kv + "/bulk/get", json={"keys": ["plain"], "type": "json"}), 10001, "not JSON")
    big = await client.post(API_PREFIX + "/d1/database/db-1/raw", json={"sql": "SELECT ?", "params": [2**70]})
    await refused(big, 7500, "D1_TYPE_ERROR")

    # A lone surrogate (JSON's "\\ud800") is stored as JavaScript stores it: U+FFFD.
    put = await client.put(kv + "/bulk", content=b'[{"key": "s\\ud800", "value": "v\\udc00"}]',
                           headers={"content-type": "application/json"})  # fmt: skip
    assert put.json()["result"] == {"successful_key_count": 1, "unsuccessful_keys": []}
    assert (await client.get(kv + "/values/s\ufffd")).content == "v\ufffd".encode()


async def test_kv_write_as_multipart_form_with_metadata(client: httpx.AsyncClient) -> None:
    kv = API_PREFIX + "/storage/kv/namespaces/kv-1"
    put = await client.put(kv + "/values/form", files={"value": ("v", b"form value")}, data={"metadata": '{"m": 2}'})
    assert put.json()["success"] is True
    assert (await client.get(kv + "/values/form")).content == b"form value"
    keys = (await client.get(kv + "/keys", params={"prefix": "form"})).json()["result"]
    assert keys == [{"name": "form", "metadata": {"m": 2}}]
    bad = await client.put(kv + "/values/form", content=b"--x\r\n", headers={"content-type": "multipart/form-data"})
    assert bad.status_code == 400 and bad.json()["success"] is False


async def test_namespaces_sort_and_buckets_count(client: httpx.AsyncClient) -> None:
    listed = await client.get(API_PREFIX + "/storage/kv/namespaces", params={"order": "title", "direction": "desc"})
    assert [n["id"] for n in listed.json()["result"]] == ["kv-1"]
    wrong = await client.get(API_PREFIX + "/storage/kv/namespaces", params={"order": "size"})
    assert wrong.status_code == 400 and "order must be" in wrong.json()["errors"][0]["message"]
    assert (await client.get(API_PREFIX + "/r2/buckets")).json()["result_info"] == {"total_count": 1}
