"""pytest imports the plugin in every project that has pyflows installed: it must stay cheap."""

from __future__ import annotations

import subprocess
import sys

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
