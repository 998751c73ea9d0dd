"""Everything that starts a Worker besides `fetch`, for one dev server: the hub the runtime opens.

    triggers = Triggers(config, worker, state_dir=..., run_crons=False)
    env = build_env(config, engine, triggers)      # adds queue producers, DO namespaces, services
    await triggers.start(env, engine)              # queue consumers, DO alarms, workflow schedules,
                                                   # and (run_crons) triggers.crons on their schedule
    await triggers.scheduled(cron, scheduled_ms)   # the test routes: run scheduled() once
    await triggers.close()

`check_handlers(worker, config)` is the startup check (runtime/worker/loader.py calls it): crons
with no `scheduled()`, a consumer with no `queue()`, a Durable Object class missing or without a
migration, a service binding to an unknown Worker: UserCodeError naming the key, the value and the fix.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyflows.runtime.errors import UserCodeError

if TYPE_CHECKING:
    from pyflows.runtime.config import Config
    from pyflows.runtime.config.triggers import WorkflowSchedule
    from pyflows.runtime.worker.loader import Worker

__all__ = ["Triggers", "check_handlers"]


def check_handlers(worker: Worker, config: Config, session: tuple[str, ...] = ()) -> None:
    """Raise UserCodeError for a config that needs code the module lacks (see the module docstring).

    `session` names every Worker of the session (`pyflows dev -c a -c b`); bindings to them are checked
    when the session starts (Triggers.bindings)."""
    t = config.triggers
    session = session or (config.name, *(s.name for s in config.siblings))
    shown, cfg = worker.shown_main, config.path.name
    style = (
        "`async def {m}(self, {args})` on `class Default(WorkerEntrypoint)`"
        if worker.modern
        else "a global `def on_{m}({args_legacy})` (or the method on class Default)"
    )
    if t.crons and worker.handler("scheduled") is None:
        raise UserCodeError(
            f"{cfg}: triggers.crons is {list(t.crons)!r}, but {shown} has no scheduled handler. Add "
            + style.format(m="scheduled", args="controller, env, ctx", args_legacy="controller, env, ctx")
            + ", or remove triggers.crons."
        )
    if t.consumers and worker.handler("queue") is None:
        raise UserCodeError(
            f"{cfg}: queues.consumers[0].queue is {t.consumers[0].queue!r}, but {shown} has no queue handler. Add "
            + style.format(m="queue", args="batch", args_legacy="batch, env, ctx")
            + ", or remove the consumer."
        )
    classes: dict[str, type] = {}
    if t.durable_objects:  # imported only when used: every server start pays for what it imports
        from pyflows.runtime.bindings.durable_objects import durable_object_classes

        classes = durable_object_classes(worker.module)
    for i, d in enumerate(t.durable_objects):
        if d.script_name not in (None, config.name):
            if d.script_name not in session:
                raise UserCodeError(
                    f"{cfg}: durable_objects.bindings[{i}].script_name is {d.script_name!r}, but no Worker of that "
                    f"name runs in this session. Start it too: pyflows dev -c {cfg} -c <its folder>/wrangler.jsonc."
                )
            continue  # another Worker of the session defines it (checked when the session starts)
        if d.class_name not in classes:
            found = ", ".join(sorted(classes)) or "none"
            raise UserCodeError(
                f"{cfg}: durable_objects.bindings[{i}].class_name is {d.class_name!r}, but {shown} defines no "
                f"DurableObject subclass of that name (found: {found}). Define `class {d.class_name}(DurableObject)` "
                "(from workers import DurableObject), or fix class_name."
            )
        if d.class_name not in t.migrated_classes:
            raise UserCodeError(
                f"{cfg}: durable_objects.bindings[{i}].class_name {d.class_name!r} has no migration. Add "
                f'"migrations": [{{"tag": "v1", "new_sqlite_classes": ["{d.class_name}"]}}] to {cfg}.'
            )
    for i, s in enumerate(t.services):
        if s.service != config.name and s.service in session:
            continue  # another Worker of the session: its entrypoint is checked when the session starts
        if s.service != config.name:
            raise UserCodeError(
                f"{cfg}: services[{i}].service is {s.service!r}, but no Worker of that name runs in this session "
                f"(this Worker is {config.name!r}). Bind to {config.name!r}, or start the other Worker too: "
                f"pyflows dev -c {cfg} -c <other>/wrangler.jsonc."
            )
        entry = s.entrypoint or "Default"
        from pyflows.runtime.surface.entrypoints import WorkerEntrypoint

        obj = getattr(worker.module, entry, None)
        if not (isinstance(obj, type) and issubclass(obj, WorkerEntrypoint)):
            raise UserCodeError(
                f"{cfg}: services[{i}].entrypoint is {entry!r}, but {shown} defines no WorkerEntrypoint class "
                f"{entry}. Define `class {entry}(WorkerEntrypoint)` there, or fix entrypoint."
            )


class Triggers:
    """Owns the queue store, consumers, DO namespaces and cron runners of one server process, for every
    Worker of the session (the primary config and its `siblings`)."""

    def __init__(
        self,
        config: Config,
        worker: Worker,
        *,
        state_dir: Path,
        run_crons: bool = False,
        bindings_dir: Path | None = None,
    ) -> None:
        self.config = config
        self.worker = worker
        self.state_dir = state_dir
        self.bindings_dir = bindings_dir  # KV/D1/R2 data of the session's other Workers (None: the default)
        self.run_crons = run_crons
        self.workers: dict[str, tuple[Config, Worker]] = {config.name: (config, worker)}
        for sibling_config, sibling in zip(config.siblings, worker.siblings, strict=True):
            self.workers[sibling_config.name] = (sibling_config, sibling)
        self.envs: dict[str, Any] = {}
        self._queue_store: Any = None
        self._consumers: dict[str, Any] = {}
        self._namespaces: dict[str, Any] = {}
        self._closers: list[Any] = []

    @property
    def env(self) -> Any:
        return self.envs.get(self.config.name)

    # -- bindings -----------------------------------------------------------------------------------

    @property
    def queue_store(self) -> Any:
        if self._queue_store is None:
            from pyflows.runtime.bindings.queues import QueueStore

            self._queue_store = QueueStore.open(self.state_dir / "queues.sqlite")
        return self._queue_store

    def wake(self, queue: str) -> None:
        consumer = self._consumers.get(queue)
        if consumer is not None:
            consumer.wake()

    def _env_of(self, name: str) -> Callable[[], Any]:
        return lambda: self.envs.get(name)

    def bindings(self, config: Config) -> dict[str, Any]:
        """The env entries of Worker `config.name` for queues.producers, durable_objects.bindings, services."""
        t = config.triggers
        values: dict[str, Any] = {}
        for p in t.producers:
            from pyflows.runtime.bindings.queues import QueueProducerBinding

            values[p.binding] = QueueProducerBinding(
                self.queue_store, p.queue, delivery_delay=p.delivery_delay, on_send=self.wake
            )
        if t.durable_objects:
            from pyflows.runtime.bindings.durable_objects import DurableObjectNamespace, do_root, durable_object_classes

            root = do_root(self.state_dir, self.config.root)
            for i, d in enumerate(t.durable_objects):
                script = d.script_name or config.name
                key = f"{script}-{d.class_name}"
                ns = self._namespaces.get(key)
                if ns is None:
                    owner = self.workers[script][1]
                    classes = durable_object_classes(owner.module)
                    if d.class_name not in classes:
                        raise UserCodeError(
                            f"{config.path.name}: durable_objects.bindings[{i}] binds class {d.class_name!r} of "
                            f"Worker {script!r}, but {owner.shown_main} defines no DurableObject subclass of that name."
                        )
                    ns = DurableObjectNamespace(
                        classes[d.class_name], script=script, root=root, env_getter=self._env_of(script)
                    )
                    self._namespaces[key] = ns
                values[d.name] = ns
        if t.services:
            from pyflows.runtime.bindings.service import ServiceBinding
            from pyflows.runtime.surface.entrypoints import WorkerEntrypoint

            for i, s in enumerate(t.services):
                target = self.workers[s.service][1]
                entry = s.entrypoint or "Default"
                obj = getattr(target.module, entry, None)
                if not (isinstance(obj, type) and issubclass(obj, WorkerEntrypoint)):
                    raise UserCodeError(
                        f"{config.path.name}: services[{i}] binds entrypoint {entry!r} of Worker {s.service!r}, but "
                        f"{target.shown_main} defines no WorkerEntrypoint class {entry}."
                    )
                values[s.binding] = ServiceBinding(target, s.entrypoint, env_getter=self._env_of(s.service))
        return values

    def explorer_bindings(self, config: Config | None = None) -> dict[str, Any]:
        """`bindings.do` of the Local Explorer's `GET /local/workers` (its `local-explorer_do-binding` shape)."""
        config = config or self.config
        dos = [
            {
                "id": f"{d.script_name or config.name}-{d.class_name}",
                "bindingName": d.name,
                "className": d.class_name,
                "scriptName": d.script_name or config.name,
                "useSqlite": True,
            }
            for d in config.triggers.durable_objects
        ]
        return {"do": dos} if dos else {}

    def explorer_siblings(self) -> list[dict[str, Any]]:
        """The session's other Workers as `GET /local/workers` rows (`isSelf: false`)."""
        rows = []
        for cfg in self.config.siblings:
            workflows = [
                {
                    "id": w.name,
                    "bindingName": w.binding,
                    "className": w.class_name,
                    "scriptName": w.script_name or cfg.name,
                }
                for w in cfg.workflows
            ]
            bindings: dict[str, Any] = {"workflows": workflows, **self.explorer_bindings(cfg)}
            rows.append(
                {
                    "isSelf": False,
                    "name": cfg.name,
                    "bindings": bindings,
                    "triggers": {"crons": list(cfg.triggers.crons)},
                }
            )
        return rows

    # -- running ------------------------------------------------------------------------------------

    async def start(self, env: Any, engine: Any = None) -> None:
        """Build the other Workers' envs, then start consumers, alarms, crons and schedules."""
        from pyflows.runtime.surface import entrypoints
        from pyflows.runtime.worker.loader import build_env

        self.envs[self.config.name] = env
        for name, (cfg, _) in self.workers.items():
            if name != self.config.name:
                self.envs[name] = build_env(cfg, engine, self, persist_to=self.bindings_dir)
            if engine is not None:
                for wf in cfg.workflows:
                    if wf.script_name in (None, name):
                        engine.workflow_envs[wf.name] = self.envs[name]
        entrypoints.current_env = env  # build_env of a sibling set it: `workers.env` is the primary's
        schedules: list[WorkflowSchedule] = []
        crons: list[tuple[str, str]] = []
        for name, (cfg, worker) in self.workers.items():
            for c in cfg.triggers.consumers:
                from pyflows.runtime.triggers.queue_consumer import QueueConsumerLoop

                loop = QueueConsumerLoop(self.queue_store, c, self._deliver_to(worker, name))
                loop.on_dead_letter = self.wake
                self._consumers[c.queue] = loop
                loop.start()
            schedules.extend(cfg.triggers.workflow_schedules)
            crons.extend((name, cron) for cron in cfg.triggers.crons)
        for ns in self._namespaces.values():
            await ns.start()
        if self.run_crons and crons:
            from pyflows.runtime.triggers.cron import CronRunner

            for name in self.workers:
                mine = [cron for owner, cron in crons if owner == name]
                if mine:
                    runner = CronRunner(mine, self._scheduled_for(name))
                    runner.start()
                    self._closers.append(runner)
        if schedules and engine is not None:
            from pyflows.runtime.triggers.schedules import WorkflowScheduler

            scheduler = WorkflowScheduler(engine, schedules, self.state_dir)
            await scheduler.start()
            self._closers.append(scheduler)

    def _deliver_to(self, worker: Worker, name: str) -> Callable[[Any], Awaitable[None]]:
        async def deliver(batch: Any) -> None:
            await worker.queue(batch, self.envs[name])

        return deliver

    def _scheduled_for(self, name: str) -> Callable[[str, int], Awaitable[dict[str, Any]]]:
        async def fire(cron: str, when: int) -> dict[str, Any]:
            return await self.scheduled(cron, when, worker=name)

        return fire

    async def scheduled(
        self, cron: str, scheduled_time: int | None = None, *, worker: str | None = None
    ) -> dict[str, Any]:
        """Run a Worker's scheduled() once for `cron` (test routes and `pyflows dev --run-crons`)."""
        from pyflows.runtime.triggers.cron import fire

        name = worker or self.config.name
        return await fire(self.workers[name][1], self.envs.get(name), cron, scheduled_time)

    async def queue(self, queue: str, bodies: list[Any], *, worker: str | None = None) -> dict[str, Any]:
        """Deliver `bodies` as one batch to a Worker's queue() handler for consumer queue `queue`, at
        once and without storing them (pyflows.testing's `project.queue`; see queue_consumer.deliver_batch
        for the result). UserCodeError if no Worker of the session consumes `queue`."""
        from pyflows.runtime.triggers.queue_consumer import deliver_batch

        owners = {c.queue: n for n, (cfg, _) in self.workers.items() for c in cfg.triggers.consumers}
        if queue not in owners:
            listed = ", ".join(repr(q) for q in owners) or "none"
            raise UserCodeError(
                f"No Worker consumes queue {queue!r} (consumer queues: {listed}). Add "
                f'"queues": {{"consumers": [{{"queue": "{queue}"}}]}} to {self.config.path.name}, or fix the name.'
            )
        name = worker or owners[queue]
        return await deliver_batch(queue, list(bodies), self._deliver_to(self.workers[name][1], name))

    async def close(self) -> None:
        for closer in self._closers:
            await closer.close()
        self._closers = []
        for loop in self._consumers.values():
            await loop.close()
        self._consumers = {}
        for ns in self._namespaces.values():
            await ns.close()
        if self._queue_store is not None:
            self._queue_store.close()
            self._queue_store = None
