"""Run the project under `pyflows dev` on a free port for the tests, and stop it afterwards.

The process handling is pyflows' own harness (`pyflows.testing.devserver.DevServer`); this file
adds what these tests ask of this project's Worker.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyflows.testing.devserver import DevServer

PROJECT = Path(__file__).resolve().parents[1]


class ProjectServer(DevServer):
    """`pyflows dev` for this project: call its Worker, and the CLI against it."""

    def cli(self, *args: str) -> Any:
        """`pyflows workflows <args> --local --port <port> --json`: parsed JSON, or the text."""
        done = self.run_cli(*args, "--json")
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        out = done.stdout.strip()
        return json.loads(out) if out[:1] in ("{", "[") else out

    def wait_for(self, instance_id: str, statuses: set[str], timeout: float = 30.0) -> dict[str, Any]:
        """Poll `GET /?instanceId=` until the instance reaches one of `statuses`."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.get(f"/?instanceId={instance_id}")
            assert isinstance(status, dict), status
            if status["status"] in statuses:
                return status
            assert time.monotonic() < deadline, (instance_id, status, self.output())
            time.sleep(0.1)


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProjectServer]:
    # A fresh state directory, so the tests neither see nor lock the one `pyflows dev` uses.
    state = tmp_path_factory.mktemp("state")
    server = ProjectServer(PROJECT, "--persist-to", str(state), "--no-reload", stderr_to_stdout=True)
    try:
        yield server.ready(timeout=30)
    finally:
        server.stop()
