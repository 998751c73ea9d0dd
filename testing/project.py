"""A project under test: the Worker and its Workflows on a real engine, in-process, with its own storage.

    async with open_project("path/to/project") as project:      # or the `pyflows_project` fixture
        resp = await project.fetch("/?name=Alice")               # the Worker's fetch handler (SELF.fetch)
        instance = await project.env.MY_WORKFLOW.create(params={"name": "Bob"})
        await project.clock.advance("1 hour")
        await project.reset()                                    # every instance and session gone

The config (wrangler.jsonc / .json / .toml) is loaded as `pyflows dev` loads it, including vars and
.dev.vars, and the Worker is opened the way `pyflows dev` opens it (`runtime.worker.host.Host`); the
Worker module is imported once per process and reused (each project gets fresh storage, not a fresh
import). No port, no subprocess. Storage: the workflow engine's database is in memory (a fresh
empty one per project), and queues, Durable Objects and KV/D1/R2 data go to the project's own
`state_dir`, created when first written and removed on close. `SyncProject` is the same for plain
`def` tests: every method blocks.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import itertools
import json as _json
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pyflows.runtime.errors import PyflowsError
from pyflows.runtime.storage.store import MemoryStores
from pyflows.runtime.worker.host import Host
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
    from pyflows.runtime.surface.http import Response
    from pyflows.runtime.triggers import Triggers
    from pyflows.runtime.worker.loader import Worker

T = TypeVar("T")
_MISSING: Any = object()
_loaded: dict[tuple[Path, str | None], tuple[Config, Worker]] = {}


def _load(path: Path, env_name: str | None) -> tuple[Config, Worker]:
    """Config and Worker module, loaded once per process per project (imports are the slow part).

    Looked up by the absolute path first (the fixture passes the same one for every test), so the
    common case costs no filesystem calls."""
    key = (path.absolute(), env_name)
    if key not in _loaded:
        resolved = (path.resolve(), env_name)
        if resolved not in _loaded:
            from pyflows.runtime.config import load
            from pyflows.runtime.worker.loader import load_worker

            root = resolved[0]
            config_file = None
            if root.is_file():
                root, config_file = root.parent, Path(root.name)
            config = load(root, config_file, env_name)
            _loaded[resolved] = (config, load_worker(config))
            # What is loaded now (pyflows, the Worker and what it imports) stays for the whole run:
            # move it out of the cyclic collector's way, or every collection in every later test
            # (and pytest's own gc.collect at the end) walks all of it again.
            import gc

            gc.freeze()
        _loaded[key] = _loaded[resolved]
    return _loaded[key]


class Project(Host):
    """A loaded project on a fresh engine: `env`, `fetch`, `clock`, introspection, `reset`, `close`.

    A `runtime.worker.host.Host` (`engine`, `store`, `worker`, `env`, `triggers`, `config`) opened
    on an in-memory store with the test hooks and clock; `state_dir` holds the rest of its storage.
    """

    config: Config
    worker: Worker
    triggers: Triggers
    state_dir: Path  # created by the first binding that writes (queues, DO, KV/D1/R2): Wrangler's --persist-to layout

    @property
    def clock(self) -> TestClock:
        clock: TestClock = self.engine.clock  # type: ignore[assignment]
        return clock

    @property
    def hooks(self) -> TestHooks:
        hooks: TestHooks = self.engine.hooks  # type: ignore[assignment]
        return hooks

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

    async def queue(self, queue: str, bodies: list[Any]) -> dict[str, Any]:
        """Deliver `bodies` as one batch to the Worker's `queue()` handler for consumer queue `queue`,
        now, without the queue's batching (Cloudflare's `SELF.queue(queueName, messages)`). Bodies are
        encoded as a producer's `send()` encodes them; each message gets a fresh id and attempts 1.

        Returns `{"outcome": "ok" | "exception", "error": None | {"name", "message"},
        "messages": [{"id", "outcome": "ack" | "retry", "delaySeconds"}, ...]}` in body order: what
        the handler decided (its ack()/retry(), else ack on return, retry when it raised; the
        exception is printed, as Cloudflare reports it, instead of raised). UserCodeError if no
        consumer of `queue` is configured.
        """
        result: dict[str, Any] = await self.triggers.queue(queue, bodies)
        return result

    async def apply_d1_migrations(self, binding: Any) -> list[str]:
        """Apply the pending migrations of D1 database `binding` (its name, e.g. "DB", or `env.DB`) to
        this test's copy: the `.sql` files of its `migrations_dir`, in name order, each in one
        transaction and recorded in its `migrations_table`, by the same code as `pyflows d1 migrations
        apply --local`. Returns the names applied. Cloudflare: the test harness's
        `applyD1Migrations(binding)`. D1Error naming the migration if one fails."""
        from pyflows.runtime.bindings.d1 import D1Database, applied_migrations, apply_migration, migration_files

        db = self._storage_binding(binding, D1Database, "d1_databases", "apply_d1_migrations")
        entry = next(d for d in self.config.d1_databases if d.binding == db.binding)
        folder = self.config.root / entry.migrations_dir
        pending = [n for n in migration_files(folder) if n not in applied_migrations(db.store, entry.migrations_table)]
        for name in pending:
            apply_migration(db.store, folder, name, entry.migrations_table)
        return pending

    async def seed_kv(self, binding: Any, entries: dict[str, str | bytes]) -> None:
        """Put every `key: value` of `entries` (str or bytes values) into KV namespace `binding` (its
        name or the binding), as `await env.<binding>.put(key, value)` would."""
        from pyflows.runtime.bindings.kv import KVNamespace

        kv = self._storage_binding(binding, KVNamespace, "kv_namespaces", "seed_kv")
        for key, value in entries.items():
            await kv.put(key, value)

    async def seed_r2(self, binding: Any, objects: dict[str, str | bytes]) -> None:
        """Put every `key: body` of `objects` (str or bytes bodies) into R2 bucket `binding` (its name or
        the binding), as `await env.<binding>.put(key, body)` would."""
        from pyflows.runtime.bindings.r2 import R2Bucket

        bucket = self._storage_binding(binding, R2Bucket, "r2_buckets", "seed_r2")
        for key, body in objects.items():
            await bucket.put(key, body)

    def _storage_binding(self, binding: Any, kind: type[T], key: str, what: str) -> T:
        """`binding` (a name or the binding object) as a binding of class `kind`; IntrospectionError
        naming the configured ones (`key` of the config) otherwise."""
        from pyflows.testing.modifiers import IntrospectionError

        value = getattr(self.env, binding, None) if isinstance(binding, str) else binding
        if isinstance(value, kind):
            return value
        names = [b.binding for b in getattr(self.config, key)]
        listed = ", ".join(repr(n) for n in names) or f"none (add `{key}` to {self.config.path.name})"
        raise IntrospectionError(f"{what}: {binding!r} is not one of this Worker's {key} bindings: {listed}.")

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
        """Stop the engine (instances still running are abandoned with the storage), delete the storage.

        RunDidNotStopError if a run did not end within 5 s of being cancelled (its code swallows
        asyncio.CancelledError): it is still running on this event loop, and closing the loop would
        wait for it forever."""
        try:
            await super().close()
        finally:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        if self.engine.stuck:
            raise RunDidNotStopError(" ".join(self.engine.stuck))


class RunDidNotStopError(PyflowsError):
    """A workflow run went on after being cancelled at the end of a test (see Project.close): the
    message names the instance and the step, one sentence per run."""


async def open_project(path: str | Path = ".", *, env: str | None = None) -> Project:
    """Open the project at `path` (a directory with a wrangler config, or the config file itself).

    `env` selects `env.<name>` of the config, like `--env`. Raises the config's ConfigError or the
    Worker's UserCodeError, as `pyflows dev` would report them.
    """
    config, worker = _load(Path(path), env)
    state_dir = _scratch() / str(next(_numbers))
    hooks, clock = TestHooks(), TestClock()
    project = await Project.open(
        config,
        worker,
        state_dir=state_dir,
        store=await _stores.open(),
        bindings_dir=state_dir,  # KV, D1 and R2 here too, not in the project's .wrangler/state
        run_crons=False,  # crons run only when the test calls `project.scheduled()`
        hooks=hooks,
        clock=clock,
    )
    hooks.engine = clock.engine = project.engine
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
        self.env, self.config, self.engine = project.env, project.config, project.engine
        self.store, self.worker, self.triggers = project.store, project.worker, project.triggers
        # The test clock with blocking `advance` and `run_until_idle` (its async ones would return a
        # coroutine here, and the clock would silently not move); `freeze`, `now_ms` as they are.
        self.clock: Any = Blocking(project.clock, runner)

    def __repr__(self) -> str:
        return f"<SyncProject {self.config.name}>"

    @property
    def state_dir(self) -> Path:
        return self.project.state_dir

    def run(self, work: Awaitable[Any] | Callable[[], Any]) -> Any:
        """Run a coroutine, or call `work()` inside the loop and await what it returns (binding calls)."""

        async def go() -> Any:
            result = work() if callable(work) else work
            return await result if inspect.isawaitable(result) else result

        return _wrap(self._runner.run(go()), self._runner)

    def fetch(self, path: str = "/", **kwargs: Any) -> SyncResponse:
        return SyncResponse(self._runner.run(self.project.fetch(path, **kwargs)))

    def create(self, binding: Any, id: str | None = None, params: Any = None) -> str:
        """Create an instance through `env.<binding>.create(...)` (`binding`: the binding or its name,
        "MY_WORKFLOW"); returns its id."""

        async def go() -> str:
            instance = await self.project._binding(binding).create(
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

    def queue(self, queue: str, bodies: list[Any]) -> dict[str, Any]:
        return self._runner.run(self.project.queue(queue, bodies))

    def apply_d1_migrations(self, binding: Any) -> list[str]:
        return self._runner.run(self.project.apply_d1_migrations(binding))

    def seed_kv(self, binding: Any, entries: dict[str, str | bytes]) -> None:
        self._runner.run(self.project.seed_kv(binding, entries))

    def seed_r2(self, binding: Any, objects: dict[str, str | bytes]) -> None:
        self._runner.run(self.project.seed_r2(binding, objects))


@functools.cache  # asked once per test; the answer holds for the session
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


# Each test's workflow store: an in-memory database, emptied when the test ends and reused by the next.
_stores = MemoryStores()
_numbers = itertools.count(1)
_scratch_root: Path | None = None


def _scratch() -> Path:
    """This process's private directory (0700, removed at exit) for the projects' state directories:
    in $PYFLOWS_TEST_TMPDIR, else on RAM-backed /dev/shm when there is one, else the default temp dir."""
    global _scratch_root
    if _scratch_root is None:
        import atexit
        import os
        import tempfile

        parent = os.environ.get("PYFLOWS_TEST_TMPDIR")
        if not parent and os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
            parent = "/dev/shm"
        _scratch_root = Path(tempfile.mkdtemp(prefix="pyflows-test-", dir=parent or None))
        atexit.register(shutil.rmtree, _scratch_root, True)
    return _scratch_root
