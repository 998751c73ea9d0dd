"""The async fixture behind `pyflows_project` under pytest-asyncio (registered only when it is enabled)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from pyflows.testing.plugin import open_for


@pytest_asyncio.fixture
async def _pyflows_project_asyncio(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    async for project in open_for(request):
        yield project
