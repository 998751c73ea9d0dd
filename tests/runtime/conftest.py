from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from engine_helpers import EngineFactory


@pytest.fixture
async def make_engine(tmp_path: Path) -> AsyncIterator[EngineFactory]:
    factory = EngineFactory(tmp_path)
    yield factory
    await factory.close()
