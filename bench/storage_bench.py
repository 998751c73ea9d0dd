"""KV, D1 and R2 through the bindings, from a workflow step, against the same work done directly and
against `wrangler dev` running the same operations in a JavaScript Worker (issue 11).

storage_kv_get_put        ops/s of `await KV.put(k, v)` + `await KV.get(k)` pairs inside one step
storage_d1_insert_select  ops/s of INSERT + SELECT-by-key pairs (`prepare().bind().run()` / `.first()`)
storage_r2_put_get        ops/s of a 1 KiB `BUCKET.put` + `BUCKET.get(...).arrayBuffer()` pair
storage_d1_10k_rows       ms for `prepare("SELECT * FROM big").all()` returning 10,000 rows
*_overhead                binding time ÷ the same operation done directly in this process with sqlite3
                          and files, same pragmas (WAL, synchronous=NORMAL, one commit per write):
                          the binding's cost; target ≤ 2.
Wrangler                  when PYFLOWS_TEST_WRANGLER is set: `wrangler dev` with a JS Worker doing the
                          same loop per request (ops/s = ops ÷ the request's wall time), measured in the
                          same run; the ratio is pyflows ÷ Wrangler (target ≥ 10).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _harness import Result, emit
from pyflows.runtime.sdk import SHIM_DIR

if str(SHIM_DIR) not in sys.path:
    sys.path.insert(0, str(SHIM_DIR))

from pyflows.runtime.bindings.d1 import D1Database  # noqa: E402
from pyflows.runtime.bindings.kv import _SCHEMA as KV_SCHEMA  # noqa: E402
from pyflows.runtime.bindings.kv import KVNamespace  # noqa: E402
from pyflows.runtime.bindings.r2 import _SCHEMA as R2_SCHEMA  # noqa: E402
from pyflows.runtime.bindings.r2 import R2Bucket  # noqa: E402
from pyflows.runtime.bindings.wrangler_state import new_blob_id  # noqa: E402
from pyflows.runtime.storage.store import Store  # noqa: E402
from pyflows.runtime.surface.values import JsDict  # noqa: E402
from pyflows.runtime.workflows.engine import Engine, EngineOptions, WorkflowSpec  # noqa: E402
from workers import WorkflowEntrypoint  # noqa: E402

OPS = 1000
BIG_ROWS = 10_000
VALUE_1K = b"x" * 1024


class StorageLoop(WorkflowEntrypoint):
    """One step that times `ops` pairs of one kind and returns the seconds they took."""

    async def run(self, event: Any, step: Any) -> float:
        kind, ops = event["payload"]["kind"], event["payload"]["ops"]

        @step.do(f"loop {kind}")
        async def loop() -> float:
            env = self.env
            started = time.perf_counter()
            if kind == "kv":
                for i in range(ops):
                    await env.KV.put(f"k{i}", "value")
                    await env.KV.get(f"k{i}")
            elif kind == "d1":
                for i in range(ops):
                    await env.DB.prepare("INSERT INTO t (k, v) VALUES (?, ?)").bind(f"k{i}", "value").run()
                    await env.DB.prepare("SELECT v FROM t WHERE k = ?").bind(f"k{i}").first()
            elif kind == "r2":
                for i in range(ops):
                    await env.BUCKET.put(f"o{i}", VALUE_1K)
                    await (await env.BUCKET.get(f"o{i}")).arrayBuffer()
            elif kind == "big":
                rows = (await env.DB.prepare("SELECT * FROM big").all()).results
                assert len(rows) == BIG_ROWS
            return time.perf_counter() - started

        return float(await loop())


async def _through_binding(tmp: Path, kind: str, ops: int) -> float:
    root = tmp / "v3"
    db = D1Database(root, "bench-db", "DB")
    await db.exec("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)")
    if kind == "big":
        await db.exec("CREATE TABLE big (id INTEGER PRIMARY KEY, name TEXT, n INTEGER, f REAL)")
        db.store.conn.execute("BEGIN")
        db.store.conn.executemany(
            "INSERT INTO big (name, n, f) VALUES (?, ?, ?)", [(f"row {i}", i, i / 3) for i in range(BIG_ROWS)]
        )
        db.store.conn.execute("COMMIT")
    store = await Store.open(tmp / "state")
    spec = WorkflowSpec(
        name="loop", binding="LOOP", class_name="StorageLoop", script_name="bench", cls=StorageLoop, max_steps=10
    )
    engine = Engine(store, [spec], EngineOptions(max_concurrency=10))
    engine.env = JsDict(KV=KVNamespace(root, "bench-kv", "KV"), DB=db, BUCKET=R2Bucket(root, "bench-r2", "BUCKET"))
    await engine.start()
    try:
        instance = await engine.create("loop", params={"kind": kind, "ops": ops})
        status = await engine.wait_for("loop", instance, timeout=300)
        if status["status"] != "complete":
            raise RuntimeError(f"the storage loop ended {status}")
        return float(status["output"])
    finally:
        await engine.close()
        await store.close()


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _direct(tmp: Path, kind: str, ops: int) -> float:
    """The same pairs with sqlite3 and files only: what the operation costs at least.

    Same tables as the binding (miniflare's `_mf_entries` with its expiration index, `_mf_objects`),
    one blob file per value, one autocommit INSERT per write; R2 also computes the MD5 etag, as any R2
    put must. What it leaves out is the binding's own work: validation, the old blob's clean-up
    (a SELECT in the write's transaction), result objects.
    """
    conn = _connect(tmp / "direct.sqlite")
    blobs = tmp / "blobs"
    blobs.mkdir()
    conn.executescript(KV_SCHEMA + R2_SCHEMA)
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)")
    if kind == "big":
        conn.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, name TEXT, n INTEGER, f REAL)")
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO big (name, n, f) VALUES (?, ?, ?)", [(f"row {i}", i, i / 3) for i in range(BIG_ROWS)]
        )
        conn.execute("COMMIT")
    started = time.perf_counter()
    if kind == "kv":
        for i in range(ops):
            blob_id = new_blob_id()
            (blobs / blob_id).write_bytes(b"value")
            conn.execute("INSERT OR REPLACE INTO _mf_entries (key, blob_id) VALUES (?, ?)", (f"k{i}", blob_id))
            row = conn.execute("SELECT blob_id, expiration, metadata FROM _mf_entries WHERE key = ?", (f"k{i}",))
            (blobs / row.fetchone()[0]).read_bytes()
    elif kind == "r2":
        for i in range(ops):
            blob_id = new_blob_id()
            (blobs / blob_id).write_bytes(VALUE_1K)
            conn.execute(
                "INSERT OR REPLACE INTO _mf_objects (key, blob_id, version, size, etag, uploaded, checksums, "
                "http_metadata, custom_metadata) VALUES (?, ?, ?, ?, ?, ?, '{}', '{}', '{}')",
                (f"o{i}", blob_id, os.urandom(16).hex(), len(VALUE_1K), hashlib.md5(VALUE_1K).hexdigest(),
                 int(time.time() * 1000)),
            )  # fmt: skip
            row = conn.execute("SELECT * FROM _mf_objects WHERE key = ?", (f"o{i}",)).fetchone()
            (blobs / row[1]).read_bytes()
    elif kind == "d1":
        for i in range(ops):
            conn.execute("INSERT INTO t (k, v) VALUES (?, ?)", (f"k{i}", "value"))
            conn.execute("SELECT v FROM t WHERE k = ?", (f"k{i}",)).fetchone()
    elif kind == "big":
        cur = conn.execute("SELECT * FROM big")
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        assert len(rows) == BIG_ROWS
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def _in_tmp(fn: Callable[[Path], float]) -> float:
    tmp = Path(tempfile.mkdtemp(prefix="pyflows-bench-storage-"))
    try:
        return fn(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


JS_WORKER = """
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const n = Number(url.searchParams.get("n") || "0");
    const run = url.searchParams.get("run") || "0";
    const v1k = "x".repeat(1024);
    if (url.pathname === "/setup") {
      await env.DB.exec("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v TEXT)");
      await env.DB.exec("CREATE TABLE IF NOT EXISTS big (id INTEGER PRIMARY KEY, name TEXT, n INTEGER, f REAL)");
      const count = (await env.DB.prepare("SELECT count(*) AS c FROM big").first()).c;
      for (let i = count; i < 10000; i += 500) {
        const stmts = [];
        for (let j = i; j < Math.min(i + 500, 10000); j++)
          stmts.push(env.DB.prepare("INSERT INTO big (name, n, f) VALUES (?, ?, ?)").bind("row " + j, j, j / 3));
        await env.DB.batch(stmts);
      }
      return new Response("ok");
    }
    if (url.pathname === "/kv") for (let i = 0; i < n; i++) {
      await env.KV.put(`k${run}-${i}`, "value"); await env.KV.get(`k${run}-${i}`);
    }
    if (url.pathname === "/d1") for (let i = 0; i < n; i++) {
      await env.DB.prepare("INSERT INTO t (k, v) VALUES (?, ?)").bind(`k${run}-${i}`, "value").run();
      await env.DB.prepare("SELECT v FROM t WHERE k = ?").bind(`k${run}-${i}`).first();
    }
    if (url.pathname === "/r2") for (let i = 0; i < n; i++) {
      await env.BUCKET.put(`o${run}-${i}`, v1k); await (await env.BUCKET.get(`o${run}-${i}`)).arrayBuffer();
    }
    if (url.pathname === "/big") {
      const r = await env.DB.prepare("SELECT * FROM big").all();
      if (r.results.length !== 10000) throw new Error("rows");
    }
    return new Response("done");
  },
};
"""


def _wrangler_rates(runs: int, ops: int) -> dict[str, list[float]]:
    """ops/s (ms for "big") per kind from `wrangler dev`, or {} when PYFLOWS_TEST_WRANGLER is unset."""
    command = os.environ.get("PYFLOWS_TEST_WRANGLER")
    if not command:
        return {}
    root = Path(tempfile.mkdtemp(prefix="pyflows-bench-wrangler-"))
    (root / "src").mkdir()
    (root / "src" / "index.js").write_text(JS_WORKER)
    (root / "wrangler.jsonc").write_text(
        json.dumps(
            {
                "name": "bench-storage",
                "main": "src/index.js",
                "compatibility_date": "2026-11-01",
                "kv_namespaces": [{"binding": "KV", "id": "bench-kv"}],
                "d1_databases": [{"binding": "DB", "database_name": "bench-db", "database_id": "bench-db"}],
                "r2_buckets": [{"binding": "BUCKET", "bucket_name": "bench-r2"}],
            }
        )
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "WRANGLER_SEND_METRICS": "false", "CI": "1", "NO_COLOR": "1",
           "XDG_CONFIG_HOME": str(root / "xdg"), "WRANGLER_LOG_PATH": str(root / "logs")}  # fmt: skip
    log = (root / "dev.log").open("w")
    proc = subprocess.Popen(
        [*command.split(), "dev", "--ip", "127.0.0.1", "--port", str(port)],
        cwd=root, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def get(path: str) -> float:
        started = time.perf_counter()
        with urllib.request.urlopen(base + path, timeout=300) as reply:
            reply.read()
        return time.perf_counter() - started

    try:
        deadline = time.monotonic() + 90
        while "Ready on" not in (root / "dev.log").read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("wrangler dev did not start:\n" + (root / "dev.log").read_text()[-2000:])
            time.sleep(0.2)
        get("/setup")
        rates: dict[str, list[float]] = {"kv": [], "d1": [], "r2": [], "big": []}
        for run in range(runs):
            for kind in ("kv", "d1", "r2"):
                rates[kind].append(ops / get(f"/{kind}?n={ops}&run={run}"))
            rates["big"].append(get("/big") * 1000)
        return rates
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def _result(name: str, unit: str, values: list[float], *, better: str, wrangler: list[float] | None,
            target: float | None, extra: dict[str, Any]) -> Result:  # fmt: skip
    med = statistics.median(values)
    peer = statistics.median(wrangler) if wrangler else None
    if wrangler:
        extra = {**extra, "wrangler_source": f"same run, {len(wrangler)} runs"}
    ratio = None if peer is None else (med / peer if better == "higher" else peer / med)
    overhead = name.endswith("_overhead")
    passed = None
    if target is not None and overhead:
        passed = med <= target
    elif target is not None and ratio is not None:
        passed = ratio >= target
    return Result(
        name=name,
        unit=unit,
        median=round(med, 3),
        min=round(min(values), 3),
        max=round(max(values), 3),
        runs=len(values),
        wrangler=None if peer is None else round(peer, 3),
        ratio=None if ratio is None else round(ratio, 2),
        target=None if target is None else (f"<= {target}" if overhead else f">= {target}x Wrangler"),
        passed=passed,
        issue="issue 11",
        extra=extra,
    )


def storage(runs: int, sink: list[Result], *, ops: int = OPS) -> None:
    peer = _wrangler_rates(max(1, min(runs, 3)), ops)
    kinds = (("kv", "storage_kv_get_put"), ("d1", "storage_d1_insert_select"), ("r2", "storage_r2_put_get"))
    for kind, name in kinds:
        binding = [_in_tmp(lambda t, k=kind: asyncio.run(_through_binding(t, k, ops))) for _ in range(runs)]
        direct = [_in_tmp(lambda t, k=kind: _direct(t, k, ops)) for _ in range(runs)]
        rates = [ops / s for s in binding]
        extra = {"ops": ops, "direct_ops_per_s": round(ops / statistics.median(direct), 1)}
        emit(_result(name, "ops/s", rates, better="higher", wrangler=peer.get(kind), target=10.0, extra=extra), sink)
        overhead = [b / statistics.median(direct) for b in binding]
        emit(_result(name.replace("storage_", "storage_overhead_") + "_overhead", "x", overhead, better="lower",
                     wrangler=None, target=2.0, extra={}), sink)  # fmt: skip
    big = [_in_tmp(lambda t: asyncio.run(_through_binding(t, "big", 0))) * 1000 for _ in range(runs)]
    big_direct = [_in_tmp(lambda t: _direct(t, "big", 0)) * 1000 for _ in range(runs)]
    emit(_result("storage_d1_10k_rows", "ms", big, better="lower", wrangler=peer.get("big"), target=10.0,
                 extra={"rows": BIG_ROWS, "direct_ms": round(statistics.median(big_direct), 2)}), sink)  # fmt: skip
    emit(_result("storage_overhead_d1_10k_rows_overhead", "x", [b / statistics.median(big_direct) for b in big],
                 better="lower", wrangler=None, target=2.0, extra={}), sink)  # fmt: skip
