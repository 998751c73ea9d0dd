"""Build real engines (real SQLite on tmp_path) around workflow classes defined in a test."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from pyflows.runtime.sdk import SHIM_DIR

if str(SHIM_DIR) not in sys.path:
    sys.path.insert(0, str(SHIM_DIR))  # `import workers` as user code does

from pyflows.runtime.storage.store import Store  # noqa: E402
from pyflows.runtime.surface.values import JsDict  # noqa: E402
from pyflows.runtime.workflows.binding import WorkflowBinding  # noqa: E402
from pyflows.runtime.workflows.engine import Engine, EngineOptions, WorkflowSpec  # noqa: E402


def kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


class EngineFactory:
    """`await make(WfA, WfB, max_steps=..., memory=False, **EngineOptions)` → started Engine; closed at teardown."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.opened: list[tuple[Engine, Store]] = []

    async def __call__(
        self,
        *classes: type,
        state: str = "state",
        memory: bool = False,
        max_steps: int = 10_000,
        concurrency_limits: dict[str, int] | None = None,
        **options: Any,
    ) -> Engine:
        # memory: a new in-memory store, as pyflows.testing gives each test (known to be empty)
        store = await Store.open_memory() if memory else await Store.open(self.tmp_path / state)
        specs = [
            WorkflowSpec(
                name=kebab(c.__name__),
                binding=kebab(c.__name__).upper().replace("-", "_"),
                class_name=c.__name__,
                script_name="test-worker",
                cls=c,
                max_steps=max_steps,
                concurrency_limit=(concurrency_limits or {}).get(kebab(c.__name__)),
            )
            for c in classes
        ]
        options.setdefault("hibernate_after_ms", 60_000)
        engine = Engine(store, specs, EngineOptions(**options))
        engine.env = JsDict({s.binding: WorkflowBinding(engine, s.name) for s in specs})
        await engine.start()
        self.opened.append((engine, store))
        return engine

    async def reopen(self, engine: Engine, *classes: type, **kwargs: Any) -> Engine:
        """Simulate a process restart: close this engine and its store, open a new one on the same dir."""
        await self.close_one(engine)
        return await self(*classes, **kwargs)

    async def close_one(self, engine: Engine) -> None:
        for i, (e, store) in enumerate(self.opened):
            if e is engine:
                await e.close()
                await store.close()
                del self.opened[i]
                return

    async def close(self) -> None:
        for engine, store in self.opened:
            await engine.close()
            await store.close()
        self.opened.clear()


async def api_details(engine: Engine, workflow: str, instance_id: str) -> dict[str, Any]:
    """`engine.describe` as the Local Explorer API shows it (Wrangler's JSON shape)."""
    from pyflows.runtime.server.explorer.present import instance_details

    return instance_details(await engine.describe(workflow, instance_id))
