"""The real `wrangler dev`, for the tests that share data or an API with it.

    pytestmark = REQUIRES_WRANGLER                       # slow; skipped without PYFLOWS_TEST_WRANGLER
    with wrangler_dev(project, log, "-c", "wrangler.js.jsonc") as port: ...   # Ready, then stopped

PYFLOWS_TEST_WRANGLER names a wrangler command (.ci/run installs Wrangler 4.164 and sets it).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REQUIRES_WRANGLER = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("PYFLOWS_TEST_WRANGLER"),
        reason="PYFLOWS_TEST_WRANGLER is not set (a wrangler command, e.g. 'node …/wrangler/bin/wrangler.js')",
    ),
]


def wrangler_env(root: Path) -> dict[str, str]:
    """No metrics, no colour, config and logs inside the test's directory."""
    return {
        **os.environ, "WRANGLER_SEND_METRICS": "false", "CI": "1", "NO_COLOR": "1",
        "XDG_CONFIG_HOME": str(root / "xdg"), "WRANGLER_LOG_PATH": str(root / "logs"),
    }  # fmt: skip


@contextmanager
def wrangler_dev(root: Path, log_path: Path, *args: str, timeout: float = 90) -> Iterator[int]:
    """`wrangler dev --ip 127.0.0.1 --port <free> <args>` in `root`: yields its port once Ready, then
    stops it (SIGTERM to its process group, SIGKILL after 15 s)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    with log_path.open("w") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [*os.environ["PYFLOWS_TEST_WRANGLER"].split(), "dev", *args, "--ip", "127.0.0.1", "--port", str(port)],
            cwd=root, stdout=log, stderr=subprocess.STDOUT, env=wrangler_env(root), start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while "Ready on" not in log_path.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        yield port
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=15)
