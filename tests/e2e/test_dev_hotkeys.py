"""`pyflows dev` hotkeys on a real terminal (a pty): b / e open URLs, c clears, x exits (issue 15)."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from explorer_project import write_project
from pyflows.testing.devserver import ENV

pytestmark = pytest.mark.slow


def read_until(fd: int, pattern: str, seen: list[str], timeout: float = 30.0) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, "".join(seen))
        if found:
            return found
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                seen.append(os.read(fd, 4096).decode("utf-8", "replace"))
            except OSError:
                break
    raise AssertionError(f"{pattern!r} not seen:\n{''.join(seen)}")


def test_hotkeys(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p")
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" >> {opened}\n')
    browser.chmod(0o755)
    env = {k: v for k, v in ENV.items() if k != "CI"} | {"BROWSER": str(browser), "TERM": "xterm"}
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyflows", "dev", "--port", "0"], cwd=project, stdin=child, stdout=child,
        stderr=child, env=env, close_fds=True,
    )  # fmt: skip
    os.close(child)
    seen: list[str] = []
    try:
        url = read_until(main, r"Ready on (http://[\d.:]+)", seen).group(1)
        read_until(main, r"\[b\] open a browser, \[e\] open local explorer, \[c\] clear console, \[x\] to exit", seen)
        assert f"Local Explorer on {url}/cdn-cgi/local/explorer/" in "".join(seen)
        os.write(main, b"e")
        os.write(main, b"b")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(opened.read_text().split() if opened.exists() else []) < 2:
            time.sleep(0.05)
        assert opened.read_text().split() == [f"{url}/cdn-cgi/local/explorer/", url]
        os.write(main, b"c")
        read_until(main, re.escape("\x1b[2J"), seen)
        os.write(main, b"x")
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main)
