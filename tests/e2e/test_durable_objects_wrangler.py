"""Durable Object storage shared with the real Wrangler: a JavaScript object under `wrangler dev` and
the same object in Python under `pyflows dev` read each other's `ctx.storage` values.

Both run on one project: the same Worker name and class, so the same
`.wrangler/state/v3/do/shared-Box/<idFromName>.sqlite`. Runs when PYFLOWS_TEST_WRANGLER names a
wrangler command (see .ci/run).
"""

from __future__ import annotations

import json
import textwrap
import urllib.request
from pathlib import Path
from typing import Any

from pyflows.testing.devserver import DevServer
from wrangler_process import REQUIRES_WRANGLER, wrangler_dev

pytestmark = REQUIRES_WRANGLER

CONFIG = {
    "name": "shared",
    "compatibility_date": "2026-11-01",
    "durable_objects": {"bindings": [{"name": "BOX", "class_name": "Box"}]},
    "migrations": [{"tag": "v1", "new_sqlite_classes": ["Box"]}],
}

JS_WORKER = """
import { DurableObject } from "cloudflare:workers";

const describe = (v) => JSON.stringify(v, (k, x) =>
  typeof x === "bigint" ? x.toString() + "n" : x instanceof Map ? {map: [...x]} : x instanceof Set ? {set: [...x]}
  : x instanceof Uint8Array ? {u8: [...x]} : x === undefined ? "undefined" : x);

export class Box extends DurableObject {
  async write() {
    const s = this.ctx.storage;
    await s.put({
      "js-int": 42, "js-big": 2 ** 40, "js-half": 0.5, "js-bigint": 2n ** 70n, "js-one": "héllo", "js-two": "€ ✓",
      "js-list": [1, null, "x"], "js-obj": {b: 1, "7": "seven", deep: {ok: true}}, "js-date": new Date(1767225600000),
      "js-u8": new Uint8Array([0, 128, 255]), "js-map": new Map([["k", 1]]), "js-set": new Set(["a"]),
    });
  }
  async read() {
    const got = {};
    for (const [k, v] of await this.ctx.storage.list({prefix: "py-"})) {
      got[k] = {type: Object.prototype.toString.call(v), value: describe(v)};
    }
    return got;
  }
}

export default {
  async fetch(request, env) {
    const stub = env.BOX.getByName("one");
    if (new URL(request.url).pathname === "/write") { await stub.write(); return new Response("ok"); }
    return Response.json(await stub.read());
  },
};
"""

PY_ENTRY = textwrap.dedent(
    """
    from datetime import datetime
    from workers import DurableObject, Response, WorkerEntrypoint

    def plain(v):
        if isinstance(v, datetime):
            return {"datetime": v.isoformat()}
        if isinstance(v, bytes):
            return {"bytes": list(v)}
        if isinstance(v, set):
            return {"set": sorted(v)}
        if isinstance(v, dict):
            return {"type": type(v).__name__, "items": {k: plain(x) for k, x in v.items()}}
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v

    class Box(DurableObject):
        async def dump(self):
            return {k: plain(v) for k, v in (await self.ctx.storage.list({"prefix": "js-"})).items()}

        async def write(self):
            await self.ctx.storage.put({
                "py-int": 7, "py-float": 2.5, "py-huge": 2 ** 70, "py-str": "naïve ✓", "py-none": None,
                "py-list": [1, [2]], "py-dict": {"a": {"b": True}, "10": "ten"}, "py-when": datetime(2026, 1, 1),
                "py-bytes": b"\\x00\\xff", "py-set": {"s"},
            })

    class Default(WorkerEntrypoint):
        async def fetch(self, request):
            stub = self.env.BOX.getByName("one")
            if request.url.endswith("/write"):
                await stub.write()
                return Response("ok")
            return Response.json(await stub.dump())
    """
)


def fetch(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as reply:
        body = reply.read().decode()
    return json.loads(body) if body.startswith("{") else body


def test_javascript_and_python_objects_read_each_others_storage(tmp_path: Path) -> None:
    project = tmp_path / "shared"
    (project / "src").mkdir(parents=True)
    (project / "wrangler.jsonc").write_text(
        json.dumps({**CONFIG, "main": "src/entry.py", "compatibility_flags": ["python_workers"]})
    )
    (project / "src" / "entry.py").write_text(PY_ENTRY)
    (project / "wrangler.js.jsonc").write_text(json.dumps({**CONFIG, "main": "src/index.js"}))
    (project / "src" / "index.js").write_text(JS_WORKER)

    # 1. workerd writes (wrangler dev), 2. pyflows reads what it wrote and writes its own.
    with wrangler_dev(project, tmp_path / "wrangler-1.log", "-c", "wrangler.js.jsonc") as port:
        assert fetch(port, "/write") == "ok"
    dev = DevServer(project).ready()
    try:
        assert dev.get("/") == {
            "js-int": 42,
            "js-big": 2**40,
            "js-half": 0.5,
            "js-bigint": 2**70,
            "js-one": "héllo",
            "js-two": "€ ✓",
            "js-list": [1, None, "x"],
            "js-obj": {
                "type": "JsDict",
                "items": {"7": "seven", "b": 1, "deep": {"type": "JsDict", "items": {"ok": True}}},
            },
            "js-date": {"datetime": "2026-01-01T00:00:00"},
            "js-u8": {"bytes": [0, 128, 255]},
            "js-map": {"type": "dict", "items": {"k": 1}},
            "js-set": {"set": ["a"]},
        }
        assert dev.get("/write") == "ok"
    finally:
        dev.stop()

    # 3. workerd reads what pyflows wrote, as the JavaScript values Python's would be.
    with wrangler_dev(project, tmp_path / "wrangler-2.log", "-c", "wrangler.js.jsonc") as port:
        got = fetch(port, "/")
    assert got == {
        "py-bytes": {"type": "[object Uint8Array]", "value": '{"u8":[0,255]}'},
        "py-dict": {"type": "[object Object]", "value": '{"10":"ten","a":{"b":true}}'},
        "py-float": {"type": "[object Number]", "value": "2.5"},
        "py-huge": {"type": "[object BigInt]", "value": '"1180591620717411303424n"'},
        "py-int": {"type": "[object Number]", "value": "7"},
        "py-list": {"type": "[object Array]", "value": "[1,[2]]"},
        "py-none": {"type": "[object Null]", "value": "null"},
        "py-set": {"type": "[object Set]", "value": '{"set":["s"]}'},
        "py-str": {"type": "[object String]", "value": '"naïve ✓"'},
        "py-when": {"type": "[object Date]", "value": '"2026-01-01T00:00:00.000Z"'},
    }
