"""What one process hosts for a Worker: its `env`, the workflow engine and its store, the triggers.

    host = await Host.open(config, worker, state_dir=...)     # locks state_dir; resumes instances
    await host.worker.fetch(request, host.env)
    await host.close()

The dev server (`runtime.server.app.Runtime`) and pyflows.testing (`pyflows.testing.Project`) both
open their Worker through `Host.open`, so a test runs the Worker exactly as `pyflows dev` does; the
server adds what only HTTP needs (static assets, the Host check), the test project its own
in-memory store, test hooks and clock. Nothing here imports the web stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from pyflows.runtime.protocol.defaults import DEFAULT_MAX_CONCURRENCY

if TYPE_CHECKING:
    from pyflows.runtime.config import Config
    from pyflows.runtime.storage.store import Store
    from pyflows.runtime.triggers import Triggers
    from pyflows.runtime.worker.loader import Env, Worker
    from pyflows.runtime.workflows.engine import Engine
    from pyflows.runtime.workflows.hooks import Clock, EngineHooks

__all__ = ["Host"]


class Host:
    """A Worker's running state: `engine` (and its `store`), `worker`, `env`, `triggers`, `config`,
    `state_dir`."""

    def __init__(
        self,
        *,
        engine: Engine,
        worker: Worker | None,
        env: Env,
        name: str,
        store: Store | None = None,
        triggers: Triggers | None = None,
        config: Config | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.engine = engine
        self.worker = worker
        self.env = env
        self.name = name  # the Worker's name (`name` in its config)
        self.store = store
        self.triggers = triggers  # crons, queues, Durable Objects, services (runtime/triggers)
        self.config = config
        self.state_dir = state_dir
        self._closed = False

    @classmethod
    async def open(
        cls,
        config: Config,
        worker: Worker,
        *,
        state_dir: Path,
        store: Store | None = None,
        bindings_dir: Path | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        run_crons: bool = False,
        hooks: EngineHooks | None = None,
        clock: Clock | None = None,
        lock_owner_pid: int | None = None,
        **fields: Any,
    ) -> Self:
        """Start the Worker's engine and triggers on `store`, or on a Store opened in `state_dir`
        (which locks it: StateLockedError if another server holds it).

        `state_dir` also holds queues, Durable Object storage and workflow schedules; KV, D1 and R2
        data live in `bindings_dir` (default: Wrangler's layout under the project, or
        $PYFLOWS_BINDINGS_PERSIST_TO). The engine resumes every in-flight instance of the store.
        `lock_owner_pid` is the pid the state directory's lock names (Store.open). `hooks`/`clock`
        are the engine's test seams (runtime/workflows/hooks.py); `fields` go to the constructor of a
        subclass. The store is closed again if starting fails.
        """
        from pyflows.runtime.storage.store import Store
        from pyflows.runtime.triggers import Triggers
        from pyflows.runtime.worker.loader import build_env
        from pyflows.runtime.workflows.engine import Engine, EngineOptions

        specs = worker.specs(config)
        if store is None:
            state_dir.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            store = await Store.open(state_dir, owner_pid=lock_owner_pid)
        engine: Engine | None = None
        try:
            engine = Engine(
                store,
                specs,
                EngineOptions(
                    max_concurrency=max_concurrency,
                    cpu_ms=config.cpu_ms,
                    implicit_dependencies=config.implicit_dependencies,
                    hooks=hooks,
                    clock=clock,
                ),
            )
            triggers = Triggers(config, worker, state_dir=state_dir, run_crons=run_crons, bindings_dir=bindings_dir)
            env = build_env(config, engine, triggers, persist_to=bindings_dir)
            engine.env = env
            await engine.start()
            await triggers.start(env, engine)
        except BaseException:
            try:
                if engine is not None:
                    await engine.close()
            finally:
                await store.close()
            raise
        return cls(
            engine=engine,
            worker=worker,
            env=env,
            name=config.name,
            store=store,
            triggers=triggers,
            config=config,
            state_dir=state_dir,
            **fields,
        )

    async def close(self) -> None:
        """Stop the triggers and the engine (running steps are interrupted; they resume at the next
        start on the same store), then close the store. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.triggers is not None:
                await self.triggers.close()
            await self.engine.close()
        finally:
            if self.store is not None:
                await self.store.close()
