"""Fixtures of the Local Explorer's browser tests (the helpers are in explorer_browser.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from explorer_browser import CHROMIUM, playwright


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright().sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, server: Any) -> Iterator[Any]:
    """A fresh page at 1280×900 against the module's `server`; a script error on it fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(10_000)
    yield pg
    context.close()
    assert errors == [], errors
