"""The Local Explorer in headless Chromium (issue 15): first render with 100,000 stored instances,
live update latency, idle CPU of an open page, and the size of the static bundle.

Needs Debian's `chromium` and the `playwright` Python package (the test extra); the group is
skipped with a note when either is missing. 100,000 instances are written straight into the state
database of a stopped dev server (what 100,000 creates would leave: rows of complete instances),
then the server is started again and the instances page is opened:

* explorer_first_render_100k: navigation start → the page's `pyflows-ready` mark (the list, the
  status counts and the pagination on screen), read from the browser's Performance API;
* explorer_live_update: an instance paused through the API (fetch from the page) → its badge on
  the open instance page says `paused`, measured in the page (MutationObserver);
* explorer_idle_cpu: CPU time of the dev server's processes while the instances page stays open
  for 10 s with nothing changing, as a percentage of one core;
* explorer_bundle: bytes of runtime/server/explorer_ui/ (what the UI adds to the package).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import time
from pathlib import Path

from _harness import DevServer, Result, emit, result, temp_project, tree_pids, wait_until
from _http import Http

ROOT = Path(__file__).resolve().parents[1]
UI_DIR = ROOT / "runtime" / "server" / "explorer_ui"
THREE = "bench-three"
SLEEPER = "bench-sleeper"
N = 100_000


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / os.sysconf("SC_CLK_TCK")


def _fill(project: Path) -> None:
    db = project / ".pyflows" / "state" / "workflows.sqlite"
    conn = sqlite3.connect(db)
    now = int(time.time() * 1000)
    rows = (
        (THREE, f"bulk-{i:06d}", "complete", f'{{"n": {i}}}', now - N + i, now - N + i, now - N + i, now - N + i + 1)
        for i in range(N)
    )
    with conn:
        conn.executemany(
            "INSERT INTO instances (workflow, id, status, params, created_at_epoch_ms, queued_at_epoch_ms, "
            "started_at_epoch_ms, ended_at_epoch_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    conn.close()


def explorer(runs: int, sink: list[Result]) -> None:
    bundle = sum(p.stat().st_size for p in UI_DIR.iterdir() if p.is_file())
    emit(result("explorer_bundle", [bundle / 1024]), sink)
    chromium = os.environ.get("PYFLOWS_TEST_CHROMIUM") or shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if chromium is None:
        print("note: explorer group needs chromium and playwright (apt-get install chromium; pip install -e '.[test]')",
              file=sys.stderr)  # fmt: skip
        return
    with temp_project() as project:
        first = DevServer(project).ready()
        first.stop()
        _fill(project)
        server = DevServer(project).ready()
        try:
            client = Http(server.url)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page()
                ui = server.url + "/cdn-cgi/local/explorer/workflows/" + THREE
                renders = []
                for _ in range(runs + 1):  # the first load warms the server's caches
                    page.goto(ui)
                    page.wait_for_selector("main[data-ready='1'] #page-info")
                    renders.append(page.evaluate("performance.getEntriesByName('pyflows-ready')[0].startTime"))
                info = page.inner_text("#page-info")
                assert f"{N:,}".replace(",", "") in info.replace(",", ""), info
                emit(result("explorer_first_render_100k", renders[1:], instances=N), sink)

                time.sleep(1.0)
                pids = tree_pids(server.pid)
                before, t0 = _cpu_seconds(pids), time.perf_counter()
                time.sleep(10.0)
                used, elapsed = _cpu_seconds(pids) - before, time.perf_counter() - t0
                emit(result("explorer_idle_cpu", [100 * used / elapsed], seconds=round(elapsed, 1)), sink)

                latencies = []
                for i in range(runs):
                    iid = f"live-{i}"
                    base = f"/cdn-cgi/local/explorer/api/workflows/{SLEEPER}/instances"
                    client.json("POST", base, {"id": iid})
                    wait_until(
                        lambda u=f"{base}/{iid}": client.json("GET", u)["result"]["status"] == "waiting",
                        timeout=10, interval=0.02, what="a waiting instance",
                    )  # fmt: skip
                    page.goto(server.url + f"/cdn-cgi/local/explorer/workflows/{SLEEPER}/{iid}")
                    page.wait_for_selector("main[data-ready='1'] h1 [data-status='waiting']")
                    latencies.append(page.evaluate(_PAUSE_AND_WATCH, [SLEEPER, iid]))
                emit(result("explorer_live_update", latencies), sink)
                browser.close()
            client.close()
        finally:
            server.stop()


_PAUSE_AND_WATCH = """async ([wf, id]) => {
  const seen = new Promise((resolve) => {
    const check = () => document.querySelector("h1 [data-status='paused']");
    new MutationObserver((_, obs) => { if (check()) { obs.disconnect(); resolve(performance.now()); } })
      .observe(document.getElementById("main"), { subtree: true, childList: true });
  });
  const t0 = performance.now();
  await fetch(`api/workflows/${wf}/instances/${id}/status`, { method: "PATCH",
    headers: { "Content-Type": "application/json", "X-Pyflows-Explorer": "1" },
    body: JSON.stringify({ status: "pause" }) });
  return (await seen) - t0;
}"""
