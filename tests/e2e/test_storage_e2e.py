"""KV, D1 and R2 from a real `pyflows dev`: every method from the fetch handler and from a workflow step,
persistence across SIGKILL, and the `pyflows d1|kv|r2` CLI with and without a running server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from pyflows.testing.devserver import ENV, DevServer

pytestmark = pytest.mark.slow

CONFIG = {
    "name": "storage-e2e",
    "main": "src/entry.py",
    "compatibility_date": "2026-11-01",
    "compatibility_flags": ["python_workers"],
    "workflows": [{"name": "storage-wf", "binding": "WF", "class_name": "StorageWorkflow"}],
    "kv_namespaces": [{"binding": "KV", "id": "kv-e2e"}],
    "d1_databases": [{"binding": "DB", "database_name": "e2e-db", "database_id": "d1-e2e"}],
    "r2_buckets": [{"binding": "BUCKET", "bucket_name": "e2e-bucket"}],
}

ENTRY = textwrap.dedent(
    '''
    import json
    from urllib.parse import parse_qs, urlparse

    from workers import Headers, Response, WorkerEntrypoint, WorkflowEntrypoint


    async def exercise(env, tag):
        """Every binding method once; returns what each gave back (plain JSON)."""
        out = {}
        kv, db, bucket = env.KV, env.DB, env.BUCKET
        await kv.put(f"{tag}:text", "hello", {"metadata": {"tag": tag}, "expirationTtl": 3600})
        await kv.put(f"{tag}:json", json.dumps({"n": 1}))
        await kv.put(f"{tag}:bin", b"\\x00\\x01")
        out["kv_text"] = await kv.get(f"{tag}:text")
        out["kv_json"] = (await kv.get(f"{tag}:json", "json")).n
        out["kv_bin"] = list(await kv.get(f"{tag}:bin", type="arrayBuffer"))
        out["kv_many"] = await kv.get([f"{tag}:text", f"{tag}:nope"])
        meta = await kv.getWithMetadata(f"{tag}:text")
        out["kv_meta"] = meta.metadata.to_py()
        listed = await kv.list({"prefix": f"{tag}:"})
        out["kv_list"] = [k.name for k in listed.keys]
        out["kv_list_expiration"] = "expiration" in listed.keys[2]
        reader = (await kv.get(f"{tag}:text", "stream")).getReader()
        chunk = await reader.read()
        out["kv_stream"] = [chunk.value.to_bytes().decode(), (await reader.read()).done]
        await kv.delete(f"{tag}:bin")
        out["kv_deleted"] = await kv.get(f"{tag}:bin")

        await db.exec(f"CREATE TABLE IF NOT EXISTS {tag}_t (id INTEGER PRIMARY KEY, name TEXT, ok INTEGER, data BLOB)")
        run = await db.prepare(f"INSERT INTO {tag}_t (name, ok, data) VALUES (?, ?, ?)").bind("a", True, b"\\x05").run()
        out["d1_run"] = [run.success, run.meta.changes, run.meta.last_row_id]
        batch = await db.batch([
            db.prepare(f"INSERT INTO {tag}_t (name, ok) VALUES (?, ?)").bind("b", None),
            db.prepare(f"SELECT count(*) AS n FROM {tag}_t"),
        ])
        out["d1_batch"] = batch[1].results[0].n
        try:
            await db.batch([db.prepare(f"INSERT INTO {tag}_t (name) VALUES ('c')"), db.prepare("SELECT * FROM nosuch")])
        except Exception as exc:
            out["d1_error"] = str(exc)
        out["d1_after_failed_batch"] = await db.prepare(f"SELECT count(*) FROM {tag}_t").first("count(*)")
        row = await db.prepare(f"SELECT * FROM {tag}_t WHERE name = ?").bind("a").first()
        out["d1_first"] = [row.name, row.ok, list(row.data)]
        out["d1_all"] = [r["name"] for r in (await db.prepare(f"SELECT name FROM {tag}_t ORDER BY id").all()).results]
        out["d1_raw"] = await db.prepare(f"SELECT id, name FROM {tag}_t ORDER BY id").raw(columnNames=True)

        put = await bucket.put(f"{tag}/obj.txt", "r2 body", {"httpMetadata": {"contentType": "text/plain"},
                                                             "customMetadata": {"tag": tag}})
        got = await bucket.get(f"{tag}/obj.txt")
        out["r2_put"] = [put.key, put.size, put.etag == got.etag]
        out["r2_get"] = [await got.text(), got.httpMetadata.contentType, got.customMetadata.tag]
        out["r2_stream"] = b"".join([bytes(c) async for c in (await bucket.get(f"{tag}/obj.txt")).body]).decode()
        await kv.put(f"{tag}:from-r2", (await bucket.get(f"{tag}/obj.txt")).body)  # a stream as the value
        out["kv_from_stream"] = await kv.get(f"{tag}:from-r2")
        await kv.delete(f"{tag}:from-r2")
        out["r2_range"] = await (await bucket.get(f"{tag}/obj.txt", {"range": {"offset": 3, "length": 4}})).text()
        out["r2_head"] = (await bucket.head(f"{tag}/obj.txt")).size
        upload = await bucket.createMultipartUpload(f"{tag}/multi")
        parts = [await upload.uploadPart(1, "part one, "), await upload.uploadPart(2, "part two")]
        done = await upload.complete(parts)
        out["r2_multipart"] = [done.etag.endswith("-2"), await (await bucket.get(f"{tag}/multi")).text()]
        listed = await bucket.list({"prefix": f"{tag}/", "include": ["customMetadata"]})
        out["r2_list"] = [o.key for o in listed.objects]
        await bucket.delete([f"{tag}/multi"])
        out["r2_deleted"] = await bucket.head(f"{tag}/multi")
        return out


    class StorageWorkflow(WorkflowEntrypoint):
        async def run(self, event, step):
            @step.do("exercise")
            async def run_all():
                return await exercise(self.env, "step")

            return await run_all()


    class Default(WorkerEntrypoint):
        async def fetch(self, request):
            url = urlparse(request.url)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/exercise":
                return Response.json(await exercise(self.env, "fetch"))
            if url.path == "/start":
                instance = await self.env.WF.create()
                return Response.json({"id": instance.id})
            if url.path == "/status":
                return Response.json(await (await self.env.WF.get(q["id"])).status())
            if url.path == "/write":
                await self.env.DB.exec("CREATE TABLE IF NOT EXISTS notes (k TEXT PRIMARY KEY, v TEXT)")
                await self.env.DB.prepare("INSERT OR REPLACE INTO notes VALUES (?, ?)").bind(q["k"], q["v"]).run()
                await self.env.KV.put(q["k"], q["v"])
                await self.env.BUCKET.put(q["k"], q["v"])
                return Response.json({"written": q["k"]})
            if url.path == "/read":
                row = await self.env.DB.prepare("SELECT v FROM notes WHERE k = ?").bind(q["k"]).first("v")
                obj = await self.env.BUCKET.get(q["k"])
                return Response.json({"d1": row, "kv": await self.env.KV.get(q["k"]),
                                      "r2": None if obj is None else await obj.text()})
            if url.path == "/object":  # an R2 object's body streamed out as the response
                obj = await self.env.BUCKET.get(q["k"])
                headers = Headers()
                obj.writeHttpMetadata(headers)
                headers.set("etag", obj.httpEtag)
                return Response(obj.body, headers=headers)
            if url.path == "/count":
                await self.env.DB.exec("CREATE TABLE IF NOT EXISTS hits (id INTEGER PRIMARY KEY, who TEXT)")
                for _ in range(int(q["n"])):
                    await self.env.DB.prepare("INSERT INTO hits (who) VALUES ('dev')").run()
                return Response.json({"ok": True})
            return Response("not found", status=404)
    '''
)


def expected(tag: str) -> dict[str, Any]:
    return {
        "kv_text": "hello",
        "kv_json": 1,
        "kv_bin": [0, 1],
        "kv_many": {f"{tag}:text": "hello", f"{tag}:nope": None},
        "kv_meta": {"tag": tag},
        "kv_list": [f"{tag}:bin", f"{tag}:json", f"{tag}:text"],
        "kv_list_expiration": True,
        "kv_stream": ["hello", True],
        "kv_deleted": None,
        "d1_run": [True, 1, 1],
        "d1_batch": 2,
        "d1_error": "D1_ERROR: no such table: nosuch: SQLITE_ERROR",
        "d1_after_failed_batch": 2,
        "d1_first": ["a", 1, [5]],
        "d1_all": ["a", "b"],
        "d1_raw": [["id", "name"], [1, "a"], [2, "b"]],
        "r2_put": [f"{tag}/obj.txt", 7, True],
        "r2_get": ["r2 body", "text/plain", tag],
        "r2_stream": "r2 body",
        "kv_from_stream": "r2 body",
        "r2_range": "body",
        "r2_head": 7,
        "r2_multipart": [True, "part one, part two"],
        "r2_list": [f"{tag}/multi", f"{tag}/obj.txt"],
        "r2_deleted": None,
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "src").mkdir(parents=True)
    (root / "wrangler.jsonc").write_text(json.dumps(CONFIG, indent=2))
    (root / "src" / "entry.py").write_text(ENTRY)
    return root


def pyflows(project: Path, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyflows", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        env={**ENV, "PYFLOWS_HIDE_BANNER": "1"},
        input=None if input is None else input.decode(),
    )


def d1_json(project: Path, sql: str) -> Any:
    done = pyflows(project, "d1", "execute", "DB", "--local", "--json", "--command", sql)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_every_method_from_fetch_and_from_a_step(project: Path) -> None:
    dev = DevServer(project).ready()
    try:
        assert dev.get("/exercise") == expected("fetch")
        instance = dev.get("/start")["id"]
        deadline = time.monotonic() + 30
        while (status := dev.get(f"/status?id={instance}"))["status"] not in ("complete", "errored"):
            assert time.monotonic() < deadline, dev.output()
            time.sleep(0.05)
        assert status["status"] == "complete", status
        assert status["output"] == expected("step")
        with urllib.request.urlopen(f"{dev.url}/object?k=fetch/obj.txt", timeout=10) as reply:
            assert reply.read() == b"r2 body" and reply.headers["content-type"] == "text/plain"
            assert reply.headers["etag"].startswith('"')
    finally:
        dev.stop()
    # The data is in Wrangler's layout.
    v3 = project / ".wrangler" / "state" / "v3"
    assert len(list((v3 / "d1" / "miniflare-D1DatabaseObject").glob("*.sqlite"))) == 1
    assert (v3 / "kv" / "kv-e2e" / "blobs").is_dir() and (v3 / "r2" / "e2e-bucket" / "blobs").is_dir()


def test_writes_survive_sigkill_and_restart(project: Path) -> None:
    dev = DevServer(project).ready()
    try:
        assert dev.get("/write?k=survivor&v=still-here") == {"written": "survivor"}
    finally:
        dev.kill()
        dev.stop()
    dev = DevServer(project).ready()
    try:
        assert dev.get("/read?k=survivor") == {"d1": "still-here", "kv": "still-here", "r2": "still-here"}
    finally:
        dev.stop()


def test_cli_without_a_server(project: Path) -> None:
    assert d1_json(project, "CREATE TABLE q (id INTEGER PRIMARY KEY, quote TEXT); INSERT INTO q (quote) VALUES ('hi')")
    assert d1_json(project, "SELECT * FROM q")[0]["results"] == [{"id": 1, "quote": "hi"}]

    bad = pyflows(project, "d1", "execute", "DB", "--local", "--command", "SELECT * FROM nosuch")
    assert bad.returncode == 1 and "no such table: nosuch: SQLITE_ERROR" in bad.stderr and "Traceback" not in bad.stderr
    unknown = pyflows(project, "d1", "execute", "NOPE", "--local", "--command", "SELECT 1")
    assert unknown.returncode == 1
    assert (
        "Couldn't find a D1 DB with the name or binding 'NOPE'" in unknown.stderr
        and "e2e-db (binding DB)" in unknown.stderr
    )

    put = pyflows(
        project, "kv", "key", "put", "--binding", "KV", "greeting", "hello", "--local", "--metadata", '{"a":1}'
    )
    assert put.returncode == 0, put.stderr
    assert 'Writing the value "hello" to key "greeting" on namespace binding: "KV" (id: "kv-e2e")' in put.stdout
    assert pyflows(project, "kv", "key", "get", "--binding", "KV", "greeting", "--local").stdout == "hello"
    assert json.loads(pyflows(project, "kv", "key", "list", "--namespace-id", "kv-e2e").stdout) == [
        {"name": "greeting", "metadata": {"a": 1}}
    ]
    (project / "bulk.json").write_text(
        json.dumps([{"key": "b1", "value": "1"}, {"key": "b2", "value": "Mg==", "base64": True}])
    )
    assert pyflows(project, "kv", "bulk", "put", "bulk.json", "--binding", "KV", "--local").returncode == 0
    assert pyflows(project, "kv", "key", "get", "--binding", "KV", "b2").stdout == "2"
    (project / "del.json").write_text(json.dumps(["b1", "b2", "greeting"]))
    assert pyflows(project, "kv", "bulk", "delete", "del.json", "--binding", "KV", "--force").returncode == 0
    assert pyflows(project, "kv", "key", "get", "--binding", "KV", "b1").stdout == "Value not found\n"
    unknown_ns = pyflows(project, "kv", "key", "get", "--binding", "NOPE", "x")
    assert unknown_ns.returncode == 1 and "Configured bindings: KV" in unknown_ns.stderr
    too_short = pyflows(project, "kv", "key", "put", "--binding", "KV", "k", "v", "--ttl", "5")
    assert too_short.returncode == 1 and "Invalid expiration_ttl of 5" in too_short.stderr

    (project / "file.bin").write_bytes(b"\x00binary\xff")
    up = pyflows(
        project, "r2", "object", "put", "e2e-bucket/dir/file.bin", "--file", "file.bin", "--ct", "application/x-test"
    )
    assert up.returncode == 0 and 'Creating object "dir/file.bin" in bucket "e2e-bucket".' in up.stdout
    # Without --local it says plainly where it works and where remote storage is reached instead.
    assert "Resource location: local" in up.stdout + up.stderr
    assert "pyflows works on local storage only: use `wrangler r2 object put --remote`" in up.stdout + up.stderr
    got = subprocess.run(
        [sys.executable, "-m", "pyflows", "r2", "object", "get", "e2e-bucket/dir/file.bin", "--pipe"],
        cwd=project,
        capture_output=True,
        timeout=60,
    )
    assert got.stdout == b"\x00binary\xff"
    assert pyflows(project, "r2", "object", "delete", "e2e-bucket/dir/file.bin").returncode == 0
    gone = pyflows(project, "r2", "object", "get", "e2e-bucket/dir/file.bin", "--pipe")
    assert gone.returncode == 1 and "does not exist" in gone.stderr
    remote = pyflows(project, "d1", "execute", "DB", "--remote", "--command", "SELECT 1")
    assert remote.returncode == 1 and "wrangler d1 execute --remote" in remote.stderr


def test_migrations_create_list_apply(project: Path) -> None:
    created = pyflows(project, "d1", "migrations", "create", "DB", "create users")
    assert created.returncode == 0 and "Successfully created Migration '0001_create_users.sql'!" in created.stdout
    path = project / "migrations" / "0001_create_users.sql"
    path.write_text(path.read_text() + "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\n")
    listed = pyflows(project, "d1", "migrations", "list", "DB", "--local")
    assert "Migrations to be applied:" in listed.stdout and "0001_create_users.sql" in listed.stdout
    applied = pyflows(project, "d1", "migrations", "apply", "DB", "--local")
    assert applied.returncode == 0 and "✅" in applied.stdout, applied.stderr
    assert d1_json(project, "SELECT name FROM d1_migrations")[0]["results"] == [{"name": "0001_create_users.sql"}]
    assert "No migrations to apply!" in pyflows(project, "d1", "migrations", "apply", "DB", "--local").stdout
    (project / "migrations" / "0002_bad.sql").write_text("CREATE TABLE ok_first (x);\nINSERT INTO nosuch VALUES (1);\n")
    failed = pyflows(project, "d1", "migrations", "apply", "DB", "--local")
    assert failed.returncode == 1 and "no such table: nosuch" in failed.stderr
    # The failing migration was rolled back whole and is not recorded.
    tables = [r["name"] for r in d1_json(project, "SELECT name FROM sqlite_master WHERE type='table'")[0]["results"]]
    assert "ok_first" not in tables and "users" in tables


def test_cli_and_server_share_data_and_write_at_once(project: Path) -> None:
    dev = DevServer(project).ready()
    try:
        assert pyflows(project, "kv", "key", "put", "--binding", "KV", "survivor", "from-cli").returncode == 0
        d1_json(project, "CREATE TABLE IF NOT EXISTS notes (k TEXT PRIMARY KEY, v TEXT)")
        d1_json(project, "INSERT INTO notes VALUES ('survivor', 'from-cli')")
        (project / "v.txt").write_text("from-cli")
        assert pyflows(project, "r2", "object", "put", "e2e-bucket/survivor", "--file", "v.txt").returncode == 0
        assert dev.get("/read?k=survivor") == {"d1": "from-cli", "kv": "from-cli", "r2": "from-cli"}

        dev.get("/write?k=other&v=from-dev")
        assert d1_json(project, "SELECT v FROM notes WHERE k = 'other'")[0]["results"] == [{"v": "from-dev"}]
        assert pyflows(project, "kv", "key", "get", "--binding", "KV", "other").stdout == "from-dev"

        # The server and a CLI process insert at the same time: every row lands.
        dev.get("/count?n=1")
        errors: list[BaseException] = []

        def server_side() -> None:
            try:
                dev.get("/count?n=200")
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        thread = threading.Thread(target=server_side)
        thread.start()
        sql = ";".join(["INSERT INTO hits (who) VALUES ('cli')"] * 200)
        for _ in range(3):
            d1_json(project, sql)
        thread.join(timeout=60)
        assert not errors, errors
        counts = d1_json(project, "SELECT who, count(*) AS n FROM hits GROUP BY who ORDER BY who")[0]["results"]
        assert counts == [{"who": "cli", "n": 600}, {"who": "dev", "n": 201}]
    finally:
        dev.stop()


def test_persist_to_moves_bindings_like_wrangler(project: Path, tmp_path: Path) -> None:
    state = tmp_path / "elsewhere"
    dev = DevServer(project, "--persist-to", str(state)).ready()
    try:
        dev.get("/write?k=p&v=persisted")
    finally:
        dev.stop()
    assert (state / "v3" / "kv" / "kv-e2e" / "blobs").is_dir()
    done = pyflows(project, "kv", "key", "get", "--binding", "KV", "p", "--persist-to", str(state))
    assert done.stdout == "persisted"
    assert pyflows(project, "kv", "key", "get", "--binding", "KV", "p").stdout == "Value not found\n"
    assert not os.path.exists(project / ".wrangler" / "state" / "v3" / "kv" / "kv-e2e")
