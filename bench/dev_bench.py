"""Process-level benchmarks: cold start, CLI wall time, hot reload.

cold_start   `pyflows dev --port 0` in a fresh temp project (new state dir each run): process start →
             the `Ready on` line, and → the first HTTP 200 from the Worker (GET /ping, sent at Ready).
cli          `pyflows --version`, and `pyflows workflows instances list bench-three --local --port N`
             with 5 and with 1,000 instances stored; wall time of the subprocess (interpreter start
             included), output to a pipe (no terminal), exit status checked.
reload       rewrite the string GET /ping returns (same length each time) and poll every
             10 ms (a new connection each time, as the old server is killed) from the end of the
             write until a response carries the new string.
"""

from __future__ import annotations

import subprocess
import time

import _wrangler
from _harness import (
    THREE,
    DevServer,
    Result,
    child_env,
    dev_server,
    emit,
    pyflows_command,
    result,
    temp_project,
    wait_until,
)
from _http import Http, count_instances, create_through_fetch
from _project import PING


def cold_start(runs: int, sink: list[Result]) -> None:
    ready: list[float] = []
    first: list[float] = []
    for _ in range(runs):
        with temp_project() as project:
            server = DevServer(project)
            try:
                server.ready()
                ready.append(server.ready_at - server.started)
                client = Http(server.url, timeout=10)
                try:
                    wait_until(
                        lambda c=client: _body(c) is not None,
                        timeout=10,
                        interval=0.002,
                        what="the first 200 from GET /ping",
                    )
                    first.append(time.perf_counter() - server.started)
                finally:
                    client.close()
            finally:
                server.stop()
        time.sleep(0.2)  # let the old session's exit finish before timing the next one
    peer = _wrangler.cold_start(min(runs, 3))
    emit(result("cold_start_ready", ready, peer=peer and peer[0]), sink)
    emit(result("cold_start_first_200", first, peer=peer and peer[1]), sink)


def _time_command(args: list[str], cwd: object, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            args,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            env=child_env(),
        )
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        times.append(elapsed)
    return times


def _wait_complete(client: Http, total: int, timeout: float) -> None:
    wait_until(
        lambda: count_instances(client, THREE, "complete") >= total,
        timeout=timeout,
        interval=0.05,
        what=f"{total} complete instances",
    )


def cli(runs: int, sink: list[Result]) -> None:
    cmd = pyflows_command()
    peer = _wrangler.cli(min(runs, 5))
    emit(result("cli_version", _time_command([*cmd, "--version"], None, runs), peer=peer and peer[0]), sink)
    with dev_server() as (server, client):
        list_cmd = [*cmd, "workflows", "instances", "list", THREE, "--local", "--port", str(server.port)]
        create_through_fetch(server.url, "/create", 5, clients=1)
        _wait_complete(client, 5, 30)
        emit(result("cli_list_5", _time_command(list_cmd, server.project, runs), peer=peer and peer[1]), sink)
        create_through_fetch(server.url, "/create", 995)
        _wait_complete(client, 1000, 120)
        emit(result("cli_list_1000", _time_command(list_cmd, server.project, runs)), sink)


def hot_reload(runs: int, sink: list[Result]) -> None:
    times: list[float] = []
    with dev_server() as (server, client):
        entry = server.project / "src" / "entry.py"
        source = entry.read_text()
        # The supervisor starts watching only after Ready and its preload; wait for that to settle.
        server.memory()
        time.sleep(0.5)
        for run in range(1, runs + 1):
            # Same-length edits, often within one mtime second: the case where a cached .pyc used to be
            # served stale (fixed in runtime/worker.py; this keeps exercising it).
            new = PING[:-1] + str((run + 1) % 10)  # never the previous content (PING ends in "1")
            mark = server.line_count()
            text = source.replace(PING, new)
            with open(entry, "w") as f:  # one write, as an editor's save
                f.write(text)
            written = time.perf_counter()
            poller = Http(server.url, timeout=5, keep_alive=False)
            try:
                wait_until(
                    lambda p=poller, n=new: _body(p) == n,
                    timeout=10,
                    interval=0.01,
                    what=f"GET /ping to return {new!r} after edit {run}",
                )
            except TimeoutError as exc:
                raise TimeoutError(
                    f"{exc}; GET /ping returns {_body(poller)!r}; pyflows dev printed:\n{server.output()}"
                ) from None
            finally:
                poller.close()
            times.append(time.perf_counter() - written)
            server.wait_for_line("Local server updated and ready", after=mark, timeout=10)
            time.sleep(0.4)  # the watcher's debounce window and the old server's exit
    emit(result("hot_reload", times, peer=_wrangler.hot_reload(min(runs, 3))), sink)


def _body(client: Http) -> str | None:
    try:
        status, body = client.request("GET", "/ping")
    except OSError:
        return None
    return body.decode() if status == 200 else None
