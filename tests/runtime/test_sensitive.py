"""`config={"sensitive": "output"}`: the output reaches `run`, but the API (and so the CLI) shows "[REDACTED]"."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from pyflows.runtime.server.app import Runtime, create_app
from pyflows.runtime.server.explorer.routes import API_PREFIX
from pyflows.runtime.storage.store import Store
from pyflows.runtime.surface.entrypoints import WorkflowEntrypoint
from pyflows.runtime.worker.loader import Env
from pyflows.runtime.workflows.engine import Engine, EngineOptions, WorkflowSpec
from pyflows.runtime.workflows.step_config import resolve_config

pytestmark = pytest.mark.anyio


class Secretive(WorkflowEntrypoint):
    async def run(self, event: Any, step: Any) -> Any:
        @step.do("token", config={"sensitive": "output"})
        async def token() -> dict[str, str]:
            return {"api_key": "sk-live-123"}

        @step.do("public")
        async def public() -> str:
            return "shown"

        got = await token()
        await public()
        return {"key_length": len(got["api_key"])}  # run saw the real value


async def test_a_sensitive_step_output_is_redacted_in_the_api_but_reaches_run(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "state")
    spec = WorkflowSpec(name="secretive", binding="S", class_name="Secretive", script_name="w", cls=Secretive)
    engine = Engine(store, [spec], EngineOptions())
    engine.env = Env({})
    await engine.start()
    runtime = Runtime(engine=engine, worker=None, env=engine.env, name="w", store=store)
    try:
        iid = await engine.create("secretive")
        assert (await engine.wait_for("secretive", iid))["output"] == {"key_length": 11}
        transport = httpx.ASGITransport(app=create_app(runtime))
        async with httpx.AsyncClient(transport=transport, base_url=f"http://localhost:8787{API_PREFIX}") as api:
            for _ in range(100):
                body = (await api.get(f"/workflows/secretive/instances/{iid}")).json()["result"]
                if body["status"] == "complete":
                    break
                await asyncio.sleep(0.01)
        steps = {s["name"]: s for s in body["steps"]}
        assert steps["token-1"]["output"] == "[REDACTED]"
        assert steps["token-1"]["config"]["sensitive"] == "output"
        assert steps["public-1"]["output"] == "shown"
        assert "sk-live-123" not in str(body)
    finally:
        await runtime.close()


def test_sensitive_takes_only_output() -> None:
    assert resolve_config({"sensitive": "output"})["sensitive"] == "output"
    assert "sensitive" not in resolve_config({"timeout": 1000})
    with pytest.raises(ValueError, match="sensitive must be \"output\", got 'input'"):
        resolve_config({"sensitive": "input"})
