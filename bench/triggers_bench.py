"""Queues and Durable Objects against a real `pyflows dev`, and the same JavaScript Worker under a real
`wrangler dev` in the same run when PYFLOWS_TEST_WRANGLER names a wrangler command (issue 12).

queue_messages_per_s   one request sends QUEUE_MESSAGES messages with sendBatch (100 per call); the
                       consumer (max_batch_size 100) acks every batch and counts the messages. The clock
                       runs from that request until GET /count reports them all (polled every 5 ms).
do_rpc_per_s           one request makes DO_CALLS sequential RPC calls `await stub.inc()` on one Durable
                       Object (an in-memory counter, so it measures the round trip); calls ÷ request time.

Target (issue 12): at least 10× Wrangler for both. Without Wrangler, the Wrangler column stays empty.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import _wrangler as _wrangler_dev
from _harness import DevServer, Result, against_peer, emit, result, wait_until
from _http import Http

QUEUE_MESSAGES = 5000
DO_CALLS = 2000

PY_ENTRY = """
from workers import DurableObject, Response, WorkerEntrypoint

received = 0


class Counter(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        self.n = 0

    async def inc(self):
        self.n += 1
        return self.n


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = request.url.split("?")[0].rsplit("/", 1)[-1]
        n = int(request.url.split("n=")[-1]) if "n=" in request.url else 0
        if path == "fill":
            for start in range(0, n, 100):
                await self.env.Q.sendBatch([{"body": {"i": i}} for i in range(start, min(n, start + 100))])
            return Response("ok")
        if path == "count":
            return Response(str(received))
        if path == "rpc":
            stub = self.env.COUNTER.getByName("bench")
            for _ in range(n):
                await stub.inc()
            return Response("ok")
        return Response("pong")

    async def queue(self, batch):
        global received
        received += len(batch.messages)
        batch.ackAll()
"""

JS_ENTRY = """
import { DurableObject } from "cloudflare:workers";
let received = 0;
export class Counter extends DurableObject {
  constructor(ctx, env) { super(ctx, env); this.n = 0; }
  async inc() { this.n += 1; return this.n; }
}
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const n = Number(url.searchParams.get("n") || 0);
    if (url.pathname === "/fill") {
      for (let start = 0; start < n; start += 100) {
        const batch = [];
        for (let i = start; i < Math.min(n, start + 100); i++) batch.push({ body: { i } });
        await env.Q.sendBatch(batch);
      }
      return new Response("ok");
    }
    if (url.pathname === "/count") return new Response(String(received));
    if (url.pathname === "/rpc") {
      const stub = env.COUNTER.getByName("bench");
      for (let i = 0; i < n; i++) await stub.inc();
      return new Response("ok");
    }
    return new Response("pong");
  },
  async queue(batch) { received += batch.messages.length; batch.ackAll(); },
};
"""


def _config(main: str) -> dict[str, object]:
    return {
        "name": "bench-triggers",
        "main": main,
        "compatibility_date": "2026-02-25",
        # Wrangler would try to download Python (and fail offline) for a JS Worker with this flag.
        "compatibility_flags": [] if main.endswith(".js") else ["python_workers"],
        "queues": {
            "producers": [{"binding": "Q", "queue": "bench"}],
            "consumers": [{"queue": "bench", "max_batch_size": 100, "max_batch_timeout": 1}],
        },
        "durable_objects": {"bindings": [{"name": "COUNTER", "class_name": "Counter"}]},
        "migrations": [{"tag": "v1", "new_sqlite_classes": ["Counter"]}],
    }


@contextmanager
def _project(js: bool) -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix="pyflows-bench-triggers-"))
    try:
        (tmp / "src").mkdir()
        main = "src/index.js" if js else "src/entry.py"
        (tmp / main).write_text(JS_ENTRY if js else PY_ENTRY)
        (tmp / "wrangler.jsonc").write_text(json.dumps(_config(main)))
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def _wrangler(project: Path) -> Iterator[str]:
    """The JavaScript twin under `wrangler dev` (bench/_wrangler.py's WranglerDev), started and stopped."""
    server = _wrangler_dev.WranglerDev(project)
    try:
        yield server.start().url
    finally:
        server.stop()


def _measure(url: str, runs: int) -> tuple[list[float], list[float]]:
    client = Http(url, timeout=300)
    queue: list[float] = []
    rpc: list[float] = []
    try:
        client.request("GET", "/rpc?n=10")  # warm: the object exists
        for _ in range(runs):
            before = int(client.request("GET", "/count")[1])
            started = time.perf_counter()
            assert client.request("POST", f"/fill?n={QUEUE_MESSAGES}")[0] == 200
            wait_until(
                lambda goal=before + QUEUE_MESSAGES: int(client.request("GET", "/count")[1]) >= goal,
                timeout=300,
                interval=0.005,
                what=f"{QUEUE_MESSAGES} acked messages",
            )
            queue.append(QUEUE_MESSAGES / (time.perf_counter() - started))
            started = time.perf_counter()
            assert client.request("GET", f"/rpc?n={DO_CALLS}")[0] == 200
            rpc.append(DO_CALLS / (time.perf_counter() - started))
    finally:
        client.close()
    return queue, rpc


def triggers(runs: int, sink: list[Result]) -> None:
    with _project(js=False) as project:
        server = DevServer(project)
        try:
            server.ready()
            queue, rpc = _measure(server.url, runs)
        finally:
            server.stop()
    peer_queue: list[float] = []
    peer_rpc: list[float] = []
    if _wrangler_dev.command() is not None:  # the same JavaScript Worker, measured in this run
        with _project(js=True) as project, _wrangler(project) as url:
            peer_queue, peer_rpc = _measure(url, max(1, min(runs, 2)))
    queue_result = result("queue_messages_per_s", queue, peer=peer_queue, messages=QUEUE_MESSAGES, batch=100)
    emit(against_peer(queue_result, 10, "Wrangler"), sink)  # issue 12: at least 10x Wrangler
    emit(against_peer(result("do_rpc_per_s", rpc, peer=peer_rpc, calls=DO_CALLS), 10, "Wrangler"), sink)
