"""A real `pyflows dev --port 0` process for end-to-end tests: start, read its output, stop.

The one harness for pyflows' own e2e tests (tests/e2e/); the templates' tests and bench/ still
carry their own copies (to be replaced by this one).

stdout and stderr are collected by threads as they come (a full pipe would block the server);
`ready()` waits for the announced URL. Tests add their own helpers by subclassing.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, TypeVar

ENV = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
D = TypeVar("D", bound="DevServer")


class DevServer:
    def __init__(self, project: Path, *args: str) -> None:
        self.project = project
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pyflows", "dev", "--port", "0", *args],
            cwd=project,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env=ENV,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(s, b), daemon=True)
            for s, b in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        ]
        for reader in self._readers:
            reader.start()
        self.url = ""

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line)

    def output(self) -> str:
        return "".join(self.out) + "\n--- stderr ---\n" + "".join(self.err)

    def wait_for_output(
        self, pattern: str, *, stream: str = "out", timeout: float = 15.0, after: int = 0
    ) -> re.Match[str]:
        """Wait until `pattern` appears on stdout (or stderr), in lines from `after` on."""
        lines = self.out if stream == "out" else self.err
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, "".join(lines[after:]))
            if found:
                return found
            if self.proc.poll() is not None and not any(r.is_alive() for r in self._readers):
                break
            time.sleep(0.01)
        raise AssertionError(f"{pattern!r} did not appear on std{stream}:\n{self.output()}")

    def ready(self: D, timeout: float = 30.0) -> D:
        self.url = self.wait_for_output(r"Ready on (http://\S+)", timeout=timeout).group(1)
        return self

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def get(self, path: str) -> Any:
        """GET from the Worker: the JSON body parsed, or the text."""
        with urllib.request.urlopen(self.url + path, timeout=10) as reply:
            body = reply.read().decode()
        return json.loads(body) if body[:1] in "{[" else body

    def stop(self) -> None:
        """SIGTERM (a clean shutdown), then SIGKILL if it does not exit in 10 s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for reader in self._readers:
            reader.join(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()

    def kill(self) -> None:
        """SIGKILL the dev server: the supervisor, and with it (PDEATHSIG) its server process."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        time.sleep(0.1)  # let the kernel deliver the server process its parent-death signal
