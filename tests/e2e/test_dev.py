"""`pyflows dev` as a real process on a free port: serving, durability across SIGKILL, hot reload.

Steps append to a file (`env.COUNTER`) each time they execute, so "no completed step ran twice" is
checked on what really ran, across processes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pyflows.testing.devserver import DevServer as Dev

API = "/cdn-cgi/local/explorer/api"

ENTRY = """
from urllib.parse import parse_qs, urlparse

from workers import Response, WorkerEntrypoint, WorkflowEntrypoint

VERSION = "v1"


def mark(env, what):
    with open(env.COUNTER, "a") as f:
        f.write(what + "\\n")


class SleepyWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("before")
        async def before():
            mark(self.env, VERSION + ":before")
            return 1

        await before()
        await step.sleep("nap", event["payload"]["nap"])

        @step.do("after")
        async def after():
            mark(self.env, VERSION + ":after")
            return VERSION

        return await after()


class FlakyWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("before")
        async def before():
            mark(self.env, "before")
            return 1

        await before()

        retries = {"limit": 3, "delay": event["payload"]["nap"], "backoff": "constant"}

        @step.do("flaky", config={"retries": retries})
        async def flaky(ctx):
            mark(self.env, f"flaky:{ctx['attempt']}")
            if ctx["attempt"] < 2:
                raise ValueError("the first attempt fails")
            return "ok"

        return await flaky()


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlparse(request.url)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/create":
            binding = getattr(self.env, query["binding"])
            instance = await binding.create(params={"nap": int(query.get("nap", "0"))})
            return Response.json({"id": instance.id})
        if url.path == "/status":
            instance = await getattr(self.env, query["binding"]).get(query["id"])
            return Response.json(await instance.status())
        if url.path == "/var":
            return Response(str(getattr(self.env, query["name"], None)))
        return Response(VERSION)
"""


def write_project(root: Path, entry: str = ENTRY) -> Path:
    (root / "src").mkdir(parents=True)
    counter = root / "executions.log"
    counter.touch()
    (root / "wrangler.jsonc").write_text(
        json.dumps(
            {
                "name": "dev-e2e",
                "main": "src/entry.py",
                "compatibility_date": "2026-03-01",
                "workflows": [
                    {"name": "sleepy", "binding": "SLEEPY", "class_name": "SleepyWorkflow"},
                    {"name": "flaky", "binding": "FLAKY", "class_name": "FlakyWorkflow"},
                ],
                "vars": {"COUNTER": str(counter)},
            }
        )
    )
    (root / "src" / "entry.py").write_text(entry)
    return root


def executions(project: Path) -> list[str]:
    return (project / "executions.log").read_text().split()


def wait_until(check: Any, timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def ms(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000


def details(dev: Dev, workflow: str, instance: str) -> dict[str, Any]:
    return dev.get(f"{API}/workflows/{workflow}/instances/{instance}")["result"]  # type: ignore[no-any-return]


def sleeping(dev: Dev, workflow: str, instance: str) -> bool:
    """The first step's result is stored (what the API shows is committed) and the nap began."""
    steps = {s["name"]: s for s in details(dev, workflow, instance)["steps"]}
    return steps.get("before-1", {}).get("success") is True and "nap-1" in steps


def finished(dev: Dev, workflow: str, instance: str) -> dict[str, Any] | None:
    d = details(dev, workflow, instance)
    return d if d["status"] in ("complete", "errored", "terminated") else None


# Fast ------------------------------------------------------------------------------------------


def test_dev_serves_the_worker_which_creates_an_instance_and_reports_its_status(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    dev = Dev(project)
    try:
        dev.ready()
        assert dev.url.startswith("http://127.0.0.1:") and not dev.url.endswith(":0")
        banner = "".join(dev.out)
        assert "env.SLEEPY (SleepyWorkflow)" in banner and "Workflow" in banner
        assert dev.get("/") == "v1"
        instance = dev.get("/create?binding=SLEEPY&nap=0")["id"]
        status = wait_until(
            lambda: (s := dev.get(f"/status?binding=SLEEPY&id={instance}"))["status"] == "complete" and s,
            what="complete",
        )
        assert status == {"status": "complete", "error": None, "output": "v1"}
        listed = dev.get(f"{API}/workflows/sleepy/instances")
        assert [r["id"] for r in listed["result"]] == [instance]
        dev.wait_for_output(r"\[pyflows:info\] GET /create\?binding=SLEEPY&nap=0 200 OK \(\d+ms\)")
        # API calls are not logged, as in Wrangler (the one /cdn-cgi line is the explorer's address)
        assert [line for line in dev.out if "/cdn-cgi" in line and "Local Explorer on" not in line] == []
        state = project / ".pyflows" / "state"
        assert state.stat().st_mode & 0o777 == 0o700
        assert all(f.stat().st_mode & 0o077 == 0 for f in state.iterdir() if f.is_file())
    finally:
        dev.stop()
    assert dev.proc.returncode == 0, dev.output()


def test_step_failures_show_in_the_terminal(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    dev = Dev(project, "--no-reload")
    try:
        dev.ready()
        dev.get("/create?binding=FLAKY&nap=10")
        dev.wait_for_output(
            r"▲ \[WARNING\] Step 'flaky' of instance '[\w-]+' \(flaky\) failed on attempt 1: "
            r"ValueError: the first attempt fails",
            stream="err",
        )
    finally:
        dev.stop()


def test_cwd_after_the_command_serves_that_project(tmp_path: Path) -> None:
    """The README's `pyflows dev --cwd templates/hello`: global options also after `dev`."""
    project = write_project(tmp_path / "app")
    dev = Dev(tmp_path, "--cwd", str(project), "--no-reload")
    try:
        assert dev.ready().get("/") == "v1"
        assert (project / ".pyflows" / "state").is_dir() and not (tmp_path / ".pyflows").exists()
    finally:
        dev.stop()


def run_dev(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyflows", "dev", "--port", "0", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
    )


def test_startup_errors_are_one_clear_message(tmp_path: Path) -> None:
    bad_config = write_project(tmp_path / "config")
    (bad_config / "wrangler.jsonc").write_text('{"name": "x", "main": "src/entry.py",\n  "workflows": [}')
    done = run_dev(bad_config)
    assert done.returncode == 1, done
    assert done.stderr.count("✘ [ERROR]") == 1 and "wrangler.jsonc:2:" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "Ready on" not in done.stdout

    # The Worker's own errors wait for the fix, on the first start as after a reload (issue 12).
    missing_class = write_project(tmp_path / "class", ENTRY.replace("class FlakyWorkflow", "class Flaky"))
    import_error = write_project(tmp_path / "import", "import no_such_module_here\n" + ENTRY)
    for project, expected in [
        (missing_class, "'FlakyWorkflow'"),
        (import_error, "No module named 'no_such_module_here'"),
    ]:
        dev = Dev(project)
        try:
            dev.wait_for_output(r"Fix it and save again; no server is running\.", stream="err")
            assert dev.proc.poll() is None, dev.output()
            err = "".join(dev.err)
            assert err.count("✘ [ERROR]") == 1 and expected in err, err
            assert "Traceback" not in err or "Could not import" in err
            assert "Ready on" not in dev.output()
        finally:
            dev.stop()

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = subprocess.run(
            [sys.executable, "-m", "pyflows", "dev", "--port", str(taken.getsockname()[1])],
            cwd=tmp_path / "class",
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1 and "is already in use" in done.stderr, done.stderr


def _processes_in(directory: Path) -> list[int]:
    """Pids whose working directory is `directory` (a server `pyflows dev` left behind)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "cwd")) == directory:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_usage_error_after_the_early_fork_leaves_no_server_behind(tmp_path: Path) -> None:
    # `pyflows dev` forks its first server before parsing its flags (pyflows.cli.main); a bad flag
    # must still end the session with typer's usage error and take that server with it.
    project = write_project(tmp_path / "p").resolve()
    done = subprocess.run(
        [sys.executable, "-m", "pyflows", "dev", "--port", "not-a-port"],
        cwd=project, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "not-a-port" in done.stderr, done.stderr
    deadline = time.monotonic() + 5
    while _processes_in(project) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_in(project) == []
    served = run_dev(project, "--no-reload", "--port", "not-a-port")
    assert served.returncode == 2 and _processes_in(project) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_secrets_never_appear_on_a_command_line(tmp_path: Path) -> None:
    # `ps` shows every user each process's arguments; the session's options (with .dev.vars) must
    # reach the reload supervisor another way, and the Worker must not see them in its environment.
    project = write_project(tmp_path)
    (project / ".dev.vars").write_text("TOKEN=hunter2-not-in-argv\n")
    dev = Dev(project)
    try:
        dev.ready()
        assert dev.get("/var?name=TOKEN") == "hunter2-not-in-argv"
        for pid in (dev.pid, *dev.children()):
            assert b"hunter2" not in Path(f"/proc/{pid}/cmdline").read_bytes(), pid
            assert b"PYFLOWS_DEV_OPTIONS" not in Path(f"/proc/{pid}/environ").read_bytes() or pid == dev.pid
    finally:
        dev.stop()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ps_finds_the_session_by_its_name_and_a_killed_server_says_whom_to_signal(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    dev = Dev(project)
    try:
        dev.ready()
        # `pgrep -f "pyflows dev"` finds the supervisor (the process to signal), not only its server
        assert b"pyflows dev" in Path(f"/proc/{dev.pid}/cmdline").read_bytes().replace(b"\0", b" ")
        (server,) = dev.children()
        os.kill(server, signal.SIGTERM)  # what `pkill -f "pyflows dev"` does to the server
        wait_until(lambda: "stopped unexpectedly" in dev.output(), what="the supervisor's report")
        assert f"signal its own process (pid {dev.pid})" in dev.output(), dev.output()
        assert dev.proc.poll() is None  # the session lives on; a save restarts the server
    finally:
        dev.stop()


def test_a_second_dev_server_on_the_same_state_is_refused(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    first = Dev(project)
    try:
        first.ready()
        done = run_dev(project)
        assert done.returncode == 1
        assert "✘ [ERROR]" in done.stderr and "in use by another pyflows dev" in done.stderr, done.stderr
        # It names the `pyflows dev` the user started (stopping it stops its server), not the server child.
        assert f"(pid {first.pid})" in done.stderr, (first.pid, done.stderr)
        assert first.get("/") == "v1"
    finally:
        first.stop()


# Slow: real timers, restarts and reloads ---------------------------------------------------------


@pytest.mark.slow
def test_sigkill_during_a_sleep_then_restart_completes_on_time_without_rerunning_steps(
    tmp_path: Path,
) -> None:
    project = write_project(tmp_path)
    dev = Dev(project)
    try:
        instance = dev.ready().get("/create?binding=SLEEPY&nap=2000")["id"]
        wait_until(lambda: sleeping(dev, "sleepy", instance), what="the sleep")
        time.sleep(0.3)
        dev.kill()
    finally:
        dev.stop()
    assert executions(project) == ["v1:before"]

    dev = Dev(project)
    try:
        dev.ready()
        done = wait_until(lambda: finished(dev, "sleepy", instance), what="completion")
        assert done["status"] == "complete" and done["output"] == "v1"
        nap = next(s for s in done["steps"] if s["name"] == "nap-1")
        slept = ms(nap["end"]) - ms(nap["start"])
        assert 2000 <= slept < 3500, nap  # the wake time survived the crash
        assert executions(project) == ["v1:before", "v1:after"]
    finally:
        dev.stop()


@pytest.mark.slow
def test_a_sleep_that_ended_while_the_server_was_down_completes_at_startup(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    dev = Dev(project)
    try:
        instance = dev.ready().get("/create?binding=SLEEPY&nap=1000")["id"]
        wait_until(lambda: sleeping(dev, "sleepy", instance), what="the sleep")
        dev.kill()
    finally:
        dev.stop()
    time.sleep(1.5)
    dev = Dev(project)
    try:
        dev.ready()
        done = wait_until(lambda: finished(dev, "sleepy", instance), timeout=3, what="completion at startup")
        assert done["status"] == "complete"
        assert executions(project) == ["v1:before", "v1:after"]
    finally:
        dev.stop()


@pytest.mark.slow
def test_sigkill_during_a_retry_delay_then_restart(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    dev = Dev(project)
    try:
        instance = dev.ready().get("/create?binding=FLAKY&nap=2000")["id"]
        wait_until(lambda: details(dev, "flaky", instance)["status"] == "waiting", what="the retry delay")
        # A retry delay is a wait (as in production); the failed attempt is stored.
        attempts = next(s for s in details(dev, "flaky", instance)["steps"] if s["name"] == "flaky-1")["attempts"]
        assert [a["success"] for a in attempts] == [False]
        time.sleep(0.3)
        dev.kill()
    finally:
        dev.stop()

    dev = Dev(project)
    try:
        dev.ready()
        done = wait_until(lambda: finished(dev, "flaky", instance), what="completion")
        assert done["status"] == "complete" and done["output"] == "ok"
        attempts = next(s for s in done["steps"] if s["name"] == "flaky-1")["attempts"]
        assert [a["success"] for a in attempts] == [False, True]
        delay = ms(attempts[1]["start"]) - ms(attempts[0]["end"])
        assert 2000 <= delay < 3500, attempts
        assert executions(project) == ["before", "flaky:1", "flaky:2"]
    finally:
        dev.stop()


@pytest.mark.slow
def test_editing_the_workflow_while_an_instance_sleeps(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    entry = project / "src" / "entry.py"
    dev = Dev(project)
    try:
        instance = dev.ready().get("/create?binding=SLEEPY&nap=1500")["id"]
        wait_until(lambda: sleeping(dev, "sleepy", instance), what="the sleep")
        entry.write_text(ENTRY.replace('VERSION = "v1"', 'VERSION = "v2"'))
        dev.wait_for_output(r"⎔ Reloading: src/entry\.py changed\n⎔ Local server updated and ready")
        assert wait_until(lambda: dev.get("/") == "v2", timeout=5, what="the new code")

        done = wait_until(lambda: finished(dev, "sleepy", instance), what="the sleeping instance")
        assert done["status"] == "complete"
        assert done["output"] == "v2"  # replay after the reload ran the remaining step with the new code
        fresh = dev.get("/create?binding=SLEEPY&nap=0")["id"]
        assert wait_until(lambda: finished(dev, "sleepy", fresh), what="a new instance")["output"] == "v2"
        assert executions(project) == ["v1:before", "v2:after", "v2:before", "v2:after"]
    finally:
        dev.stop()
    assert dev.proc.returncode == 0


@pytest.mark.slow
def test_editing_dev_vars_reloads_with_the_new_secret(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    (project / ".dev.vars").write_text("TOKEN=first\n")
    dev = Dev(project)
    try:
        dev.ready()
        assert 'env.TOKEN ("(hidden)")' in "".join(dev.out) and "first" not in "".join(dev.out)
        assert dev.get("/var?name=TOKEN") == "first"
        (project / ".dev.vars").write_text("TOKEN=second\n")
        dev.wait_for_output(r"⎔ Reloading: \.dev\.vars changed\n⎔ Local server updated and ready")
        assert wait_until(lambda: dev.get("/var?name=TOKEN") == "second", timeout=5, what="the new secret")
    finally:
        dev.stop()


@pytest.mark.slow
def test_a_syntax_error_keeps_the_old_version_serving_until_the_next_save(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    entry = project / "src" / "entry.py"
    dev = Dev(project)
    try:
        dev.ready()
        entry.write_text(ENTRY + "\ndef broken(:\n")
        dev.wait_for_output(r"SyntaxError", stream="err")
        dev.wait_for_output(r"the previous version keeps serving", stream="err")
        assert dev.get("/") == "v1" and dev.proc.poll() is None
        entry.write_text(ENTRY.replace('VERSION = "v1"', 'VERSION = "v3"'))
        dev.wait_for_output(r"Local server updated and ready")
        assert wait_until(lambda: dev.get("/") == "v3", timeout=5, what="the fixed code")
    finally:
        dev.stop()
    assert dev.proc.returncode == 0


@pytest.mark.slow
def test_ctrl_c_shuts_down_cleanly(tmp_path: Path) -> None:
    project = write_project(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyflows", "dev", "--port", "0"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        while "Ready on" not in (proc.stdout.readline() if proc.stdout else ""):
            assert proc.poll() is None
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
    again = Dev(project)  # the state lock was released: the server process is gone too
    try:
        assert again.ready().get("/") == "v1"
    finally:
        again.stop()


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("PYFLOWS_TEST_WRANGLER"),
    reason="PYFLOWS_TEST_WRANGLER is not set (a wrangler command, e.g. 'node …/wrangler/bin/wrangler.js')",
)
def test_the_real_wrangler_cli_drives_pyflows_dev(tmp_path: Path) -> None:
    wrangler = os.environ["PYFLOWS_TEST_WRANGLER"].split()
    env = {
        **os.environ,
        "WRANGLER_SEND_METRICS": "false",
        "CI": "1",
        "NO_COLOR": "1",
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "WRANGLER_LOG_PATH": str(tmp_path / "logs"),
    }
    project = write_project(tmp_path / "proj")
    dev = Dev(project).ready()
    port = dev.url.rsplit(":", 1)[1]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*wrangler, "workflows", *args, "--local", "--port", port],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )

    try:
        assert "SleepyWorkflow" in run("list").stdout
        assert (
            'Workflow instance "w1" has been triggered' in run("trigger", "sleepy", '{"nap": 0}', "--id", "w1").stdout
        )
        wait_until(lambda: finished(dev, "sleepy", "w1"), what="completion")
        described = run("instances", "describe", "sleepy", "latest")
        assert "Completed" in described.stdout and "before-1" in described.stdout
        assert "paused successfully" in run("instances", "pause", "sleepy", "w1").stdout
        unknown = run("instances", "describe", "sleepy", "nope")
        assert unknown.returncode == 1 and "Workflow instance 'nope' not found." in unknown.stderr
        deleted = run("instances", "delete", "sleepy", "w1")
        assert 'Deleted workflow instances from "sleepy": "w1"' in deleted.stdout
    finally:
        dev.stop()
