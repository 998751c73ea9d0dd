"""pytest imports the plugin in every project that has pyflows installed: it must stay cheap."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

HEAVY = ("aiosqlite", "sqlite3", "jsonschema", "starlette", "httpx", "uvicorn", "rich", "pyflows.runtime.workflows")


def test_importing_the_plugin_and_the_public_api_loads_nothing_heavy() -> None:
    code = (
        "import sys, pyflows.testing, pyflows.testing.plugin\n"
        "from pyflows.testing import introspect_workflow, introspect_workflow_instance\n"
        f"print(sorted(m for m in sys.modules if m.startswith({HEAVY!r})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_public_names_resolve() -> None:
    import pyflows.testing as api

    for name in api.__all__:
        assert getattr(api, name) is not None, name


def test_a_test_run_imports_no_web_stack(tmp_path: Path) -> None:
    """The fixture's path (open a project, run a workflow, close) never loads the HTTP server, nor
    what only other Workers need (aiosqlite for on-disk state, greenlet for `run_sync`, the ASGI and
    WSGI adapters): each module is paid for in the first test of every run."""
    sample = Path(__file__).parent / "sample"
    code = textwrap.dedent(
        f"""
        import asyncio, sys
        from pyflows.testing import introspect_workflow_instance, open_project

        async def main():
            project = await open_project({str(sample)!r})
            async with introspect_workflow_instance(project.env.ORDER, "o") as instance:
                await instance.modify(lambda m: (
                    m.disable_sleeps(), m.mock_event({{"type": "approval", "payload": {{"ok": True}}}})
                ))
                await project.env.ORDER.create(id="o")
                await instance.wait_for_status("complete")
            await project.close()

        asyncio.run(main())
        web = ("starlette", "uvicorn", "httpx", "pyflows.runtime.server", "aiosqlite", "greenlet",
               "pyflows.runtime.surface.asgi", "pyflows.runtime.surface.wsgi", "pyflows.runtime.surface.stack")
        print(sorted(m for m in sys.modules if m.startswith(web)))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
