"""The peer, measured in the same run: `wrangler dev` serving the bench project written in JavaScript.

Used when PYFLOWS_TEST_WRANGLER names a wrangler command (as the interop tests use it; .ci/run
installs wrangler 4.164 and Node 22 from the npm registry). The Worker is the JavaScript twin of
_project.py: the same three-step workflow, the same one-hour sleeper, the same fetch routes, so
every figure compares the same work. Without it, the recorded figures in _harness.SPECS are used.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _project import PING

WORKER = """import { WorkflowEntrypoint } from "cloudflare:workers";

export class ThreeSteps extends WorkflowEntrypoint {
  async run(event, step) {
    const a = await step.do("first", async () => ({ n: 1 }));
    const b = await step.do("second", async () => ({ n: 2 }));
    const c = await step.do("third", async () => ({ n: 3 }));
    return { sum: a.n + b.n + c.n };
  }
}

export class Sleeper extends WorkflowEntrypoint {
  async run(event, step) {
    await step.sleep("nap", "1 hour");
    return "awake";
  }
}

export default {
  async fetch(request, env) {
    const path = new URL(request.url).pathname;
    if (path === "/ping") return new Response("PING");
    if (path === "/create") return Response.json({ instanceId: (await env.THREE.create()).id });
    if (path === "/sleep") return Response.json({ instanceId: (await env.SLEEPER.create()).id });
    if (path === "/batch") {
      const created = await env.SLEEPER.createBatch(Array.from({ length: 100 }, () => ({})));
      return Response.json({ created: created.length });
    }
    return new Response("Not found", { status: 404 });
  },
};
""".replace("PING", PING)

CONFIG = {
    "name": "pyflows-bench",
    "main": "src/index.js",
    "compatibility_date": "2026-11-01",
    "workflows": [
        {"name": "bench-three", "binding": "THREE", "class_name": "ThreeSteps"},
        {"name": "bench-sleeper", "binding": "SLEEPER", "class_name": "Sleeper"},
    ],
}


def command() -> list[str] | None:
    """The wrangler command from PYFLOWS_TEST_WRANGLER, or None when the peer is not installed."""
    value = os.environ.get("PYFLOWS_TEST_WRANGLER", "").split()
    return value or None


def env(root: Path) -> dict[str, str]:
    return {
        **os.environ,
        "WRANGLER_SEND_METRICS": "false",
        "CI": "1",
        "NO_COLOR": "1",
        "XDG_CONFIG_HOME": str(root / "xdg"),
        "WRANGLER_LOG_PATH": str(root / "logs"),
    }


def write_project(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "index.js").write_text(WORKER)
    (root / "wrangler.jsonc").write_text(json.dumps(CONFIG))
    return root / "src" / "index.js"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WranglerDev:
    """`wrangler dev` on a free port in `root`; `ready_s` is command start → its "Ready on" line."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_s = 0.0

    def start(self, timeout: float = 90.0) -> WranglerDev:
        cmd = command()
        assert cmd is not None
        log = self.root / "dev.log"
        started = time.perf_counter()
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                [*cmd, "dev", "--ip", "127.0.0.1", "--port", str(self.port)],
                cwd=self.root, stdout=out, stderr=subprocess.STDOUT, env=env(self.root), start_new_session=True,
            )  # fmt: skip
        deadline = started + timeout
        while "Ready on" not in log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.perf_counter() > deadline:
                raise RuntimeError(f"wrangler dev did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.01)
        self.ready_s = time.perf_counter() - started
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        with _suppress():
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with _suppress():
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(15)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


@contextmanager
def _suppress() -> Iterator[None]:
    try:
        yield
    except (ProcessLookupError, PermissionError):
        pass


@contextmanager
def wrangler_dev() -> Iterator[WranglerDev]:
    """A started `wrangler dev` on a fresh copy of the JavaScript bench project; cleaned up after."""
    tmp = Path(tempfile.mkdtemp(prefix="pyflows-bench-wrangler-"))
    server = WranglerDev(tmp / "project")
    try:
        write_project(server.root)
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


# -- the peer's side of each group (each returns its values, or None when wrangler is not installed) --


def cold_start(runs: int) -> tuple[list[float], list[float]] | None:
    """`wrangler dev` start → "Ready on", and → the first 200 from GET /ping."""
    if command() is None:
        return None
    from _http import Http

    ready, first = [], []
    for _ in range(runs):
        with wrangler_dev() as server:
            ready.append(server.ready_s)
            started = time.perf_counter() - server.ready_s
            client = Http(server.url, timeout=10)
            try:
                _until(lambda c=client: c.request("GET", "/ping")[0] == 200, 30)
                first.append(time.perf_counter() - started)
            finally:
                client.close()
    return ready, first


def cli(runs: int) -> tuple[list[float], list[float]] | None:
    """`wrangler --version`, and `wrangler workflows instances list --local` with 5 instances stored."""
    cmd = command()
    if cmd is None:
        return None
    from _http import Http, create_through_fetch

    version = _time(lambda: [*cmd, "--version"], None, runs)
    with wrangler_dev() as server:
        create_through_fetch(server.url, "/create", 5, clients=1)
        client = Http(server.url)
        try:
            _until(lambda: _count(client, "bench-three", "complete") >= 5, 60)
        finally:
            client.close()
        listed = _time(
            lambda: [*cmd, "workflows", "instances", "list", "bench-three", "--local", "--port", str(server.port)],
            server.root,
            runs,
        )
    return version, listed


def throughput(count: int) -> tuple[float, float] | None:
    """`count` three-step instances created through fetch by 16 clients until all complete: inst/s, and RSS (MiB)."""
    if command() is None:
        return None
    from _harness import settled_memory
    from _http import Http, create_through_fetch

    with wrangler_dev() as server:
        client = Http(server.url)
        try:
            started = time.perf_counter()
            create_through_fetch(server.url, "/create", count, clients=16, timeout=600)
            _until(lambda: _count(client, "bench-three", "complete") >= count, 600, interval=0.05)
            rate = count / (time.perf_counter() - started)
        finally:
            client.close()
        return rate, settled_memory(server.pid)[0]


def latency(runs: int) -> list[float] | None:
    """create → complete of one three-step instance (ms), `runs` times."""
    if command() is None:
        return None
    from _http import API, Http

    times = []
    with wrangler_dev() as server:
        client = Http(server.url)
        try:
            for _ in range(runs):
                started = time.perf_counter()
                instance = client.json("POST", "/create")["instanceId"]
                path = f"{API}/workflows/bench-three/instances/{instance}"
                _until(lambda p=path: client.json("GET", p)["result"]["status"] == "complete", 60, interval=0.001)
                times.append((time.perf_counter() - started) * 1000)
        finally:
            client.close()
    return times


def memory(sleepers: int) -> tuple[float, float, float] | None:
    """RSS idle (MiB), RSS with `sleepers` one-hour sleepers (MiB), and the time to create them (s)."""
    if command() is None:
        return None
    from _harness import settled_memory
    from _http import Http, create_through_fetch

    with wrangler_dev() as server:
        client = Http(server.url)
        try:
            assert client.request("GET", "/ping")[0] == 200
            idle = settled_memory(server.pid)[0]
            started = time.perf_counter()
            create_through_fetch(server.url, "/sleep", sleepers, clients=16, timeout=600)
            created = time.perf_counter() - started
            _until(lambda: _count(client, "bench-sleeper", None) >= sleepers, 600, interval=0.2)
        finally:
            client.close()
        return idle, settled_memory(server.pid)[0], created


def hot_reload(runs: int) -> list[float] | None:
    """Save of the Worker's source → a GET /ping that sees the edit (s)."""
    if command() is None:
        return None
    from _http import Http

    times = []
    with wrangler_dev() as server:
        entry = server.root / "src" / "index.js"
        source = entry.read_text()
        for run in range(1, runs + 1):
            new = PING[:-1] + str((run + 1) % 10)
            entry.write_text(source.replace(PING, new))
            written = time.perf_counter()
            poller = Http(server.url, timeout=10, keep_alive=False)
            try:
                _until(lambda p=poller, n=new: _text(p) == n, 60, interval=0.01)
            finally:
                poller.close()
            times.append(time.perf_counter() - written)
    return times


def _text(client: object) -> str | None:
    try:
        status, body = client.request("GET", "/ping")  # type: ignore[attr-defined]
    except OSError:
        return None
    return body.decode() if status == 200 else None


def _count(client: object, workflow: str, status: str | None) -> int:
    from _http import count_instances

    try:
        return count_instances(client, workflow, status)  # type: ignore[arg-type]
    except (OSError, KeyError, ValueError):
        return 0


def _until(check: object, timeout: float, interval: float = 0.005) -> None:
    deadline = time.perf_counter() + timeout
    while True:
        try:
            if check():  # type: ignore[operator]
                return
        except OSError:
            pass
        if time.perf_counter() > deadline:
            raise TimeoutError(f"wrangler dev: condition not met within {timeout:g} s")
        time.sleep(interval)


def _time(args: object, cwd: object, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            args(), cwd=cwd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,  # type: ignore[operator]
            env=env(Path(tempfile.gettempdir())),
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"wrangler exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        times.append(time.perf_counter() - started)
    return times
