"""A project under test: the Worker and its Workflows on a real engine, in-process, with its own storage.

    async with open_project("path/to/project") as project:      # or the `pyflows_project` fixture
        resp = await project.fetch("/?name=Alice")               # the Worker's fetch handler (SELF.fetch)
        instance = await project.env.MY_WORKFLOW.create(params={"name": "Bob"})
        await project.clock.advance("1 hour")
        await project.reset()                                    # every instance and session gone

The config (wrangler.jsonc / .json / .toml) is loaded as `pyflows dev` loads it, including vars and
.dev.vars; the Worker module is imported once per process and reused (each project gets fresh
storage, not a fresh import). No port, no subprocess: storage is a temporary directory removed on
close. `SyncProject` is the same for plain `def` tests: every method blocks.
"""

from __future__ import annotations

import asyncio
import inspect
import json as _json
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyflows.testing.clock import TestClock
from pyflows.testing.introspection import (
    TestHooks,
    WorkflowInstanceIntrospector,
    WorkflowIntrospector,
    introspect_workflow,
    introspect_workflow_instance,
)

if TYPE_CHECKING:
    from pyflows.runtime.config import Config
    from pyflows.runtime.storage.store import Store
    from pyflows.runtime.surface.http import Response
    from pyflows.runtime.worker.loader import Env, Worker
    from pyflows.runtime.workflows.engine import Engine

_MISSING: Any = object()
_loaded: dict[tuple[Path, str | None], tuple[Config, Worker]] = {}


def _load(path: Path, env_name: str | None) -> tuple[Config, Worker]:
    """Config and Worker module, loaded once per process per project (imports are the slow part)."""
    key = (path.resolve(), env_name)
    if key not in _loaded:
        from pyflows.runtime.config import load
        from pyflows.runtime.worker.loader import load_worker

        root = key[0]
        config_file = None
        if root.is_file():
            root, config_file = root.parent, Path(root.name)
        config = load(root, config_file, env_name)
        _loaded[key] = (config, load_worker(config))
    return _loaded[key]


class Project:
    """A loaded project on a fresh engine: `env`, `fetch`, `clock`, introspection, `reset`, `close`."""

    def __init__(self, config: Config, worker: Worker, engine: Engine, store: Store, env: Env, state_dir: Path) -> None:
        self.config, self.worker, self.engine, self.store, self.env = config, worker, engine, store, env
        self.state_dir = state_dir
        self.clock: TestClock = engine.clock  # type: ignore[assignment]
        self.hooks: TestHooks = engine.hooks  # type: ignore[assignment]
        self.triggers: Any = None
        self._closed = False

    @property
    def path(self) -> Path:
        return self.config.root

    def __repr__(self) -> str:
        return f"<Project {self.config.name} at {self.config.root}>"

    async def __aenter__(self) -> Project:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def fetch(
        self,
        path: str = "/",
        *,
        method: str = "GET",
        json: Any = _MISSING,
        body: str | bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """Call the Worker's fetch handler in-process (Cloudflare's `SELF.fetch`); returns its Response.

        `path` may be "/x?y=1" (host http://localhost) or a full URL. `json=` sends a JSON body with
        content-type application/json. An exception in the handler propagates to the test.
        """
        from pyflows.runtime.surface.http import Request

        hdrs = dict(headers or {})
        if json is not _MISSING:
            body = _json.dumps(json)
            hdrs.setdefault("content-type", "application/json")
        url = path if "://" in path else "http://localhost" + (path if path.startswith("/") else "/" + path)
        request = Request(url, method=method, headers=list(hdrs.items()), body=body)
        return await self.worker.fetch(request, self.env)

    async def scheduled(self, cron: str, scheduled_time: int | None = None) -> dict[str, Any]:
        """Run the Worker's `scheduled()` once for `cron` (epoch ms `scheduled_time`, default now), as
        `pyflows dev`'s test route `/cdn-cgi/handler/scheduled` does; returns what that route reports."""
        result: dict[str, Any] = await self.triggers.scheduled(cron, scheduled_time)
        return result

    def introspect_workflow_instance(self, binding: Any, instance_id: str) -> WorkflowInstanceIntrospector:
        """`pyflows.testing.introspect_workflow_instance`; `binding` may also be its name ("MY_WORKFLOW")."""
        return introspect_workflow_instance(self._binding(binding), instance_id)

    def introspect_workflow(self, binding: Any) -> WorkflowIntrospector:
        """`pyflows.testing.introspect_workflow`; `binding` may also be its name ("MY_WORKFLOW")."""
        return introspect_workflow(self._binding(binding))

    def _binding(self, binding: Any) -> Any:
        if isinstance(binding, str):
            return getattr(self.env, binding)  # AttributeError naming what is defined
        return binding

    async def run_until_idle(self, *, timeout: float | None = None) -> None:
        await self.clock.run_until_idle(timeout=timeout)

    async def advance(self, duration: Any) -> None:
        await self.clock.advance(duration)

    async def reset(self) -> None:
        """Forget everything this test did: dispose introspection, delete every instance of every workflow."""
        for session in list(self.hooks.sessions.values()):
            await session.dispose()
        for handle in list(self.hooks.handles.values()):
            await handle.dispose()
        for workflow in self.engine.specs:
            await self.engine.delete_all(workflow)

    async def close(self) -> None:
        """Stop the engine (instances still running are abandoned with the storage), delete the storage."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.triggers is not None:
                await self.triggers.close()
            await self.engine.close()
        finally:
            await self.store.close()
            shutil.rmtree(self.state_dir, ignore_errors=True)


async def open_project(path: str | Path = ".", *, env: str | None = None) -> Project:
    """Open the project at `path` (a directory with a wrangler config, or the config file itself).

    `env` selects `env.<name>` of the config, like `--env`. Raises the config's ConfigError or the
    Worker's UserCodeError, as `pyflows dev` would report them.
    """
    from pyflows.runtime.bindings import build_storage_bindings
    from pyflows.runtime.storage.store import Store
    from pyflows.runtime.triggers import Triggers
    from pyflows.runtime.worker.loader import build_env
    from pyflows.runtime.workflows.engine import Engine, EngineOptions

    config, worker = _load(Path(path), env)
    state_dir = Path(tempfile.mkdtemp(prefix="pyflows-test-", dir=_scratch_dir()))
    await _seed(state_dir / "state")
    store = await Store.open(state_dir / "state")
    hooks, clock = TestHooks(), TestClock()
    try:
        engine = Engine(
            store,
            worker.specs(config),
            EngineOptions(
                cpu_ms=config.cpu_ms,
                implicit_dependencies=config.implicit_dependencies,
                hooks=hooks,
                clock=clock,
            ),
        )
        hooks.engine = clock.engine = engine
        # Queue producers and consumers, Durable Objects, service bindings: as `pyflows dev` builds them
        # (crons run only when the test calls `project.scheduled()`).
        triggers = Triggers(config, worker, state_dir=state_dir / "state", run_crons=False)
        project_env = build_env(config, engine, triggers)
        # KV, D1 and R2 in this test's own directory, not the project's .wrangler/state.
        project_env.update(build_storage_bindings(config, persist_to=state_dir / "bindings"))
        engine.env = project_env
        await engine.start()
        await triggers.start(project_env, engine)
    except BaseException:
        await store.close()
        shutil.rmtree(state_dir, ignore_errors=True)
        raise
    project = Project(config, worker, engine, store, project_env, state_dir)
    project.triggers = triggers
    return project


class SyncResponse:
    """The Worker's Response for sync tests: `.status`, `.headers`, `.body`, `.text()`, `.json()`."""

    def __init__(self, response: Response) -> None:
        self.status = response.status
        self.headers = response.headers
        self.body: bytes = response.body or b""

    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return _json.loads(self.body)

    def __repr__(self) -> str:
        return f"<SyncResponse {self.status} {self.body[:80]!r}>"


class Blocking:
    """Wraps an async handle for sync tests: its coroutine methods block; `with` disposes it."""

    def __init__(self, target: Any, runner: asyncio.Runner) -> None:
        self._target, self._runner = target, runner

    def __repr__(self) -> str:
        return f"<blocking {self._target!r}>"

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not inspect.iscoroutinefunction(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            return _wrap(self._runner.run(value(*args, **kwargs)), self._runner)

        return call

    def __enter__(self) -> Blocking:
        return self

    def __exit__(self, *exc: object) -> None:
        self._runner.run(self._target.dispose())


def _wrap(result: Any, runner: asyncio.Runner) -> Any:
    if isinstance(result, WorkflowInstanceIntrospector | WorkflowIntrospector):
        return Blocking(result, runner)
    if isinstance(result, list) and result and isinstance(result[0], WorkflowInstanceIntrospector):
        return [Blocking(r, runner) for r in result]
    return result


class SyncProject:
    """`pyflows_project` in a plain `def` test: the engine runs only while a call blocks.

    resp = project.fetch("/?name=Alice")                    # SyncResponse
    with project.introspect_workflow_instance("MY_WORKFLOW", "id-1") as instance:
        instance.modify(lambda m: m.disable_sleeps())
        project.create("MY_WORKFLOW", id="id-1", params={...})
        instance.wait_for_status("complete")
    project.run(lambda: project.env.MY_WORKFLOW.get("id-1"))   # any binding call
    """

    def __init__(self, project: Project, runner: asyncio.Runner) -> None:
        self.project, self._runner = project, runner
        self.env, self.config, self.engine, self.clock = project.env, project.config, project.engine, project.clock

    def __repr__(self) -> str:
        return f"<SyncProject {self.config.name}>"

    def run(self, work: Awaitable[Any] | Callable[[], Any]) -> Any:
        """Run a coroutine, or call `work()` inside the loop and await what it returns (binding calls)."""

        async def go() -> Any:
            result = work() if callable(work) else work
            return await result if inspect.isawaitable(result) else result

        return _wrap(self._runner.run(go()), self._runner)

    def fetch(self, path: str = "/", **kwargs: Any) -> SyncResponse:
        return SyncResponse(self._runner.run(self.project.fetch(path, **kwargs)))

    def create(self, binding: str, id: str | None = None, params: Any = None) -> str:
        """Create an instance through `env.<binding>.create(...)`; returns its id."""

        async def go() -> str:
            instance = await getattr(self.env, binding).create(
                {k: v for k, v in (("id", id), ("params", params)) if v is not None}
            )
            return str(instance.id)

        return self._runner.run(go())

    def introspect_workflow_instance(self, binding: Any, instance_id: str) -> Any:
        return Blocking(self.project.introspect_workflow_instance(binding, instance_id), self._runner)

    def introspect_workflow(self, binding: Any) -> Any:
        return Blocking(self.project.introspect_workflow(binding), self._runner)

    def advance(self, duration: Any) -> None:
        self._runner.run(self.project.advance(duration))

    def run_until_idle(self, *, timeout: float | None = None) -> None:
        self._runner.run(self.project.run_until_idle(timeout=timeout))

    def reset(self) -> None:
        self._runner.run(self.project.reset())

    def scheduled(self, cron: str, scheduled_time: int | None = None) -> dict[str, Any]:
        return self._runner.run(self.project.scheduled(cron, scheduled_time))


def find_project(start: Path, stop: Path) -> Path:
    """The nearest directory from `start` up to `stop` holding a wrangler config; else `stop`."""
    from pyflows.runtime.config import CONFIG_FILE_NAMES

    here = start.resolve()
    stop = stop.resolve()
    while True:
        if any((here / name).is_file() for name in CONFIG_FILE_NAMES):
            return here
        if here == stop or here.parent == here:
            return stop
        here = here.parent


__all__ = ["Project", "SyncProject", "SyncResponse", "find_project", "open_project"]


def _scratch_dir() -> str | None:
    """Where per-test storage goes: $PYFLOWS_TEST_TMPDIR, else RAM-backed /dev/shm when there is one (creating
    and deleting a SQLite database there costs ~1 ms instead of tens of ms on a busy disk), else the default."""
    import os

    chosen = os.environ.get("PYFLOWS_TEST_TMPDIR")
    if chosen:
        return chosen
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        return "/dev/shm"
    return None


# An empty database with every migration applied, copied into each new state directory: opening a
# store then skips creating the schema (half of what opening one costs; bench/testing_bench.py).
_template: Path | None = None


async def _seed(state: Path) -> None:
    """Put the template database into the new state directory `state` (made once per process)."""
    global _template
    if _template is None:
        import atexit

        from pyflows.runtime.storage.store import Store
        from pyflows.runtime.workflows.engine import Engine

        directory = Path(tempfile.mkdtemp(prefix="pyflows-test-template-", dir=_scratch_dir()))
        atexit.register(shutil.rmtree, directory, True)
        store = await Store.open(directory / "state")
        try:
            await Engine(store, []).start()  # applies the migrations; no instance is ever written
        finally:
            await store.close()  # checkpoints the WAL into the database file
        _template = store.path
    state.mkdir(mode=0o700)
    target = state / _template.name
    shutil.copyfile(_template, target)
    target.chmod(0o600)
