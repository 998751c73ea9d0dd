"""pyflows.testing: a 10-test pytest file, whole runs with the interpreter start (issue 14).

Each test introspects an instance of a workflow with three steps, a one-hour sleep and an event,
mocks (disable_sleeps, mock_event, mock_step_result), creates it and waits for `complete`.

pytest runs as it would in a user's fresh venv holding pytest, pyflows and anyio (pyflows'
dependency, whose plugin runs the async tests): plugin autoloading is off
(PYTEST_DISABLE_PLUGIN_AUTOLOAD=1) and exactly `-p pyflows -p anyio` are loaded. The plugins that
happen to be installed in this repository's dev venv are the user's business, not pyflows': there,
hypothesis alone adds over a second of imports to every pytest start.

testing_pytest_10        wall time of `python -m pytest -q test_bench.py` (10 tests) in a temp
                         project, interpreter start included; warm: bytecode cached, a run before.
                         `extra.cpu_s`: that process's CPU time (user + sys), median.
testing_pytest_10_cold   the same, first run with an empty bytecode cache.
testing_per_test         setup + call + teardown of one test, median of tests 2-10 (the first
                         pays the imports), timed by a hook in the project's conftest.py; the
                         process's CPU time for the same (all threads) is `extra.cpu_ms`, and
                         `extra.floor_cpu_ms` is the same for the floor file's empty async tests.
testing_rss              peak RSS of that pytest process (its VmHWM, sampled every 20 ms).
testing_floor_python     the floor: `python -c pass` (interpreter start).
testing_floor_pytest_10  the floor: the same pytest command on a 10-test file of empty async
                         tests (anyio, asyncio backend) with the same plugins: what any pytest run
                         of 10 async tests costs here before pyflows does anything.

Cloudflare's kit (vitest 5.1 + @cloudflare/vitest-plugin 1.5, same workflow, 10 tests) on a 2-core
machine, as recorded in issue 14: 4.3 s warm, 4.9 s cold, ≈ 20 ms per extra test, ≈ 600 MB RSS.
With `PYFLOWS_BENCH_CF_KIT=bench/cf_kit` (after `npm install` in bench/cf_kit/, which holds the
same workflow and 10 tests in JavaScript), that kit runs in the same session, one kit run after each
round of pyflows runs (this machine's speed drifts by up to a third within minutes, so a block of each
tool would skew the ratio), and its figures go in each result's peer (the `wrangler` field;
`extra.wrangler_source` says "same run"; `extra.ratio_per_round` is each round's own ratio).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

from _harness import Result, against_peer, child_env, emit, result, tree_memory

TESTS = 10

WRANGLER = """{
  "name": "bench-testing",
  "main": "src/entry.py",
  "compatibility_date": "2026-11-01",
  "compatibility_flags": ["python_workers"],
  "workflows": [{ "name": "bench-order", "binding": "ORDER", "class_name": "OrderWorkflow" }],
}
"""

ENTRY = """
from workers import Response, WorkerEntrypoint, WorkflowEntrypoint


class OrderWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("reserve")
        async def reserve():
            return {"reserved": True}

        @step.do("charge")
        async def charge():
            return {"charged": event["payload"]["amount"]}

        @step.do("ship")
        async def ship():
            return {"shipped": True}

        reserved = await reserve()
        charged = await charge()
        await step.sleep("cool off", "1 hour")
        approval = await step.wait_for_event("approval", "approval", timeout="2 hours")
        shipped = await ship()
        return {"reserved": reserved, "charged": charged, "approved": approval["payload"]["ok"], "shipped": shipped}


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("ok")
"""

# Both test files run async tests under anyio's plugin on asyncio.
HEADER = """
import pytest

from pyflows.testing import introspect_workflow_instance

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"
"""

TEST_FILE = (
    HEADER
    + """

@pytest.mark.parametrize("n", range({tests}))
async def test_order(pyflows_project, n):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.ORDER, f"order-{{n}}") as instance:
        await instance.modify(
            lambda m: (
                m.disable_sleeps(),
                m.mock_event({{"type": "approval", "payload": {{"ok": True}}}}),
                m.mock_step_result({{"name": "charge"}}, {{"charged": n * 10}}),
            )
        )
        await env.ORDER.create(id=f"order-{{n}}", params={{"amount": n}})
        await instance.wait_for_status("complete")
        output = await instance.get_output()
    assert output["charged"] == {{"charged": n * 10}} and output["approved"] is True
"""
)

# The floor: the same file with empty tests (importing pyflows.testing costs nothing: it is lazy).
FLOOR_TEST_FILE = (
    HEADER
    + """

@pytest.mark.parametrize("n", range({tests}))
async def test_nothing(n):
    assert n >= 0
"""
)

CONFTEST = """
import json
import os
import time

import pytest

_times = []
_cpu = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    started, cpu = time.perf_counter(), time.process_time()
    yield
    _times.append(time.perf_counter() - started)
    _cpu.append(time.process_time() - cpu)


def pytest_sessionfinish(session):
    out = os.environ.get("BENCH_TIMES")
    if out:
        with open(out, "w") as f:
            json.dump({"wall": _times, "cpu": _cpu}, f)
"""


def write_project(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "wrangler.jsonc").write_text(WRANGLER)
    (root / "src" / "entry.py").write_text(textwrap.dedent(ENTRY))
    (root / "tests" / "test_bench.py").write_text(TEST_FILE.format(tests=TESTS))
    (root / "tests" / "test_floor.py").write_text(FLOOR_TEST_FILE.format(tests=TESTS))
    (root / "tests" / "conftest.py").write_text(CONFTEST)
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    return root


def run_measured(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> tuple[float, float, float]:
    """(wall seconds, peak RSS of the whole process tree in MiB, CPU seconds of the process and its
    reaped children) of one command; RuntimeError if it fails.

    The tree's RSS is sampled every 20 ms (vitest starts workerd processes; pytest is one process),
    and so is the command's own peak since exec (VmHWM). Not wait4's ru_maxrss: Linux carries the
    forking parent's RSS into it, so it read as this benchmark process's size (54 MiB after the
    other groups ran, 42 MiB when run alone)."""
    started = time.perf_counter()
    peak = [0.0]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.02):
                peak[0] = max(peak[0], tree_memory(proc.pid)[0], _high_water_mib(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            done.set()
            sampler.join()
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    if code != 0:
        raise RuntimeError(f"{cmd} failed ({code}):\n{log.read_text(errors='replace')[-4000:]}")
    return wall, peak[0], usage.ru_utime + usage.ru_stime


def _high_water_mib(pid: int) -> float:
    """VmHWM of `pid` in MiB (0 once it has exited)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def pytest_env(env: dict[str, str]) -> dict[str, str]:
    """A fresh venv's pytest: no plugin autoloading (the module docstring says why)."""
    return {**env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


def run_pytest(
    project: Path, times_file: Path, env: dict[str, str], test_file: str = "tests/test_bench.py"
) -> tuple[float, float, float, dict[str, list[float]]]:
    """(wall seconds, peak RSS MiB, CPU seconds, {"wall", "cpu"}: per-test seconds) of one
    `python -m pytest` run with exactly the plugins a fresh venv has (pyflows, anyio)."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "pyflows", "-p", "anyio", test_file]
    wall, rss, cpu = run_measured(
        cmd, project, {**pytest_env(env), "BENCH_TIMES": str(times_file)}, times_file.with_suffix(".log")
    )
    return wall, rss, cpu, json.loads(times_file.read_text())


def testing(runs: int, sink: list[Result]) -> None:
    root = Path(tempfile.mkdtemp(prefix="pyflows-bench-testing-"))
    try:
        project = write_project(root / "proj")
        times_file = root / "times.json"
        env = child_env()
        kit_dir = os.environ.get("PYFLOWS_BENCH_CF_KIT")
        kit = CloudflareKit(Path(kit_dir), root) if kit_dir else None
        side: dict[str, list[float]] = {"wall": [], "cold": [], "per_test": [], "rss": []}
        kit_error = ""

        def kit_run(into_cold: bool = False) -> None:
            nonlocal kit_error
            if kit is None or kit_error:
                return
            try:
                wall, peak, per_test_ms = kit.run()
            except (OSError, RuntimeError, KeyError, ValueError) as exc:
                kit_error = str(exc)[:500]
                return
            if into_cold:
                side["cold"].append(wall)
            else:
                side["wall"].append(wall)
                side["rss"].append(peak)
                side["per_test"].append(per_test_ms)

        kit_run(into_cold=True)  # vitest's caches empty: the kit's cold run
        cold = []
        for n in range(max(1, runs // 2)):  # an empty bytecode cache each time: pyflows, pytest, everything
            cold_env = {**env, "PYTHONPYCACHEPREFIX": str(root / f"cold-pycache-{n}")}
            cold_env.pop("PYTHONDONTWRITEBYTECODE", None)
            cold.append(run_pytest(project, times_file, cold_env)[0])
        run_pytest(project, times_file, env)  # fills the bytecode cache the warm runs use
        run_pytest(project, times_file, env, "tests/test_floor.py")
        walls, cpus, rss, per_test, per_test_cpu = [], [], [], [], []
        floor_python, floor_pytest, floor_cpu, floor_per_test_cpu = [], [], [], []
        for _ in range(runs):
            # One round: pyflows, the floors, then the kit, so that both tools see the same stretch of
            # this machine (its speed drifts by a third within minutes; a block of each would skew the ratio).
            wall, peak, cpu, times = run_pytest(project, times_file, env)
            walls.append(wall)
            cpus.append(cpu)
            rss.append(peak)
            per_test.append(statistics.median(times["wall"][1:]) * 1000)
            per_test_cpu.append(statistics.median(times["cpu"][1:]) * 1000)
            floor_python.append(run_measured([sys.executable, "-c", "pass"], project, env, root / "pass.log")[0])
            wall, _, cpu, times = run_pytest(project, times_file, env, "tests/test_floor.py")
            floor_pytest.append(wall)
            floor_cpu.append(cpu)
            floor_per_test_cpu.append(statistics.median(times["cpu"][1:]) * 1000)
            kit_run()
        cpu_ms = round(statistics.median(per_test_cpu), 2)  # all threads' CPU: what load cannot inflate much
        kit_extra: dict[str, Any] = {}
        if kit_error:
            kit_extra["cloudflare_kit_error"] = kit_error
            side = {}
        elif kit is not None:
            kit_extra["peer_tool"] = "Cloudflare's kit: vitest + @cloudflare/vitest-plugin (bench/cf_kit)"
        cpu_s = round(statistics.median(cpus), 3)
        file_extra = dict(kit_extra)
        if side.get("wall"):  # each round's own ratio: how much of the spread is the machine
            file_extra["ratio_per_round"] = [round(k / w, 2) for k, w in zip(side["wall"], walls, strict=True)]
        file_result = result("testing_pytest_10", walls, peer=side.get("wall"), tests=TESTS, cpu_s=cpu_s, **file_extra)
        emit(against_peer(file_result, 10, "the kit"), sink)  # 0.45 s: the kit's 4.3 s / 10
        emit(result("testing_pytest_10_cold", cold, peer=side.get("cold"), **kit_extra), sink)
        floor_ms = round(statistics.median(floor_per_test_cpu), 2)
        per = result("testing_per_test", per_test, peer=side.get("per_test"), cpu_ms=cpu_ms, floor_cpu_ms=floor_ms)
        per.extra.update(kit_extra)
        if side.get("per_test"):
            per.extra["ratio_per_round"] = [round(k / w, 2) for k, w in zip(side["per_test"], per_test, strict=True)]
        emit(against_peer(per, 4, "the kit"), sink)  # 5 ms: the kit's 20 ms / 4
        emit(result("testing_rss", rss, peer=side.get("rss"), **kit_extra), sink)
        emit(result("testing_floor_python", floor_python), sink)
        emit(result("testing_floor_pytest_10", floor_pytest, cpu_s=round(statistics.median(floor_cpu), 3)), sink)
    finally:
        shutil.rmtree(root, ignore_errors=True)


class CloudflareKit:
    """The same scenario in Cloudflare's kit (bench/cf_kit/ after `npm install` there). `run()` is one
    `npx vitest run`: (wall seconds, peak tree RSS MiB, per-test ms: the median of vitest's JSON
    report's durations for tests 2-10). The first run sees vitest's caches empty (the cold one).
    Raises OSError, RuntimeError, KeyError or ValueError if the kit cannot run."""

    def __init__(self, kit: Path, scratch: Path) -> None:
        self.kit = kit
        self.report = scratch / "vitest.json"
        self.log = scratch / "vitest.log"
        self.cmd = ["npx", "vitest", "run", "--reporter=json", f"--outputFile={self.report}"]
        self.env = {**os.environ, "NO_COLOR": "1"}

    def run(self) -> tuple[float, float, float]:
        wall, peak, _ = run_measured(self.cmd, self.kit, self.env, self.log)
        report = json.loads(self.report.read_text())
        durations = [t["duration"] for f in report["testResults"] for t in f["assertionResults"]]
        return wall, peak, statistics.median(durations[1:])
