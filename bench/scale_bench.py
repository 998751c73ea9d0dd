"""Scale: 100,000 instances sleeping for an hour in one project, against a real `pyflows dev`.

create        100,000 `bench-sleeper` instances through the Worker's fetch handler, 100 per request
              (`create_batch`), from 4 keep-alive clients: instances/s from the first request to the
              last response.
rss           RSS of the whole dev process tree once all 100,000 report `waiting`, and again after
              the restart below (settled, as the memory group measures it).
cli           `workflows instances list --local` and `instances describe NAME latest --local` against
              that session: wall time of the whole command, interpreter start included.
restart       `kill -9` of the whole dev process tree, then `pyflows dev` again on the same state:
              from the start of the command to its Ready line.
Targets (issue 16): RSS ≤ 100 MiB, restart → Ready ≤ 0.5 s, each CLI command ≤ 0.25 s,
creation ≥ 1,000 instances/s.
"""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

from _harness import SLEEPER, DevServer, Result, emit, pyflows_command, result, temp_project, tree_pids, wait_until
from _http import Http, count_instances
from dev_bench import _time_command

INSTANCES = 100_000
PER_REQUEST = 100


def _create(url: str, requests: int, clients: int = 4) -> None:
    left = [requests]

    def worker() -> None:
        client = Http(url, timeout=60)
        try:
            while True:
                if left[0] <= 0:
                    return
                left[0] -= 1
                body = client.json("POST", "/batch")
                assert body["created"] == PER_REQUEST, body
        finally:
            client.close()

    with ThreadPoolExecutor(clients) as pool:
        for fut in [pool.submit(worker) for _ in range(clients)]:
            fut.result()


def scale(runs: int, sink: list[Result]) -> None:
    rate: list[float] = []
    rss: list[float] = []
    rss_restart: list[float] = []
    ready: list[float] = []
    list_s: list[float] = []
    describe_s: list[float] = []
    cmd = pyflows_command()
    for _ in range(max(1, runs)):
        with temp_project() as project:
            server = DevServer(project).ready()
            try:
                started = time.perf_counter()
                _create(server.url, INSTANCES // PER_REQUEST)
                rate.append(INSTANCES / (time.perf_counter() - started))
                client = Http(server.url)
                wait_until(
                    lambda c=client: count_instances(c, SLEEPER, "waiting") >= INSTANCES,
                    timeout=600,
                    interval=0.5,
                    what=f"{INSTANCES:,} sleeping instances",
                )
                client.close()
                rss.append(server.memory()[0])
                port = str(server.port)
                list_s += _time_command([*cmd, "workflows", "instances", "list", SLEEPER, "--local", "--port", port],
                                        project, 5)  # fmt: skip
                describe_s += _time_command(
                    [*cmd, "workflows", "instances", "describe", SLEEPER, "latest", "--local", "--port", port],
                    project,
                    5,
                )
                for pid in tree_pids(server.pid):
                    os.kill(pid, signal.SIGKILL)
                server.proc.wait(10)
            finally:
                server.stop()
            again = DevServer(project).ready(timeout=60)
            try:
                ready.append(again.ready_at - again.started)
                client = Http(again.url)
                assert count_instances(client, SLEEPER, "waiting") == INSTANCES
                client.close()
                rss_restart.append(again.memory()[0])
            finally:
                again.stop()
    emit(result("scale_create_per_s", rate, instances=INSTANCES), sink)
    emit(result("scale_rss_100k_sleepers", rss), sink)
    emit(result("scale_rss_after_restart", rss_restart), sink)
    emit(result("scale_restart_ready", ready), sink)
    emit(result("scale_cli_list", list_s), sink)
    emit(result("scale_cli_describe_latest", describe_s), sink)
