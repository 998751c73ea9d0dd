"""The plugin from a project outside this repository: its own wrangler.jsonc, `pytest` in a subprocess.

This is how users meet pyflows.testing: pip installs pyflows, pytest finds the `pyflows` plugin
through its entry point, and `pyflows_project` loads the project the tests live in.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

WRANGLER = """{
  "name": "outside",
  "main": "src/entry.py",
  "compatibility_date": "2026-11-01",
  "workflows": [{"name": "signup", "binding": "SIGNUP", "class_name": "Signup"}],
}
"""

ENTRY = """
from workers import Response, WorkerEntrypoint, WorkflowEntrypoint


class Signup(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("send email")
        async def send_email():
            raise RuntimeError("no mail server in tests")

        sent = await send_email()
        await step.sleep("wait a day", "1 day")
        return {"sent": sent, "user": event["payload"]["user"]}


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        instance = await self.env.SIGNUP.create({"params": {"user": "ada"}})
        return Response.json({"id": instance.id})
"""

TESTS = """
import pytest

from pyflows.testing import WaitTimeoutError, introspect_workflow, introspect_workflow_instance


@pytest.mark.anyio
async def test_async_with_mocks(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.SIGNUP, "ada") as instance:
        await instance.modify(lambda m: (m.mock_step_result({"name": "send email"}, True), m.disable_sleeps()))
        await env.SIGNUP.create(id="ada", params={"user": "ada"})
        assert await instance.get_output() == {"sent": True, "user": "ada"}


@pytest.mark.anyio
async def test_fetch_capture_and_clock(pyflows_project):
    pyflows_project.clock.freeze()
    async with introspect_workflow(pyflows_project.env.SIGNUP) as workflow:
        await workflow.modify_all(lambda m: m.mock_step_result({"name": "send email"}, False))
        await pyflows_project.fetch("/")
        (instance,) = await workflow.get()
        await instance.wait_for_status("waiting")
        await pyflows_project.clock.advance("1 day")
        assert await instance.get_output() == {"sent": False, "user": "ada"}


def test_sync(pyflows_project):
    with pyflows_project.introspect_workflow_instance("SIGNUP", "bob") as instance:
        instance.modify(lambda m: m.mock_step_result({"name": "send email"}, None))
        pyflows_project.create("SIGNUP", id="bob", params={"user": "bob"})
        with pytest.raises(WaitTimeoutError, match="sleeping in step.sleep"):
            instance.wait_for_status("complete", timeout=0.2)


@pytest.mark.anyio
async def test_left_running(pyflows_project):
    await pyflows_project.env.SIGNUP.create(id="ada", params={"user": "ada"})  # the same id as above: isolated


@pytest.fixture
async def running_loop():
    import asyncio

    yield asyncio.get_running_loop()


@pytest.mark.anyio
async def test_one_loop_for_the_project_other_async_fixtures_and_the_test(pyflows_project, running_loop):
    import asyncio

    assert asyncio.get_running_loop() is running_loop
    async with introspect_workflow_instance(pyflows_project.env.SIGNUP, "dan") as instance:
        await instance.modify(lambda m: (m.mock_step_result({"name": "send email"}, True), m.disable_sleeps()))
        await pyflows_project.env.SIGNUP.create(id="dan", params={"user": "dan"})
        assert await instance.get_output() == {"sent": True, "user": "dan"}


@pytest.mark.anyio
async def test_a_waiter_failure_reads_well(pyflows_project):
    env = pyflows_project.env
    async with introspect_workflow_instance(env.SIGNUP, "carol") as instance:
        await instance.modify(lambda m: m.disable_retry_delays())
        await env.SIGNUP.create(id="carol", params={"user": "carol"})
        await instance.wait_for_status("complete")
"""


def _project(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "wrangler.jsonc").write_text(WRANGLER)
    (root / "src" / "entry.py").write_text(textwrap.dedent(ENTRY))
    (root / "tests" / "test_signup.py").write_text(textwrap.dedent(TESTS))
    return root


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:asyncio", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_project_outside_the_repository(tmp_path: Path) -> None:
    project = _project(tmp_path / "outside")
    done = _pytest(project)
    out = done.stdout + done.stderr
    assert "1 failed, 5 passed" in out, out
    # the failing test fails with what the instance was doing
    assert "WaitError: [pyflows.testing] The Workflow instance carol has reached status 'errored'." in out, out
    assert "Its error: RuntimeError: no mail server in tests" in out, out


def _pytest_asyncio(cwd: Path, mode: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`pytest` with pytest-asyncio loaded, in `mode` ("auto" or "strict")."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    if "pytest_asyncio.plugin" in args:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        args = ("-p", "pyflows", "-p", "anyio", *args)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", f"asyncio_mode={mode}",
         "-o", "asyncio_default_fixture_loop_scope=function", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_plugin_can_be_disabled_and_configured(tmp_path: Path) -> None:
    project = _project(tmp_path / "outside")
    done = _pytest(project, "-p", "no:pyflows", "tests/test_signup.py::test_sync")
    assert "fixture 'pyflows_project' not found" in done.stdout, done.stdout

    # ini option: the project lives elsewhere than the tests
    tests = tmp_path / "elsewhere"
    tests.mkdir()
    (tests / "test_signup.py").write_text(textwrap.dedent(TESTS))
    (tests / "pytest.ini").write_text(f"[pytest]\npyflows_project = {project}\n")
    done = _pytest(tests, "test_signup.py::test_sync")
    assert "1 passed" in done.stdout, done.stdout + done.stderr

    # ... pointing nowhere: the test fails saying where it looked and why, without a traceback
    (tests / "pytest.ini").write_text("[pytest]\npyflows_project = does/not/exist\n")
    done = _pytest(tests, "test_signup.py::test_sync")
    assert (
        f"pyflows_project: no wrangler.jsonc, wrangler.json or wrangler.toml in {tests / 'does/not/exist'} (the ini "
        f"option pyflows_project = 'does/not/exist', relative to the rootdir {tests})"
    ) in done.stdout, done.stdout
    assert "Traceback" not in done.stdout and "plugin.py" not in done.stdout, done.stdout
    assert "During handling of the above exception" not in done.stdout, done.stdout

    # a malformed config: its file, line and column
    (project / "wrangler.jsonc").write_text('{\n  "name": "x"\n  "main": "src/entry.py"\n}\n')
    done = _pytest(project, "tests/test_signup.py::test_sync")
    assert "pyflows_project: wrangler.jsonc:3:3: expected ',' or '}'" in done.stdout, done.stdout
    assert "During handling of the above exception" not in done.stdout, done.stdout

    # a Worker that cannot be loaded: its own error, not a traceback through the fixture
    (project / "wrangler.jsonc").write_text(WRANGLER.replace('"class_name": "Signup"', '"class_name": "Sign"'))
    done = _pytest(project, "tests/test_signup.py::test_sync")
    assert "pyflows_project: workflows[0].class_name is 'Sign'" in done.stdout, done.stdout
    assert "plugin.py" not in done.stdout, done.stdout


def _with_test_file(tmp_path: Path, name: str, source: str) -> Path:
    """The outside project with one more test file, tests/<name>."""
    project = _project(tmp_path / "outside")
    (project / "tests" / name).write_text(source)
    return project


def test_pytest_asyncio_auto_mode(tmp_path: Path) -> None:
    project = _with_test_file(
        tmp_path,
        "test_auto.py",
        "async def test_unmarked(pyflows_project):\n"
        "    resp = await pyflows_project.fetch('/')\n"
        "    assert (await resp.json())['id']\n",
    )
    done = _pytest_asyncio(project, "auto", "tests/test_auto.py")
    assert "1 passed" in done.stdout, done.stdout + done.stderr
    # loaded by its module's name, plugin autoloading off
    by_module = _pytest_asyncio(project, "auto", "-p", "pytest_asyncio.plugin", "tests/test_auto.py")
    assert "1 passed" in by_module.stdout, by_module.stdout + by_module.stderr


def test_an_anyio_without_get_runner_falls_back_to_its_async_fixtures(tmp_path: Path) -> None:
    no_get_runner = "import pyflows.testing.plugin as plugin\n\nplugin._anyio_runner = lambda backend: None\n"
    project = _with_test_file(tmp_path, "conftest.py", no_get_runner)
    done = _pytest(project, "tests/test_signup.py", "-k", "mocks or one_loop or left_running")
    assert "3 passed" in done.stdout, done.stdout + done.stderr


def test_a_trio_backend_is_a_clear_error(tmp_path: Path) -> None:
    project = _with_test_file(
        tmp_path,
        "test_trio.py",
        "import pytest\n\n\n@pytest.fixture\ndef anyio_backend():\n    return 'trio'\n\n\n"
        "@pytest.mark.anyio\nasync def test_x(pyflows_project):\n    pass\n",
    )
    done = _pytest(project, "tests/test_trio.py")
    out = done.stdout + done.stderr
    assert done.returncode != 0 and "runs Workflows on asyncio, but this test runs on anyio backend 'trio'" in out, out


def test_async_test_without_a_runner_is_a_clear_error(tmp_path: Path) -> None:
    project = _with_test_file(tmp_path, "test_plain.py", "async def test_x(pyflows_project):\n    pass\n")
    done = _pytest(project, "tests/test_plain.py")
    assert "is an async test but no async plugin runs it: mark it @pytest.mark.anyio" in done.stdout, done.stdout
    assert "plugin.py" not in done.stdout  # the message, not a traceback through the plugin
    # pytest-asyncio installed, in its strict mode: it does not run an unmarked test either
    strict = _pytest_asyncio(project, "strict", "tests/test_plain.py")
    assert "no async plugin runs it: mark it @pytest.mark.asyncio (pytest-asyncio is installed, in strict mode)" in (
        strict.stdout
    ), strict.stdout


STUBBORN = """
import asyncio

from workers import WorkflowEntrypoint


class Stubborn(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("poll")
        async def poll():
            while True:  # a polling loop whose bare except swallows CancelledError too
                try:
                    await asyncio.sleep(0.05)
                except BaseException:
                    pass

        return await poll()
"""

STUBBORN_TESTS = """
import pytest


@pytest.mark.anyio
async def test_async_leaves_it_running(pyflows_project):
    await pyflows_project.env.STUBBORN.create(id="a")


@pytest.mark.anyio
async def test_async_next(pyflows_project):
    assert (await pyflows_project.fetch("/")).status == 500  # no fetch handler: the project still works


def test_sync_leaves_it_running(pyflows_project):
    pyflows_project.create("STUBBORN", id="s")


def test_sync_next(pyflows_project):
    assert pyflows_project.fetch("/").status == 500  # no fetch handler: the project still works
"""


def test_a_step_that_swallows_cancellation_fails_its_test_instead_of_hanging_the_run(tmp_path: Path) -> None:
    """Closing the loop would wait for that run forever: the teardown fails saying why, the loop is
    left open, and the next tests run."""
    (tmp_path / "src").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "wrangler.jsonc").write_text(
        '{"name": "stubborn", "main": "src/entry.py", "compatibility_date": "2026-11-01",\n'
        ' "workflows": [{"name": "stubborn", "binding": "STUBBORN", "class_name": "Stubborn"}]}\n'
    )
    (tmp_path / "src" / "entry.py").write_text(textwrap.dedent(STUBBORN))
    (tmp_path / "tests" / "test_stubborn.py").write_text(textwrap.dedent(STUBBORN_TESTS))
    done = _pytest(tmp_path, "-p", "no:randomly")
    out = done.stdout + done.stderr
    assert "4 passed, 2 errors" in out, out
    assert "ERROR at teardown of test_async_leaves_it_running[asyncio]" in out, out
    assert "ERROR at teardown of test_sync_leaves_it_running" in out, out
    assert (
        "Instance 'a' of workflow 'stubborn' did not stop within 5 s of being cancelled: its code in step.do 'poll' "
        "catches asyncio.CancelledError (a bare `except:` or `except BaseException:`) and goes on, or takes longer "
        "to clean up."
    ) in out, out
    assert "Exception ignored" not in out, out

    # pytest-asyncio closes its loop itself, which waits for that run: the message comes at once
    (tmp_path / "tests" / "test_stubborn.py").write_text(
        "import pytest\n\n\n@pytest.mark.asyncio\nasync def test_x(pyflows_project):\n"
        "    await pyflows_project.env.STUBBORN.create(id='p')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    with pytest.raises(subprocess.TimeoutExpired) as waited:
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "asyncio_mode=strict",
             "-o", "asyncio_default_fixture_loop_scope=function"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=15,
        )  # fmt: skip
    said = waited.value.stdout if isinstance(waited.value.stdout, str) else (waited.value.stdout or b"").decode()
    assert "[pyflows.testing] tests/test_stubborn.py::test_x: Instance 'p' of workflow 'stubborn'" in said, said
    assert "The test session waits for it." in said, said
