"""Shared pieces of the benchmarks: results, Wrangler's figures and the targets, a real `pyflows dev`
in a temp project, the process tree's memory, and how busy the machine was (the HTTP client is in
_http.py, the served project in _project.py).

Every wait has a deadline; every process this module starts is stopped in `finally` (SIGTERM, wait,
SIGKILL) together with any descendant still alive; every temp dir is removed. Ports are never fixed:
`pyflows dev --port 0` picks one and prints it in its Ready line. Loopback only.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from _http import Http
from _project import write_project
from pyflows.testing.devserver import DevServer as _DevServer

THREE = "bench-three"  # the 3-step workflow's name (see _project.py)
SLEEPER = "bench-sleeper"  # sleeps one hour
RELOADED = "Local server updated and ready"

# name -> (unit, better, Wrangler's figure or None, target or None, which issue's target)
# Wrangler 4.164 local mode, measured on a 2-vCPU machine (bench/README.md says where and how).
SPECS: dict[str, tuple[str, str, float | None, float | None, str]] = {
    "cold_start_ready": ("s", "lower", 1.37, 0.35, "issue 4"),
    "cold_start_first_200": ("s", "lower", None, None, ""),
    "cli_version": ("s", "lower", 0.83, 0.25, "issue 5"),
    "cli_list_5": ("s", "lower", 0.98, 0.25, "issue 5"),
    "cli_list_1000": ("s", "lower", None, 0.25, "issue 5"),
    "fetch_instances_per_s": ("inst/s", "higher", 38.6, 400.0, "issue 4"),
    "fetch_steps_per_s": ("steps/s", "higher", 116.0, None, ""),
    "create_to_complete": ("ms", "lower", 45.0, 10.0, "issue 4"),
    "hot_reload": ("s", "lower", 0.60, 0.30, "issue 4"),
    "rss_idle": ("MiB", "lower", 513.0, 80.0, "issue 4"),
    "rss_after_200": ("MiB", "lower", 807.0, None, ""),
    "rss_1000_sleepers": ("MiB", "lower", 1.19 * 1024, 100.0, "issue 3"),
    "create_1000_sleepers": ("s", "lower", 13.9, None, ""),
    "engine_steps_one_instance": ("steps/s", "higher", None, 1500.0, "issue 3"),
    "engine_steps_concurrent": ("steps/s", "higher", None, 1500.0, "issue 3"),
    "engine_three_step": ("inst/s", "higher", None, 400.0, "issue 3"),
    "floor_aiosqlite_commit": ("steps/s", "higher", None, None, ""),
    # Cloudflare's kit (vitest 5.1 + @cloudflare/vitest-plugin 1.5) on a 2-core machine, recorded in issue 14.
    "testing_pytest_10": ("s", "lower", 4.3, 0.45, "issue 14"),
    "testing_pytest_10_cold": ("s", "lower", 4.9, None, ""),
    "testing_per_test": ("ms", "lower", 20.0, 5.0, "issue 14"),
    "testing_rss": ("MiB", "lower", 600.0, 100.0, "issue 14"),
    # The floor under the two above on the same machine: interpreter start, and pytest + anyio running
    # 10 empty async tests with the same plugins (bench/testing_bench.py).
    "testing_floor_python": ("s", "lower", None, None, ""),
    "testing_floor_pytest_10": ("s", "lower", None, None, ""),
    "explorer_first_render_100k": ("ms", "lower", None, 300.0, "issue 15"),
    "explorer_live_update": ("ms", "lower", None, 200.0, "issue 15"),
    "explorer_idle_cpu": ("% core", "lower", None, 1.0, "issue 15"),
    "explorer_bundle": ("KiB", "lower", None, 1024.0, "issue 15"),
    "scale_create_per_s": ("inst/s", "higher", None, 1000.0, "issue 16"),
    "scale_rss_100k_sleepers": ("MiB", "lower", None, 100.0, "issue 16"),
    "scale_rss_after_restart": ("MiB", "lower", None, 100.0, "issue 16"),
    "scale_restart_ready": ("s", "lower", None, 0.5, "issue 16"),
    "scale_cli_list": ("s", "lower", None, 0.25, "issue 16"),
    "scale_cli_describe_latest": ("s", "lower", None, 0.25, "issue 16"),
    # Wrangler's figure is measured live when PYFLOWS_TEST_WRANGLER is set (bench/triggers_bench.py).
    "queue_messages_per_s": ("msg/s", "higher", None, None, "issue 12"),
    "do_rpc_per_s": ("calls/s", "higher", None, None, "issue 12"),
}


@dataclass
class Result:
    """One measurement over several runs, as printed (one JSON line) and saved."""

    name: str
    unit: str
    median: float
    min: float
    max: float
    runs: int
    wrangler: float | None
    ratio: float | None  # > 1: pyflows is that many times better than Wrangler; < 1: worse
    target: str | None  # e.g. "<= 0.35" or ">= 400"
    passed: bool | None = None
    issue: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        return json.dumps(asdict(self))


def result(name: str, values: list[float], *, peer: list[float] | None = None, **extra: Any) -> Result:
    """Summarise `values` (one per run) for measurement `name`, compare with Wrangler and the target.

    `peer`: Wrangler's values for the same measurement taken in this run (bench/_wrangler.py); they
    replace the recorded figure, and `extra["wrangler_source"]` says which one the ratio used.
    """
    unit, better, wrangler, target, issue = SPECS[name]
    if not values:
        raise ValueError(f"{name}: no successful run")
    if peer:
        wrangler = statistics.median(peer)
        extra["wrangler_source"] = f"same run, {len(peer)} runs"
    elif wrangler is not None:
        extra["wrangler_source"] = "recorded"
    med = statistics.median(values)
    ratio = None
    if wrangler is not None and med > 0:
        ratio = wrangler / med if better == "lower" else med / wrangler
    passed = None
    if target is not None:
        passed = med <= target if better == "lower" else med >= target
    return Result(
        name=name,
        unit=unit,
        median=_round(med),
        min=_round(min(values)),
        max=_round(max(values)),
        runs=len(values),
        wrangler=wrangler if wrangler is None else _round(wrangler),
        ratio=None if ratio is None else round(ratio, 2),
        target=None if target is None else f"{'<=' if better == 'lower' else '>='} {target:g}",
        passed=passed,
        issue=issue,
        extra={k: _round(v) if isinstance(v, float) else v for k, v in extra.items()},
    )


def against_peer(res: Result, times: float, peer: str) -> Result:
    """A target relative to the peer measured in this run (issue 12: ≥ 10× Wrangler; issue 14: the
    ratios its absolute figures were set from): `target` becomes `>= {times}x {peer}` and `passed`
    compares the ratio; an absolute target stays in `extra.absolute_target`. Unchanged without a
    same-run peer."""
    if res.ratio is None or not str(res.extra.get("wrangler_source", "")).startswith("same run"):
        return res
    if res.target is not None:
        res.extra["absolute_target"] = f"{res.target} {res.unit} (passed: {res.passed})"
    res.target, res.passed = f">= {times:g}x {peer}", res.ratio >= times
    return res


def _round(value: float) -> float:
    if abs(value) >= 100:
        return round(value, 1)
    if abs(value) >= 1:
        return round(value, 3)
    return round(value, 4)


def emit(res: Result, sink: list[Result]) -> None:
    sink.append(res)
    print(res.line(), flush=True)


# -- machine ------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": sys.version.split()[0],
        "platform": sys.platform,
        "loadavg": [round(x, 2) for x in load],
    }


class CpuMeter:
    """How busy the machine was with work other than ours, in cores, between `start()` and `stop()`.

    Other engineers run tests on the same 2 cores; a figure taken while they do is noisy. Ours is
    this process and every child it reaped (dev servers, CLI runs); the rest of /proc/stat's busy
    time is someone else's.
    """

    def __init__(self) -> None:
        self._start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        try:
            fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
            busy = (sum(fields[:3]) + sum(fields[5:8])) / os.sysconf("SC_CLK_TCK")  # user nice system irq softirq steal
        except (OSError, ValueError):
            busy = float("nan")
        t = os.times()
        return time.perf_counter(), busy, t.user + t.system + t.children_user + t.children_system

    def other_cores(self) -> float:
        wall, busy, ours = self._sample()
        w0, b0, o0 = self._start
        return round(max(0.0, (busy - b0) - (ours - o0)) / max(wall - w0, 1e-9), 2)


# -- commands -----------------------------------------------------------------------------------

_pycache: Path | None = None


@contextmanager
def bytecode_cache(enabled: bool = True) -> Iterator[None]:
    """Let the processes under test cache bytecode, in a temp dir (removed on exit).

    An installed pyflows has .pyc files (pip compiles them at install time). A shell with
    PYTHONDONTWRITEBYTECODE=1 (as in this repo's shared dev environment) makes every start compile
    pyflows from source instead; PYTHONPYCACHEPREFIX keeps the cache out of the source tree.
    `enabled=False` measures the environment as it is.
    """
    global _pycache
    if not enabled:
        yield
        return
    tmp = Path(tempfile.mkdtemp(prefix="pyflows-bench-pycache-"))
    _pycache = tmp
    try:
        yield
    finally:
        _pycache = None
        shutil.rmtree(tmp, ignore_errors=True)


def child_env() -> dict[str, str]:
    """The environment of every process the benchmarks start."""
    env = {**os.environ, "NO_COLOR": "1"}
    if _pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(_pycache)
    return env


def warm_up() -> None:
    """One untimed round of what is timed (CLI, dev start, a reload's imports): fills the bytecode
    cache, as a user's second command would find it."""
    cmd = pyflows_command()
    subprocess.run([*cmd, "--version"], env=child_env(), capture_output=True, timeout=60, check=True)
    with dev_server() as (server, client):
        client.request("GET", "/ping")
        subprocess.run(
            [*cmd, "workflows", "instances", "list", THREE, "--local", "--port", str(server.port)],
            env=child_env(),
            capture_output=True,
            timeout=60,
            check=True,
            cwd=server.project,
        )
        server.memory()  # the supervisor's post-Ready imports


def pyflows_command() -> list[str]:
    """The `pyflows` console script next to this interpreter (a venv's bin/), else `python -m pyflows`."""
    script = Path(sys.executable).parent / "pyflows"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "pyflows"]


@contextmanager
def temp_project() -> Iterator[Path]:
    """A fresh copy of the bench project (three-step and sleeper workflows) in a temp dir."""
    tmp = Path(tempfile.mkdtemp(prefix="pyflows-bench-"))
    try:
        project = tmp / "project"
        write_project(project)
        yield project
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def wait_until(check: Callable[[], Any], *, timeout: float, interval: float, what: str) -> Any:
    """Call `check` until it returns something truthy; TimeoutError naming `what` after `timeout` s."""
    deadline = time.perf_counter() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.perf_counter() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


# -- the process tree's memory ------------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the comm field may hold spaces and ')'
        children.setdefault(ppid, []).append(int(entry))
    return children


def tree_pids(pid: int) -> list[int]:
    """`pid` and all its descendants (read from /proc)."""
    children = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _status_kib(pid: int, key: str, file: str = "status") -> int:
    try:
        for text in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if text.startswith(key + ":"):
                return int(text.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def tree_memory(pid: int) -> tuple[float, float, int]:
    """(sum of VmRSS in MiB, sum of Pss in MiB, number of processes) over the tree.

    RSS counts pages shared by the forked server processes once per process (as `ps` and
    Wrangler's figures do); PSS splits shared pages between them, so it is the honest total.
    """
    pids = tree_pids(pid)
    rss = sum(_status_kib(p, "VmRSS") for p in pids)
    pss = sum(_status_kib(p, "Pss", "smaps_rollup") for p in pids)
    return rss / 1024, pss / 1024, len(pids)


def settled_memory(pid: int, *, timeout: float = 5.0) -> tuple[float, float, int]:
    """The tree's memory once it stopped changing (two samples 250 ms apart within 1%)."""
    deadline = time.perf_counter() + timeout
    previous = tree_memory(pid)
    while time.perf_counter() < deadline:
        time.sleep(0.25)
        current = tree_memory(pid)
        if abs(current[0] - previous[0]) <= 0.01 * previous[0] and current[2] == previous[2]:
            return current
        previous = current
    return previous


# -- a real `pyflows dev` -----------------------------------------------------------------------


class DevServer(_DevServer):
    """`pyflows dev --port 0` in `project`, as every benchmark starts it (pyflows' one harness,
    `pyflows.testing.devserver`, plus the process tree's memory and a straggler sweep on stop).

    `started` / `ready_at` are perf_counter() times; `url` comes from the Ready line.
    """

    def __init__(self, project: Path, *args: str) -> None:
        super().__init__(project, *args, command=pyflows_command(), env=child_env(), stderr_to_stdout=True)
        self._known: set[int] = set()

    def memory(self) -> tuple[float, float, int]:
        self._known.update(tree_pids(self.pid))
        return settled_memory(self.pid)

    def stop(self) -> None:
        """SIGTERM (graceful), wait, SIGKILL; then SIGKILL any descendant still alive."""
        if self.proc.poll() is None:
            self._known.update(tree_pids(self.proc.pid))
        try:
            super().stop()
        finally:
            for pid in self._known - {self.proc.pid}:
                _kill_if_ours(pid, self.proc.pid)


def _kill_if_ours(pid: int, session_pid: int) -> None:
    # The servers die with the supervisor (PR_SET_PDEATHSIG); this only catches a straggler, and only
    # a process that is still a pyflows server (not a reused pid).
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return
    if b"pyflows" in cmdline:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


@contextmanager
def dev_server(*args: str) -> Iterator[tuple[DevServer, Http]]:
    """A started `pyflows dev` in a fresh temp project and a client for it; both cleaned up."""
    with temp_project() as project:
        server = DevServer(project, *args)
        client: Http | None = None
        try:
            server.ready()
            client = Http(server.url)
            yield server, client
        finally:
            if client is not None:
                client.close()
            server.stop()
