"""What the Local Explorer's browser tests share (issue 15): headless Chromium, a dev server with an
API helper, opening a page and saving its screenshot.

Debian's chromium, driven by Playwright's Python package through `executable_path` (no browser
download). Screenshots go to test-artifacts/explorer/ (git-ignored; override with
PYFLOWS_TEST_ARTIFACTS). `playwright()` skips the calling test module when chromium or playwright is
missing; .ci/run installs both. The `browser` and `page` fixtures are in tests/e2e/conftest.py.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pyflows.testing.devserver import DevServer

CHROMIUM = os.environ.get("PYFLOWS_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("PYFLOWS_TEST_ARTIFACTS") or Path(__file__).parents[2] / "test-artifacts") / "explorer"
UI = "/cdn-cgi/local/explorer"
API = UI + "/api"


def playwright() -> ModuleType:
    """playwright.sync_api, or skip the module (call it at import time of a browser test module)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)
    return sync_api


class Server(DevServer):
    def api(self, method: str, path: str, body: Any = None) -> Any:
        """The `result` of a JSON call to the Local Explorer API."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + API + path, data=data, method=method)
        request.add_header("content-type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.loads(reply.read())["result"]

    def wait_status(self, wf: str, iid: str, *wanted: str, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            details = self.api("GET", f"/workflows/{wf}/instances/{iid}")
            if details["status"] in wanted:
                return details  # type: ignore[no-any-return]
            time.sleep(0.02)
        raise AssertionError(f"{iid} stayed {details['status']}, wanted {wanted}")


def open_page(page: Any, server: Server, path: str) -> None:
    page.goto(server.url + UI + path)
    page.wait_for_selector("main[data-ready='1']")
    page.wait_for_selector("#live.on")  # the SSE stream is open


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # a scrolled page draws its sticky header mid-shot
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
