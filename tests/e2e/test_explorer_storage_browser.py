"""The Local Explorer's KV, R2 and D1 pages in headless Chromium against a real `pyflows dev` (issue 15).

The project binds one KV namespace, one R2 bucket and one D1 database. Data is seeded through the
Local Explorer API and, for one key, object and row, by the Worker's own bindings (what the page shows
is what user code wrote). Each new page's screenshot is saved under test-artifacts/explorer/.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from explorer_browser import API, Server, open_page, playwright, shot
from explorer_project import XSS

pytestmark = pytest.mark.slow
playwright()  # skips this module without chromium or playwright

WRANGLER_JSONC = {
    "name": "explorer-storage-e2e",
    "main": "src/entry.py",
    "compatibility_date": "2026-11-01",
    "compatibility_flags": ["python_workers"],
    "kv_namespaces": [{"binding": "KV", "id": "kv-e2e"}],
    "r2_buckets": [{"binding": "BUCKET", "bucket_name": "files"}],
    "d1_databases": [{"binding": "DB", "database_name": "app-db", "database_id": "db-e2e"}],
}
ENTRY_PY = """
from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        await self.env.KV.put("from-worker", "written by the Worker", {"metadata": {"by": "fetch"}})
        await self.env.BUCKET.put("from-worker.txt", "object from the Worker")
        await self.env.DB.prepare("INSERT INTO users (name) VALUES (?)").bind("from the Worker").run()
        return Response("seeded")
"""
KV = "/storage/kv/namespaces/kv-e2e"
R2 = "/r2/buckets/files/objects"
D1 = "/d1/database/db-e2e/raw"
QUOTED_XSS = '"' + XSS.replace('"', '""') + '"'  # the payload as a SQL identifier


def raw(server: Server, method: str, path: str, body: bytes | None = None, **headers: str) -> bytes:
    """A non-JSON call to the Local Explorer API (a KV value, an R2 object); the body of the answer."""
    request = urllib.request.Request(server.url + API + path, data=body, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as reply:
        return reply.read()  # type: ignore[no-any-return]


def quoted(key: str) -> str:
    return urllib.parse.quote(key, safe="")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    project = tmp_path_factory.mktemp("explorer-storage")
    (project / "src").mkdir()
    (project / "wrangler.jsonc").write_text(json.dumps(WRANGLER_JSONC))
    (project / "src" / "entry.py").write_text(ENTRY_PY)
    dev = Server(project).ready()
    try:
        items = [{"key": f"user:{i:02d}", "value": json.dumps({"n": i}), "metadata": {"i": i}} for i in range(60)]
        items += [{"key": "bin", "value": "AAEC/w==", "base64": True}, {"key": XSS, "value": XSS}]
        assert dev.api("PUT", KV + "/bulk", items)["unsuccessful_keys"] == []
        for key in ("docs/readme.md", "docs/guide/intro.md", "images/logo.txt", "top.txt", XSS):
            headers = {"content-type": "text/plain", "cf-r2-custom-metadata": json.dumps({"source": XSS})}
            raw(dev, "PUT", f"{R2}/{quoted(key)}", f"hello {key}".encode(), **headers)
        dev.api("POST", D1, {"sql": f"CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, avatar BLOB); "
                                    f"CREATE TABLE {QUOTED_XSS} (v TEXT)"})  # fmt: skip
        rows = [{"sql": "INSERT INTO users (name) VALUES (?)", "params": [f"user {i}"]} for i in range(1, 120)]
        rows += [{"sql": f"INSERT INTO {QUOTED_XSS} (v) VALUES (?)", "params": [XSS]},
                 {"sql": "INSERT INTO users (name, avatar) VALUES (?, x'00ff10')", "params": [XSS]}]  # fmt: skip
        dev.api("POST", D1, {"batch": rows})
        assert dev.get("/") == "seeded"  # the Worker's bindings add one key, object and row
        yield dev
    finally:
        dev.stop()


@pytest.fixture
def actions(page: Any) -> Iterator[list[dict[str, Any]]]:
    """Every non-GET request the page sends to the API; each must carry the anti-forgery header."""
    sent: list[dict[str, Any]] = []
    page.on("request", lambda r: sent.append({"method": r.method, "url": r.url, "headers": r.headers})
            if r.method != "GET" and "/api/" in r.url else None)  # fmt: skip
    yield sent
    assert all(r["headers"].get("x-pyflows-explorer") == "1" for r in sent), sent


def rows(page: Any, table: str, attr: str) -> list[str]:
    return page.eval_on_selector_all(f"#{table} tbody tr[data-{attr}]", f"rs => rs.map(r => r.dataset.{attr})")  # type: ignore[no-any-return]


def test_nav_bar_reaches_each_storage_page(page: Any, server: Server) -> None:
    open_page(page, server, "/")
    page.click("#tabs a:text-is('KV')")
    page.wait_for_selector("#kv-namespaces tr[data-namespace='kv-e2e']")
    assert page.locator("#tabs a.on").inner_text() == "KV"
    shot(page, "8-kv-namespaces")
    page.click("#tabs a:text-is('R2')")
    page.wait_for_selector("#r2-buckets tr[data-bucket='files']")
    shot(page, "9-r2-buckets")
    page.click("#tabs a:text-is('D1')")
    page.wait_for_selector("#d1-databases tr[data-database='db-e2e']")
    assert "DB" in page.locator("#d1-databases tbody tr").inner_text()
    shot(page, "10-d1-databases")
    page.click("#tabs a:text-is('Workflows')")
    page.wait_for_selector("#workflows")


def test_kv_keys_by_prefix_and_cursor_pages_and_values(page: Any, server: Server) -> None:
    open_page(page, server, "/kv/kv-e2e")
    page.wait_for_selector("#kv-keys tr[data-key='from-worker']")  # written by the Worker's binding
    page.fill("#kv-prefix", "user:")
    page.press("#kv-prefix", "Enter")
    # The unfiltered first page has 50 rows too: wait for the filtered one (it starts at user:00).
    page.wait_for_function(
        "() => { const r = document.querySelectorAll('#kv-keys tbody tr[data-key]');"
        " return r.length === 50 && r[0].dataset.key === 'user:00'; }"
    )
    assert rows(page, "kv-keys", "key") == [f"user:{i:02d}" for i in range(50)]
    page.click("button[data-page='next']")
    page.wait_for_function("() => document.querySelectorAll('#kv-keys tbody tr[data-key]').length === 10")
    assert rows(page, "kv-keys", "key") == [f"user:{i:02d}" for i in range(50, 60)]
    assert page.locator("button[data-page='next']").is_disabled()
    page.click("button[data-page='prev']")
    page.wait_for_selector("#kv-keys tr[data-key='user:00']")
    page.click("#kv-keys tr[data-key='user:07'] button")
    page.wait_for_selector("#kv-value[data-kind='text']")
    assert json.loads(page.inner_text("#kv-value pre")) == {"n": 7}
    assert json.loads(page.inner_text("#kv-metadata")) == {"i": 7}
    assert page.inner_text("#kv-expiration") == "never"
    shot(page, "11-kv-value")
    page.fill("#kv-prefix", "bi")
    page.press("#kv-prefix", "Enter")
    page.wait_for_function("() => document.querySelectorAll('#kv-keys tbody tr[data-key]').length === 1")
    page.click("#kv-keys tr[data-key='bin'] button")
    page.wait_for_selector("#kv-value[data-kind='binary']")
    assert "Binary, 4 bytes" in page.inner_text("#kv-value")
    assert "00 01 02 ff" in page.inner_text("#kv-value pre.hex") and page.inner_text("#kv-value .b64") == "AAEC/w=="


def test_kv_put_is_checked_before_sending_then_put_and_delete(page: Any, server: Server, actions: list[Any]) -> None:
    open_page(page, server, "/kv/kv-e2e")
    page.click("#kv-put")
    page.fill("dialog input[name=key]", "config/flags")
    page.fill("dialog textarea[name=value]", '{"beta": true}')
    page.fill("dialog textarea[name=metadata]", "{not json")
    page.click("dialog button[type=submit]")
    assert "Metadata is not valid JSON" in page.inner_text("dialog .err")
    page.fill("dialog textarea[name=metadata]", '{"owner": "ada"}')
    page.fill("dialog input[name=ttl]", "5")
    page.click("dialog button[type=submit]")
    assert "at least 60" in page.inner_text("dialog .err") and "“5”" in page.inner_text("dialog .err")
    assert actions == []  # nothing was sent for either mistake
    page.fill("dialog input[name=ttl]", "3600")
    page.click("dialog button[type=submit]")
    page.wait_for_selector("#kv-key:text-is('config/flags')")
    assert json.loads(page.inner_text("#kv-metadata")) == {"owner": "ada"}
    assert page.inner_text("#kv-expiration") != "never" and "(in 59m" in page.inner_text("#kv-expiration")
    page.wait_for_selector("#kv-keys tr[data-key='config/flags']")
    assert raw(server, "GET", f"{KV}/values/{quoted('config/flags')}") == b'{"beta": true}'
    listed = server.api("GET", f"{KV}/keys?prefix=config/")
    assert listed[0]["metadata"] == {"owner": "ada"} and listed[0]["expiration"] > 0

    page.click("#kv-delete")
    page.click("dialog button.danger-confirm")
    page.wait_for_selector("#kv-keys tr[data-key='config/flags']", state="detached")
    with pytest.raises(urllib.error.HTTPError) as missing:
        raw(server, "GET", f"{KV}/values/{quoted('config/flags')}")
    missing.value.close()
    assert missing.value.code == 404
    assert [(a["method"], a["url"].split("/api")[1].split("?")[0]) for a in actions] == [
        ("PUT", f"{KV}/values/config%2Fflags"),
        ("DELETE", f"{KV}/values/config%2Fflags"),
    ]


def test_r2_folders_by_delimiter_object_details_upload_and_delete(
    page: Any, server: Server, actions: list[Any], tmp_path: Path
) -> None:
    open_page(page, server, "/r2/files")
    page.wait_for_selector("#r2-objects tr[data-prefix='docs/']")
    assert rows(page, "r2-objects", "prefix") == [XSS[: XSS.index("/") + 1], "docs/", "images/"]
    assert rows(page, "r2-objects", "key") == ["from-worker.txt", "top.txt"]
    shot(page, "12-r2-objects")
    page.click("#r2-objects tr[data-prefix='docs/'] button")
    page.wait_for_selector("#r2-objects tr[data-key='docs/readme.md']")
    assert rows(page, "r2-objects", "prefix") == ["docs/guide/"] and page.input_value("#r2-prefix") == "docs/"
    page.click("#r2-objects tr[data-key='docs/readme.md'] button")
    page.wait_for_selector("#r2-key:text-is('docs/readme.md')")
    assert page.inner_text("#r2-size") == "20 B (20 bytes)"
    assert json.loads(page.inner_text("#r2-http-metadata")) == {"contentType": "text/plain"}
    assert json.loads(page.inner_text("#r2-custom-metadata")) == {"source": XSS}
    page.click("#r2-view")
    assert page.inner_text("#r2-content pre") == "hello docs/readme.md"
    with page.expect_download() as download:
        page.click("#r2-download")
    assert download.value.suggested_filename == "readme.md"
    assert Path(download.value.path()).read_bytes() == b"hello docs/readme.md"
    shot(page, "13-r2-object")
    page.uncheck("#r2-delimit")  # no folders: every key under the prefix
    page.wait_for_selector("#r2-objects tr[data-key='docs/guide/intro.md']")
    assert rows(page, "r2-objects", "prefix") == []
    page.check("#r2-delimit")

    upload = tmp_path / "notes.txt"
    upload.write_text("uploaded from the browser")
    page.click("#r2-upload")
    page.set_input_files("dialog input[type=file]", str(upload))
    assert page.input_value("dialog input[name=key]") == "docs/notes.txt"  # the folder + the file's name
    page.fill("dialog textarea[name=custom]", '{"n": 1}')
    page.click("dialog button[type=submit]")
    assert "JSON object of strings" in page.inner_text("dialog .err") and actions == []
    page.fill("dialog textarea[name=custom]", '{"by": "test"}')
    page.click("dialog button[type=submit]")
    page.wait_for_selector("#r2-key:text-is('docs/notes.txt')")
    page.wait_for_selector("#r2-objects tr[data-key='docs/notes.txt']")
    assert raw(server, "GET", f"{R2}/{quoted('docs/notes.txt')}") == b"uploaded from the browser"
    head = json.loads(raw(server, "GET", f"{R2}/{quoted('docs/notes.txt')}", **{"cf-metadata-only": "true"}))
    assert head["result"]["http_metadata"] == {"contentType": "text/plain"}
    assert head["result"]["custom_metadata"] == {"by": "test"}

    page.click("#r2-delete")
    page.click("dialog button.danger-confirm")
    page.wait_for_selector("#r2-objects tr[data-key='docs/notes.txt']", state="detached")
    assert [o["key"] for o in server.api("GET", R2 + "?prefix=docs/n")] == []
    assert [a["method"] for a in actions] == ["PUT", "DELETE"]


def test_d1_tables_rows_pages_and_the_sql_console(page: Any, server: Server) -> None:
    open_page(page, server, "/d1")
    page.click("#d1-databases a:text-is('app-db')")
    page.wait_for_selector("#d1-tables tr[data-table='users']")
    assert sorted(rows(page, "d1-tables", "table")) == sorted(["users", XSS])
    page.click("#d1-tables a:text-is('users')")
    page.wait_for_selector("#d1-table")
    assert page.inner_text(".page-info") == "Rows 1–50 of 121 · page 1 of 3"
    assert page.eval_on_selector_all("#d1-table thead th", "hs => hs.map(h => h.textContent)") == [
        "id",
        "name",
        "avatar",
    ]
    assert page.locator("#d1-table tbody tr").nth(0).locator("td").nth(2).inner_text() == "NULL"
    shot(page, "14-d1-table")
    page.click("button[data-page='next']")
    page.wait_for_selector(".page-info:text-is('Rows 51–100 of 121 · page 2 of 3')")
    assert page.locator("#d1-table tbody tr").nth(0).locator("td").nth(1).inner_text() == "user 51"
    page.click("button[data-page='next']")
    page.wait_for_selector(".page-info:text-is('Rows 101–121 of 121 · page 3 of 3')")
    last = page.locator("#d1-table tbody tr").nth(20).locator("td")
    assert last.nth(1).inner_text() == "from the Worker"  # inserted by the Worker's D1 binding
    assert re.fullmatch(
        r"BLOB 3 bytes\s+00ff10", page.locator("#d1-table tbody tr").nth(19).locator("td").nth(2).inner_text()
    )

    page.fill("#sql", "INSERT INTO users (name) VALUES ('console'); SELECT id, name FROM users WHERE name = 'console'")
    page.click("#sql-run")
    page.wait_for_selector(".sql-statement[data-statement='2'] table")
    assert "1 row changed" in page.inner_text(".sql-statement[data-statement='1']")
    assert page.inner_text(".sql-statement[data-statement='2'] tbody") == "122\tconsole"
    page.wait_for_selector(".page-info:has-text('of 122')")  # the table view refreshed after the write
    shot(page, "15-d1-console")
    page.fill("#sql", "SELECT * FROM no_such_table")
    page.press("#sql", "Control+Enter")
    page.wait_for_selector("#sql-error")
    assert page.inner_text("#sql-error") == "Error: D1_ERROR: no such table: no_such_table: SQLITE_ERROR"
    shot(page, "16-d1-sql-error")
    page.fill("#sql", "INSERT INTO users (name) VALUES ('rolled back'); SELECT * FROM no_such_table")
    page.click("#sql-run")
    page.wait_for_selector("#sql-error")
    count = server.api("POST", D1, {"sql": "SELECT count(*) FROM users WHERE name = 'rolled back'"})
    assert count[0]["results"]["rows"] == [[0]]  # the statements ran as one transaction

    open_page(page, server, "/d1/db-e2e")
    page.fill("#sql", "CREATE TABLE made_in_console (x INTEGER)")
    page.click("#sql-run")
    page.wait_for_selector("#d1-tables tr[data-table='made_in_console']")  # the table list follows DDL


def test_user_data_with_markup_is_shown_as_text(page: Any, server: Server) -> None:
    open_page(page, server, "/kv/kv-e2e")
    page.fill("#kv-prefix", "<img")
    page.press("#kv-prefix", "Enter")
    page.wait_for_function("() => document.querySelectorAll('#kv-keys tbody tr[data-key]').length === 1")
    assert page.inner_text("#kv-keys tbody td button") == XSS
    page.click("#kv-keys tbody td button")
    page.wait_for_selector("#kv-value[data-kind='text']")
    assert page.inner_text("#kv-key") == XSS and page.inner_text("#kv-value pre") == XSS
    assert page.locator("main img, main script").count() == 0
    shot(page, "17-kv-xss")

    open_page(page, server, "/r2/files")
    page.fill("#r2-prefix", "<img")
    page.uncheck("#r2-delimit")
    page.wait_for_function("() => document.querySelectorAll('#r2-objects tbody tr[data-key]').length === 1")
    assert page.inner_text("#r2-objects tbody td button") == XSS
    page.click("#r2-objects tbody td button")
    page.wait_for_selector("#r2-custom-metadata")
    assert page.inner_text("#r2-key") == XSS and json.loads(page.inner_text("#r2-custom-metadata")) == {"source": XSS}
    page.click("#r2-view")
    assert page.inner_text("#r2-content pre") == "hello " + XSS
    assert page.locator("main img, main script").count() == 0

    open_page(page, server, "/d1/db-e2e")
    page.click(f"#d1-tables a:text-is('{XSS}')")
    page.wait_for_selector("#d1-table")
    assert page.inner_text("h1 .mono") == XSS and page.inner_text("#d1-table tbody td") == XSS
    page.fill("#sql", "SELECT name FROM users WHERE avatar IS NOT NULL")
    page.click("#sql-run")
    page.wait_for_selector(".sql-statement table")
    assert page.inner_text(".sql-statement tbody td") == XSS
    assert page.locator("main img, main script").count() == 0
    assert page.evaluate("window.__xss") is None
    shot(page, "18-d1-xss")
