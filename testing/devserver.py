"""A real `pyflows dev --port 0` process: start it, read its output, call it, stop it.

The one harness behind pyflows' end-to-end tests (tests/e2e/), the templates' tests
(templates/_shared/tests/conftest.py, copied into every `pyflows init` project) and the benchmarks
(bench/_harness.py). Each adds its own helpers by subclassing.

    server = DevServer(project, "--no-reload").ready()     # started at construction
    server.get("/")                                          # the Worker's answer (JSON parsed)
    server.run_cli("instances", "list", "my-workflow")       # `pyflows workflows … --local --port N`
    server.stop()                                            # SIGTERM, then SIGKILL after 10 s

stdout and stderr are read by threads as they come (a full pipe would block the server); every
stdout line keeps the `time.perf_counter()` at which it arrived, so start-up and reload times can be
measured from them. Every wait has a deadline and raises TimeoutError with the server's output.
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
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

__all__ = ["ENV", "DevServer"]

ENV = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
READY = re.compile(r"Ready on (http://\S+)")
D = TypeVar("D", bound="DevServer")


class DevServer:
    """`pyflows dev --port 0 <args>` in `project`, started at construction.

    `command` replaces `[sys.executable, "-m", "pyflows"]`; `env` replaces `ENV`; `stderr_to_stdout`
    merges the two streams (then `err` stays empty). `started` / `ready_at` are perf_counter() times.
    """

    def __init__(
        self,
        project: Path,
        *args: str,
        command: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        stderr_to_stdout: bool = False,
    ) -> None:
        self.project = Path(project)
        self.out: list[str] = []
        self.err: list[str] = []
        self.out_at: list[float] = []  # perf_counter() at which each stdout line arrived
        self.url = ""
        self.ready_at = 0.0
        self._cond = threading.Condition()
        self._open_streams = 0
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [*(command or [sys.executable, "-m", "pyflows"]), "dev", "--port", "0", *args],
            cwd=self.project,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if stderr_to_stdout else subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
            env=dict(ENV if env is None else env),
        )
        streams: list[tuple[IO[str] | None, list[str], list[float] | None]] = [
            (self.proc.stdout, self.out, self.out_at)
        ]
        if not stderr_to_stdout:
            streams.append((self.proc.stderr, self.err, None))
        self._readers = [threading.Thread(target=self._read, args=s, daemon=True) for s in streams]
        self._open_streams = len(self._readers)
        for reader in self._readers:
            reader.start()

    def _read(self, stream: IO[str] | None, into: list[str], times: list[float] | None) -> None:
        assert stream is not None
        for line in stream:
            now = time.perf_counter()
            with self._cond:
                into.append(line)
                if times is not None:
                    times.append(now)
                self._cond.notify_all()
        with self._cond:
            self._open_streams -= 1
            self._cond.notify_all()

    # Output -----------------------------------------------------------------------------------------
    def output(self) -> str:
        """Everything printed so far (for failure messages)."""
        with self._cond:
            return "".join(self.out) + "\n--- stderr ---\n" + "".join(self.err)

    def line_count(self) -> int:
        with self._cond:
            return len(self.out)

    def _wait(self, found: Any, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = found()
                if result is not None:
                    return result
                left = deadline - time.monotonic()
                if left <= 0 or self._open_streams == 0:
                    break
                self._cond.wait(min(left, 0.25))
        why = "pyflows dev exited" if self._open_streams == 0 else f"waited {timeout:g} s"
        raise TimeoutError(f"{what} ({why}):\n{self.output()}")

    def wait_for_output(
        self, pattern: str, *, stream: str = "out", timeout: float = 15.0, after: int = 0
    ) -> re.Match[str]:
        """Wait until `pattern` (a regex) appears on stdout (or stderr), in lines from `after` on."""
        lines = self.out if stream == "out" else self.err
        match: re.Match[str] = self._wait(
            lambda: re.search(pattern, "".join(lines[after:])), timeout, f"{pattern!r} did not appear on std{stream}"
        )
        return match

    def wait_for_line(self, needle: str, *, after: int = 0, timeout: float = 15.0) -> float:
        """perf_counter() time of the first stdout line from index `after` on that contains `needle`."""

        def found() -> float | None:
            return next((self.out_at[i] for i in range(after, len(self.out)) if needle in self.out[i]), None)

        when: float = self._wait(found, timeout, f"no {needle!r} line")
        return when

    def ready(self: D, timeout: float = 30.0) -> D:
        """Wait for `Ready on <url>`; sets `url` and `ready_at`. Fails with the output if it exits first."""

        def found() -> int | None:
            return next((i for i, line in enumerate(self.out) if READY.search(line)), None)

        index: int = self._wait(found, timeout, "pyflows dev did not print Ready")
        match = READY.search(self.out[index])
        assert match is not None
        self.url, self.ready_at = match.group(1), self.out_at[index]
        return self

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def pid(self) -> int:
        return self.proc.pid

    # Calling it -------------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        """Call the Worker (or the API): (status, body) with a JSON body parsed, else the text."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as reply:
                status, raw, ctype = reply.status, reply.read(), reply.headers.get("content-type", "")
        except urllib.error.HTTPError as exc:
            status, raw, ctype = exc.code, exc.read(), exc.headers.get("content-type", "")
        text = raw.decode()
        if ctype.startswith("application/json") or text[:1] in ("{", "["):
            try:
                return status, json.loads(text)
            except ValueError:
                pass
        return status, text

    def get(self, path: str) -> Any:
        """GET, expecting 200: the body (JSON parsed, else the text)."""
        status, body = self.request("GET", path)
        assert status == 200, (path, status, body, self.output()[-3000:])
        return body

    def post(self, path: str, body: object = None) -> Any:
        """POST `body` as JSON, expecting 200: the reply's body."""
        status, result = self.request("POST", path, body)
        assert status == 200, (path, status, result, self.output()[-3000:])
        return result

    def run_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`pyflows workflows <args> --local --port <port>` against this server."""
        return subprocess.run(
            [sys.executable, "-m", "pyflows", "workflows", *args, "--local", "--port", str(self.port)],
            cwd=self.project,
            env=ENV,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=60,
        )

    # Stopping ---------------------------------------------------------------------------------------
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
        """SIGKILL the dev server (the supervisor); its server processes die with it (PDEATHSIG).

        Returns once they are gone too (a deadline, not a fixed sleep), so a new server can take
        the state directory's lock at once.
        """
        servers = self.children()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        for pid in servers:
            while _alive(pid):
                assert time.monotonic() < deadline, f"server process {pid} outlived its supervisor"
                time.sleep(0.01)

    def children(self) -> list[int]:
        """The pids of this dev server's direct children (its server processes), from /proc."""
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [int(p) for p in path.read_text().split()]
        except OSError:
            return []

    def __enter__(self: D) -> D:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead, not yet reaped
    except OSError:
        return False
