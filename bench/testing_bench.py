"""pyflows.testing: a 10-test pytest file, whole runs with the interpreter start (issue 14).

Each test introspects an instance of a workflow with three steps, a one-hour sleep and an event,
mocks (disable_sleeps, mock_event, mock_step_result), creates it and waits for `complete`.

testing_pytest_10        wall time of `python -m pytest -q test_bench.py` (10 tests) in a temp
                         project, interpreter start included; warm: bytecode cached, a run before.
testing_pytest_10_cold   the same, first run with an empty bytecode cache.
testing_per_test         setup + call + teardown of one test, median of tests 2-10 (the first
                         pays the imports), timed by a hook in the project's conftest.py.
testing_rss              peak RSS of that pytest process (os.wait4).

Cloudflare's kit (vitest 5.1 + @cloudflare/vitest-plugin 1.5, same workflow, 10 tests) on a 2-core
machine, as recorded in issue 14: 4.3 s warm, 4.9 s cold, ≈ 20 ms per extra test, ≈ 600 MB RSS.
When `PYFLOWS_BENCH_CF_KIT` names a directory where that kit is installed (node_modules with
vitest and @cloudflare/vitest-plugin), the same scenario runs there too and its figures go in `extra`.
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
import time
from pathlib import Path
from typing import Any

from _harness import Result, child_env, emit, result

TESTS = 10

WRANGLER = """{
  "name": "bench-testing",
  "main": "src/entry.py",
  "compatibility_date": "2026-11-01",
  "compatibility_flags": ["python_workers"],
  "workflows": [{ "name": "bench-order", "binding": "ORDER", "class_name": "OrderWorkflow" }],
}
"""

ENTRY = '''
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
'''

TEST_FILE = '''
import pytest

from pyflows.testing import introspect_workflow_instance

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


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
'''

CONFTEST = '''
import json
import os
import time

import pytest

_times = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    started = time.perf_counter()
    yield
    _times.append(time.perf_counter() - started)


def pytest_sessionfinish(session):
    out = os.environ.get("BENCH_TIMES")
    if out:
        with open(out, "w") as f:
            json.dump(_times, f)
'''


def write_project(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "wrangler.jsonc").write_text(WRANGLER)
    (root / "src" / "entry.py").write_text(textwrap.dedent(ENTRY))
    (root / "tests" / "test_bench.py").write_text(TEST_FILE.format(tests=TESTS))
    (root / "tests" / "conftest.py").write_text(CONFTEST)
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    return root


def run_pytest(project: Path, times_file: Path, env: dict[str, str]) -> tuple[float, float, list[float]]:
    """(wall seconds, peak RSS MiB, per-test seconds) of one `python -m pytest` run."""
    log = times_file.with_suffix(".log")
    started = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_bench.py"],
            cwd=project,
            env={**env, "BENCH_TIMES": str(times_file)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS, not the children's maximum
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    if code != 0:
        raise RuntimeError(f"pytest failed ({code}):\n{log.read_text(errors='replace')}")
    return wall, usage.ru_maxrss / 1024, json.loads(times_file.read_text())


def testing(runs: int, sink: list[Result]) -> None:
    root = Path(tempfile.mkdtemp(prefix="pyflows-bench-testing-"))
    try:
        project = write_project(root / "proj")
        times_file = root / "times.json"
        env = child_env()
        cold_cache = root / "cold-pycache"
        cold_env = {**env, "PYTHONPYCACHEPREFIX": str(cold_cache)}
        cold_env.pop("PYTHONDONTWRITEBYTECODE", None)
        cold = []
        for n in range(max(1, runs // 2)):
            shutil.rmtree(cold_cache, ignore_errors=True)
            cold.append(run_pytest(project, times_file, {**cold_env, "PYTHONPYCACHEPREFIX": str(cold_cache / str(n))})[0])
        run_pytest(project, times_file, env)  # fills the bytecode cache the warm runs use
        walls, rss, per_test = [], [], []
        for _ in range(runs):
            wall, peak, times = run_pytest(project, times_file, env)
            walls.append(wall)
            rss.append(peak)
            per_test.append(statistics.median(times[1:]) * 1000)
        extra: dict[str, Any] = {"tests": TESTS}
        kit = os.environ.get("PYFLOWS_BENCH_CF_KIT")
        if kit:
            extra["cloudflare_kit"] = cloudflare_kit(Path(kit), runs)
        emit(result("testing_pytest_10", walls, **extra), sink)
        emit(result("testing_pytest_10_cold", cold), sink)
        emit(result("testing_per_test", per_test), sink)
        emit(result("testing_rss", rss), sink)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def cloudflare_kit(kit: Path, runs: int) -> dict[str, Any]:
    """`npx vitest run` of the same scenario in `kit` (see bench/cf_kit/): wall seconds and peak RSS MiB."""
    walls, rss = [], []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.Popen(
            ["npx", "vitest", "run"], cwd=kit, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - started)
        rss.append(usage.ru_maxrss / 1024)
        if os.waitstatus_to_exitcode(status) != 0:
            return {"error": f"vitest exited with {os.waitstatus_to_exitcode(status)}"}
    return {"wall_median_s": round(statistics.median(walls), 3), "rss_peak_mib": round(max(rss), 1)}
