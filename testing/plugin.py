"""The pytest plugin `pyflows` (entry point `pytest11`): the `pyflows_project` fixture.

    async def test_x(pyflows_project): ...     # @pytest.mark.anyio, or @pytest.mark.asyncio (pytest-asyncio)
    def test_y(pyflows_project): ...           # plain def: a SyncProject whose methods block

Each test gets its own engine and its own temporary storage, closed and deleted at teardown, so an
instance left running cannot leak into the next test. The project is the nearest directory with a
wrangler config from the test file up to pytest's rootdir, or the ini option `pyflows_project`
(a path relative to the rootdir). Nothing heavy is imported until the fixture is used.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "pyflows_project",
        "pyflows.testing: the project directory (or wrangler config) `pyflows_project` loads, relative to the "
        "rootdir; default: the nearest directory with a wrangler config above the test file",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    if _pytest_asyncio_loaded(config.pluginmanager):
        from pyflows.testing import _asyncio

        config.pluginmanager.register(_asyncio, "pyflows-asyncio")


def _pytest_asyncio_loaded(plugins: pytest.PytestPluginManager) -> bool:
    """Is pytest-asyncio enabled? Registered as "asyncio" by its entry point (autoload, `-p asyncio`),
    or under its module's name (`-p pytest_asyncio.plugin`)."""
    if plugins.has_plugin("asyncio"):
        return True
    return any(getattr(plugin, "__name__", None) == "pytest_asyncio.plugin" for plugin in plugins.get_plugins())


def project_path(request: pytest.FixtureRequest) -> Path:
    configured = request.config.getini("pyflows_project")
    if configured:
        return request.config.rootpath / str(configured)
    return _found(request.path.parent, request.config.rootpath)


_found_projects: dict[tuple[Path, Path], Path] = {}


def _found(start: Path, stop: Path) -> Path:
    """find_project, once per test directory (it stats every directory on the way up)."""
    key = (start, stop)
    if key not in _found_projects:
        from pyflows.testing.project import find_project

        _found_projects[key] = find_project(start, stop)
    return _found_projects[key]


async def open_for(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    from pyflows.testing.project import RunDidNotStopError

    project = await _open(request)
    try:
        yield project
    finally:
        stuck = ""
        try:
            await project.close()
        except RunDidNotStopError as exc:
            stuck = str(exc)
    if stuck:
        # pytest-asyncio closes its loop next, which waits for that run forever: say why now, past
        # pytest's output capture (the failure report would come only after that wait).
        _say_now(request, f"[pyflows.testing] {request.node.nodeid}: {stuck} The test session waits for it.")
        pytest.fail(stuck, pytrace=False)


def _say_now(request: pytest.FixtureRequest, line: str) -> None:
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    if capture is None:
        reporter.write_line(line, red=True)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("\n" + line, red=True)


@pytest.fixture
def pyflows_project(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The project on a fresh engine with isolated storage: a `Project` in async tests, a `SyncProject` in
    plain `def` tests. See pyflows.testing.project."""
    if inspect.iscoroutinefunction(getattr(request, "function", None)):
        if "anyio_backend" in request.fixturenames:
            backend = request.getfixturevalue("anyio_backend")
            name = backend if isinstance(backend, str) else backend[0]
            if name != "asyncio":
                pytest.fail(
                    f"pyflows_project runs Workflows on asyncio, but this test runs on anyio backend {name!r}. "
                    "Override the `anyio_backend` fixture to return 'asyncio'.",
                    pytrace=False,  # a usage error: the message says it all
                )
            runner = _anyio_runner(backend)
            if runner is None:  # an anyio without get_runner: its async fixture machinery instead
                yield request.getfixturevalue("_pyflows_project_anyio")
                return
            with contextlib.ExitStack() as held:
                loop = held.enter_context(runner).get_loop()  # the loop the test runs on, held until teardown
                project = loop.run_until_complete(_open(request))
                try:
                    yield project
                finally:
                    _close(project, loop.run_until_complete, keep_loop_open=lambda: _keep_anyio_runner(held.pop_all()))
            return
        if request.config.pluginmanager.has_plugin("pyflows-asyncio") and _run_by_pytest_asyncio(request):
            yield request.getfixturevalue("_pyflows_project_asyncio")
            return
        if request.config.pluginmanager.has_plugin("pyflows-asyncio"):  # pytest-asyncio, in its strict mode
            how = "mark it @pytest.mark.asyncio (pytest-asyncio is installed, in strict mode) or @pytest.mark.anyio"
        else:
            how = (
                "mark it @pytest.mark.anyio (anyio's pytest plugin) or install pytest-asyncio and mark it "
                "@pytest.mark.asyncio"
            )
        pytest.fail(f"{request.node.nodeid} is an async test but no async plugin runs it: {how}.", pytrace=False)
    import asyncio

    from pyflows.testing.project import SyncProject

    with contextlib.ExitStack() as held:
        runner = held.enter_context(asyncio.Runner())
        project = runner.run(_open(request))
        try:
            yield SyncProject(project, runner)
        finally:
            _close(project, runner.run, keep_loop_open=lambda: _abandoned.append(held.pop_all()))


# The loops of runs that did not stop (see _close), held for the rest of the session: were one
# collected, closing that run's coroutine would run its catch-all loop again, inside pytest's
# closing gc.collect(), forever.
_abandoned: list[Any] = []


def _keep_anyio_runner(held: contextlib.ExitStack) -> None:
    """Keep anyio's runner (and its loop) open for the rest of the session: one more lease, which is
    never given back, so that releasing ours does not close it. Without that module attribute (another
    anyio), hold our lease instead."""
    try:
        from anyio import pytest_plugin as anyio_plugin

        anyio_plugin._runner_leases += 1  # noqa: SLF001
    except (ImportError, AttributeError, TypeError):
        _abandoned.append(held)
        return
    held.close()  # our lease: the runner stays, as another lease is out


def _close(project: Any, run: Callable[[Any], Any], *, keep_loop_open: Callable[[], object]) -> None:
    """Close the project on its loop. If a run went on after being cancelled, keep the loop open
    (closing it would wait for that run forever; the run is abandoned with it) and fail the test
    saying why."""
    from pyflows.testing.project import RunDidNotStopError

    stuck = ""
    try:
        run(project.close())
    except RunDidNotStopError as exc:
        stuck = str(exc)
    if stuck:  # failed outside the except: the message alone, no chained traceback
        keep_loop_open()
        pytest.fail(stuck, pytrace=False)


def _run_by_pytest_asyncio(request: pytest.FixtureRequest) -> bool:
    """Does pytest-asyncio run this test: marked `asyncio`, or its auto mode? (In strict mode it leaves
    an unmarked async test alone, and the test would fail with pytest's generic message.)"""
    if request.node.get_closest_marker("asyncio") is not None:
        return True
    mode = request.config.getoption("asyncio_mode", None) or request.config.getini("asyncio_mode")
    return str(mode) == "auto"


async def _open(request: pytest.FixtureRequest) -> Any:
    """The test's project, opened. A config that is missing or wrong, or a Worker that cannot be
    loaded, fails the test with its message (file, line and column for a syntax error; the Worker's
    own traceback), not a traceback through pyflows."""
    from pyflows.runtime.errors import ConfigError, ConfigNotFoundError, UserCodeError
    from pyflows.testing.project import open_project

    path = project_path(request)
    try:
        return await open_project(path)
    except ConfigNotFoundError:
        configured = request.config.getini("pyflows_project")
        how = (
            f"the ini option pyflows_project = {configured!r}, relative to the rootdir {request.config.rootpath}"
            if configured
            else f"looked in every directory from {request.path.parent} up to the rootdir"
        )
        why = (
            f"no wrangler.jsonc, wrangler.json or wrangler.toml in {path} ({how}). Put the tests inside the "
            "project, or set the ini option `pyflows_project` to the project's directory (or its config file)."
        )
    except (ConfigError, UserCodeError) as exc:
        why = str(exc)
    pytest.fail(f"pyflows_project: {why}", pytrace=False)  # outside the except: no chained traceback


def _anyio_runner(backend: Any) -> Any:
    """anyio's test runner for `backend`, as a context manager that holds it (anyio.pytest_plugin's
    `get_runner`, which its own async fixtures use), or None if this anyio has none. Opening the
    project on that runner's loop directly skips what anyio does for an async generator fixture
    (a runner task fed through a memory stream, a fixture wrapper per test): ~1 ms a test."""
    try:
        from anyio.pytest_plugin import extract_backend_and_options, get_runner
    except ImportError:
        return None
    return get_runner(*extract_backend_and_options(backend))


@pytest.fixture
async def _pyflows_project_anyio(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    async for project in open_for(request):
        yield project
