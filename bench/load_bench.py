"""Load benchmarks against a real `pyflows dev`: throughput, create→complete latency, memory.

throughput   200 three-step instances created through the Worker's fetch handler (POST /create)
             by 16 concurrent keep-alive clients; the clock runs from the first request until the
             management API counts 200 `complete` instances (polled every 5 ms once every create
             returned). A fresh server per run. The tree's RSS right after is `rss_after_200`.
latency      one three-step instance at a time, 20 times: POST /create, then GET
             …/instances/{id} every 1 ms until its status is `complete`.
memory       RSS (and PSS) of the whole process tree (the dev process and every descendant, from
             /proc/<pid>/status VmRSS) once settled: idle (after Ready and one request), and with
             1,000 instances sleeping one hour, created through POST /sleep by 16 clients (the
             creation time is the first request to the last response).
"""

from __future__ import annotations

import time

import _wrangler
from _harness import SLEEPER, THREE, Result, dev_server, emit, result, wait_until
from _http import API, count_instances, create_through_fetch

THROUGHPUT_INSTANCES = 200
SLEEPERS = 1000


def throughput(runs: int, sink: list[Result]) -> None:
    per_s: list[float] = []
    rss: list[float] = []
    pss: list[float] = []
    for _ in range(runs):
        with dev_server() as (server, client):
            assert client.request("GET", "/ping")[0] == 200
            server.memory()  # settled, so the supervisor's post-Ready imports are not in the window
            started = time.perf_counter()
            ids = create_through_fetch(server.url, "/create", THROUGHPUT_INSTANCES, clients=16)
            assert len(set(ids)) == THROUGHPUT_INSTANCES
            wait_until(
                lambda: count_instances(client, THREE, "complete") >= THROUGHPUT_INSTANCES,
                timeout=120,
                interval=0.005,
                what=f"{THROUGHPUT_INSTANCES} complete instances",
            )
            per_s.append(THROUGHPUT_INSTANCES / (time.perf_counter() - started))
            mem = server.memory()
            rss.append(mem[0])
            pss.append(mem[1])
        time.sleep(0.2)
    peer = _wrangler.throughput(THROUGHPUT_INSTANCES)
    emit(result("fetch_instances_per_s", per_s, peer=peer and [peer[0]]), sink)
    emit(result("fetch_steps_per_s", [3 * x for x in per_s], peer=peer and [3 * peer[0]]), sink)
    emit(result("rss_after_200", rss, peer=peer and [peer[1]], pss_median=_median(pss), processes=mem[2]), sink)


def latency(runs: int, sink: list[Result]) -> None:
    times: list[float] = []
    with dev_server() as (server, client):
        assert client.request("GET", "/ping")[0] == 200
        server.memory()
        for _ in range(runs):
            started = time.perf_counter()
            instance = client.json("POST", "/create")["instanceId"]
            path = f"{API}/workflows/{THREE}/instances/{instance}"
            wait_until(
                lambda p=path: client.json("GET", p)["result"]["status"] == "complete",
                timeout=10,
                interval=0.001,
                what=f"instance {instance} to complete",
            )
            times.append((time.perf_counter() - started) * 1000)
    emit(result("create_to_complete", times, peer=_wrangler.latency(min(runs, 10))), sink)


def memory(runs: int, sink: list[Result]) -> None:
    idle: list[float] = []
    idle_pss: list[float] = []
    sleepers: list[float] = []
    sleepers_pss: list[float] = []
    create_s: list[float] = []
    all_waiting_s: list[float] = []
    processes = 0
    for _ in range(runs):
        with dev_server() as (server, client):
            assert client.request("GET", "/ping")[0] == 200
            rss, pss, processes = server.memory()
            idle.append(rss)
            idle_pss.append(pss)
            started = time.perf_counter()
            create_through_fetch(server.url, "/sleep", SLEEPERS, clients=16)
            create_s.append(time.perf_counter() - started)
            wait_until(
                lambda: count_instances(client, SLEEPER, "waiting") >= SLEEPERS,
                timeout=120,
                interval=0.05,
                what=f"{SLEEPERS} sleeping instances",
            )
            all_waiting_s.append(time.perf_counter() - started)
            rss, pss, _ = server.memory()
            sleepers.append(rss)
            sleepers_pss.append(pss)
        time.sleep(0.2)
    peer = _wrangler.memory(SLEEPERS)
    emit(result("rss_idle", idle, peer=peer and [peer[0]], pss_median=_median(idle_pss), processes=processes), sink)
    emit(result("rss_1000_sleepers", sleepers, peer=peer and [peer[1]], pss_median=_median(sleepers_pss)), sink)
    emit(result("create_1000_sleepers", create_s, peer=peer and [peer[2]], all_sleeping_s=_median(all_waiting_s)), sink)


def _median(values: list[float]) -> float:
    import statistics

    return float(statistics.median(values))
