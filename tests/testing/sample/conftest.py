from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def calls(pyflows_project: Any) -> list[str]:
    """The sample Worker's record of real step executions (the module is shared by every test)."""
    module = (pyflows_project.project if hasattr(pyflows_project, "project") else pyflows_project).worker.module
    module.CALLS.clear()
    module.STEP_NAMES.clear()
    module.STEP_NAMES["second"] = "second"
    return module.CALLS  # type: ignore[no-any-return]
