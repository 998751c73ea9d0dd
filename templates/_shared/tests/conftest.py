"""Run the project under `pyflows dev` on a free port for the tests, and stop it afterwards."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
READY = re.compile(r"Ready on (http://\S+?):(\d+)")


class DevServer:
    """A `pyflows dev` process: its URL, and helpers to call the Worker and the CLI."""

    def __init__(self, proc: subprocess.Popen[str], lines: list[str]) -> None:
        self.proc = proc
        self.lines = lines
        self.url = ""
        self.port = 0

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def request(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        """Call the Worker's fetch handler; returns (status, parsed JSON or text)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status, raw, ctype = resp.status, resp.read(), resp.headers.get("content-type", "")
        except urllib.error.HTTPError as exc:
            status, raw, ctype = exc.code, exc.read(), exc.headers.get("content-type", "")
        text = raw.decode()
        return status, json.loads(text) if ctype.startswith("application/json") else text

    def get(self, path: str) -> object:
        status, body = self.request("GET", path)
        assert status == 200, (status, body, self.output)
        return body

    def post(self, path: str, body: object = None) -> object:
        status, result = self.request("POST", path, body)
        assert status == 200, (status, result, self.output)
        return result

    def cli(self, *args: str) -> object:
        """`pyflows workflows <args> --local --port <port> --json`: parsed JSON, or the text."""
        cmd = [sys.executable, "-m", "pyflows", "workflows", *args]
        cmd += ["--local", "--port", str(self.port), "--json"]
        done = subprocess.run(cmd, cwd=PROJECT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (cmd, done.stdout, done.stderr)
        out = done.stdout.strip()
        return json.loads(out) if out[:1] in ("{", "[") else out

    def wait_for(self, instance_id: str, statuses: set[str], timeout: float = 30.0) -> dict:
        """Poll `GET /?instanceId=` until the instance reaches one of `statuses`."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.get(f"/?instanceId={instance_id}")
            assert isinstance(status, dict), status
            if status["status"] in statuses:
                return status
            assert time.monotonic() < deadline, (instance_id, status, self.output)
            time.sleep(0.1)


def _drain(proc: subprocess.Popen[str], lines: list[str]) -> None:
    # Keep reading so the server never blocks on a full pipe; the lines go into failure messages.
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    # A fresh state directory, so the tests neither see nor lock the one `pyflows dev` uses.
    state = tmp_path_factory.mktemp("state")
    env = dict(os.environ, PYTHONUNBUFFERED="1", NO_COLOR="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyflows", "dev", "--port", "0", "--persist-to", str(state), "--no-reload"],
        cwd=PROJECT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=_drain, args=(proc, lines), daemon=True)
    reader.start()
    server = DevServer(proc, lines)
    try:
        deadline = time.monotonic() + 30
        while not (match := READY.search(server.output)):
            assert proc.poll() is None, f"pyflows dev exited with {proc.returncode}:\n{server.output}"
            assert time.monotonic() < deadline, f"pyflows dev was not ready in 30 s:\n{server.output}"
            time.sleep(0.05)
        server.url, server.port = f"{match[1]}:{match[2]}", int(match[2])
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
        assert proc.stdout is not None
        proc.stdout.close()
