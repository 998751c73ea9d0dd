"""KV, D1 and R2 data shared with the real Wrangler, both directions, with no flags on either tool.

Wrangler's `d1 execute` / `kv key put` / `r2 object put --local` → read by a pyflows Worker under
`pyflows dev`; the Worker's writes → read by Wrangler's `d1 execute` / `kv key get` / `r2 object get`
and by `wrangler dev` running a JavaScript Worker on the same project. Runs when
PYFLOWS_TEST_WRANGLER names a wrangler command (see .ci/run).
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import urllib.request
from pathlib import Path

import pytest
from pyflows.testing.devserver import DevServer
from wrangler_process import REQUIRES_WRANGLER, wrangler_dev, wrangler_env

pytestmark = REQUIRES_WRANGLER

BINDINGS = {
    "kv_namespaces": [{"binding": "KV", "id": "kv-shared-1"}],
    "d1_databases": [{"binding": "DB", "database_name": "shared-db", "database_id": "d1-shared-1"}],
    "r2_buckets": [{"binding": "BUCKET", "bucket_name": "shared-bucket"}],
}

ENTRY = textwrap.dedent(
    """
    from urllib.parse import parse_qs, urlparse
    from workers import Response, WorkerEntrypoint

    class Default(WorkerEntrypoint):
        async def fetch(self, request):
            url = urlparse(request.url)
            if url.path == "/read":
                rows = await self.env.DB.prepare("SELECT id, quote FROM quotes ORDER BY id").all()
                obj = await self.env.BUCKET.get("from-wrangler.txt")
                return Response.json({
                    "d1": rows.results,
                    "kv": await self.env.KV.get("from-wrangler"),
                    "kv_meta": (await self.env.KV.getWithMetadata("from-wrangler")).metadata,
                    "r2": await obj.text(),
                    "r2_type": obj.httpMetadata.get("contentType"),
                })
            if url.path == "/write":
                await self.env.DB.prepare("INSERT INTO quotes (quote) VALUES (?)").bind("from pyflows").run()
                await self.env.KV.put("from-pyflows", "py-value", {"metadata": {"by": "pyflows"}})
                await self.env.BUCKET.put("from-pyflows.txt", "py-object",
                                          {"httpMetadata": {"contentType": "text/x-py"}})
                return Response.json({"ok": True})
            return Response("not found", status=404)
    """
)

JS_WORKER = """
export default {
  async fetch(request, env) {
    const row = await env.DB.prepare("SELECT quote FROM quotes WHERE quote = 'from pyflows'").first();
    const obj = await env.BUCKET.get("from-pyflows.txt");
    return Response.json({ d1: row && row.quote, kv: await env.KV.get("from-pyflows"), r2: obj && await obj.text() });
  },
};
"""


def wrangler(root: Path, *args: str, config: str | None = None) -> subprocess.CompletedProcess[bytes]:
    extra = ["-c", config] if config else []
    done = subprocess.run(
        [*os.environ["PYFLOWS_TEST_WRANGLER"].split(), *args, *extra],
        cwd=root, capture_output=True, timeout=120, env=wrangler_env(root),
    )  # fmt: skip
    assert done.returncode == 0, (args, done.stdout.decode(), done.stderr.decode())
    return done


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "shared"
    (root / "src").mkdir(parents=True)
    base = {"name": "shared", "compatibility_date": "2026-11-01", **BINDINGS}
    (root / "wrangler.jsonc").write_text(
        json.dumps({**base, "main": "src/entry.py", "compatibility_flags": ["python_workers"]})
    )
    (root / "src" / "entry.py").write_text(ENTRY)
    # The same project, with a JavaScript Worker for `wrangler dev` (it cannot run Python offline).
    (root / "wrangler.js.jsonc").write_text(json.dumps({**base, "main": "src/index.js"}))
    (root / "src" / "index.js").write_text(JS_WORKER)
    return root


def test_wrangler_writes_pyflows_reads_and_back(project: Path, tmp_path: Path) -> None:
    # 1. Wrangler writes, with no flags beyond --local.
    seed = (
        "CREATE TABLE quotes (id INTEGER PRIMARY KEY, quote TEXT); INSERT INTO quotes (quote) VALUES ('from wrangler')"
    )
    wrangler(project, "d1", "execute", "DB", "--local", "--command", seed)
    wrangler(
        project,
        "kv",
        "key",
        "put",
        "--binding",
        "KV",
        "from-wrangler",
        "w-value",
        "--metadata",
        '{"by":"wrangler"}',
        "--local",
    )
    (project / "obj.txt").write_text("w-object")
    wrangler(
        project,
        "r2",
        "object",
        "put",
        "shared-bucket/from-wrangler.txt",
        "--file",
        "obj.txt",
        "--content-type",
        "text/x-w",
        "--local",
    )

    # 2. A pyflows Worker reads it, then writes its own.
    dev = DevServer(project).ready()
    try:
        assert dev.get("/read") == {
            "d1": [{"id": 1, "quote": "from wrangler"}],
            "kv": "w-value",
            "kv_meta": {"by": "wrangler"},
            "r2": "w-object",
            "r2_type": "text/x-w",
        }
        assert dev.get("/write") == {"ok": True}
    finally:
        dev.stop()

    # 3. Wrangler's commands read what pyflows wrote.
    rows = json.loads(wrangler(project, "d1", "execute", "DB", "--local", "--json", "--command",
                               "SELECT quote FROM quotes ORDER BY id").stdout)  # fmt: skip
    assert rows[0]["results"] == [{"quote": "from wrangler"}, {"quote": "from pyflows"}]
    assert wrangler(project, "kv", "key", "get", "--binding", "KV", "from-pyflows", "--local").stdout == b"py-value"
    listed = json.loads(wrangler(project, "kv", "key", "list", "--binding", "KV", "--local").stdout)
    assert {"name": "from-pyflows", "metadata": {"by": "pyflows"}} in listed
    got = wrangler(project, "r2", "object", "get", "shared-bucket/from-pyflows.txt", "--pipe", "--local")
    assert got.stdout == b"py-object"

    # 4. And so does `wrangler dev`, running a JavaScript Worker on the same project.
    with wrangler_dev(project, tmp_path / "wrangler-dev.log", "-c", "wrangler.js.jsonc") as port:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as reply:
            assert json.loads(reply.read()) == {"d1": "from pyflows", "kv": "py-value", "r2": "py-object"}


def test_pyflows_cli_and_wrangler_cli_share_data(project: Path) -> None:
    import sys

    def pyflows(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "pyflows", *args], cwd=project, capture_output=True, text=True,
                              timeout=60, env={**os.environ, "PYFLOWS_HIDE_BANNER": "1"})  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done

    pyflows("d1", "execute", "shared-db", "--local", "--command", "CREATE TABLE t (x); INSERT INTO t VALUES (42)")
    out = json.loads(
        wrangler(project, "d1", "execute", "shared-db", "--local", "--json", "--command", "SELECT x FROM t").stdout
    )
    assert out[0]["results"] == [{"x": 42}]
    wrangler(project, "d1", "execute", "DB", "--local", "--command", "INSERT INTO t VALUES (43)")
    mine = json.loads(
        pyflows("d1", "execute", "DB", "--local", "--json", "--command", "SELECT x FROM t ORDER BY x").stdout
    )
    assert mine[0]["results"] == [{"x": 42}, {"x": 43}]
    pyflows("kv", "key", "put", "--binding", "KV", "k", "v1", "--local")
    assert wrangler(project, "kv", "key", "get", "--binding", "KV", "k", "--local").stdout == b"v1"
    wrangler(project, "kv", "key", "put", "--binding", "KV", "k", "v2", "--local")  # overwrite from the other side
    assert pyflows("kv", "key", "get", "--binding", "KV", "k", "--local").stdout == "v2"
    wrangler(project, "kv", "key", "delete", "--binding", "KV", "k", "--local")
    assert pyflows("kv", "key", "get", "--binding", "KV", "k", "--local").stdout == "Value not found\n"


# The one deliberate wording difference (README, "Storage commands"): pyflows has no --remote, so it
# does not tell the user to add one; it names the wrangler command instead.
_REMOTE_HINTS = (
    (
        r"^Use --remote if you want to access the remote instance\.$",
        "pyflows works on local storage only: use `wrangler",
    ),
    (
        r"^🌀 To execute on your remote database, add a --remote flag to your wrangler command\.$",
        "🌀 To execute on your remote database, run this command with `wrangler` and --remote.",
    ),
)


def _normalized(text: str) -> str:
    """Output without the banner (its name and version differ), with durations zeroed and the remote
    hint lines (Wrangler's and pyflows' deliberate rewording) reduced to one marker each."""
    import re

    lines = text.splitlines()
    if len(lines) > 2 and lines[1].startswith(" ⛅️ "):
        lines = lines[3:]
    out = []
    for line in lines:
        for n, (wranglers, ours) in enumerate(_REMOTE_HINTS):
            if re.match(wranglers, line) or line.startswith(ours):
                line = f"<remote hint {n}>"
        out.append(line)
    return re.sub(r'"duration": [0-9.]+', '"duration": 0', "\n".join(out)).strip()


@pytest.mark.parametrize(
    "args",
    [
        ("d1", "execute", "DB", "--local", "--command", "CREATE TABLE IF NOT EXISTS o (x); INSERT INTO o VALUES (1)"),
        ("d1", "execute", "shared-db", "--local", "--command", "SELECT x FROM o"),
        ("d1", "execute", "DB", "--local", "--json", "--command", "SELECT x FROM o"),
        ("kv", "key", "put", "--binding", "KV", "same", "value", "--metadata", '{"m":1}', "--local"),
        ("kv", "key", "get", "--binding", "KV", "same", "--local"),
        ("kv", "key", "list", "--binding", "KV", "--local"),
        ("kv", "key", "get", "--binding", "KV", "missing", "--local"),
        ("kv", "key", "delete", "--binding", "KV", "same", "--local"),
        ("r2", "object", "put", "shared-bucket/same.txt", "--file", "wrangler.jsonc", "--local"),
        ("r2", "object", "get", "shared-bucket/same.txt", "--pipe", "--local"),
        ("r2", "object", "delete", "shared-bucket/same.txt", "--local"),
    ],
    ids=lambda a: " ".join(a[:3]),
)
def test_the_same_command_prints_what_wrangler_prints(project: Path, args: tuple[str, ...]) -> None:
    import sys

    # Each tool runs the command on its own copy of the project, from the same starting data.
    theirs_root, ours_root = project, project.parent / "ours"
    import shutil

    if args[:2] == ("d1", "execute") and "CREATE" not in args[-1]:
        for root in (theirs_root,):
            wrangler(
                root, "d1", "execute", "DB", "--local", "--command", "CREATE TABLE o (x); INSERT INTO o VALUES (1)"
            )
    if args[:3] in (("kv", "key", "get"), ("kv", "key", "list"), ("kv", "key", "delete")):
        wrangler(
            theirs_root, "kv", "key", "put", "--binding", "KV", "same", "value", "--metadata", '{"m":1}', "--local"
        )
    if args[:3] in (("r2", "object", "get"), ("r2", "object", "delete")):
        wrangler(theirs_root, "r2", "object", "put", "shared-bucket/same.txt", "--file", "wrangler.jsonc", "--local")
    shutil.copytree(theirs_root, ours_root)
    theirs = wrangler(theirs_root, *args).stdout.decode()
    ours = subprocess.run([sys.executable, "-m", "pyflows", *args], cwd=ours_root, capture_output=True, timeout=60,
                          env={**os.environ, "NO_COLOR": "1"})  # fmt: skip
    assert ours.returncode == 0, ours.stderr.decode()
    assert _normalized(ours.stdout.decode()) == _normalized(theirs)
