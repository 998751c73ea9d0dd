"""Fixtures for the `pyflows workflows` tests: the stand-in management API on a free port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from standin import StandIn


@pytest.fixture(scope="module")
def server() -> Iterator[StandIn]:
    standin = StandIn().start()
    yield standin
    standin.stop()


@pytest.fixture
def api(server: StandIn) -> StandIn:
    server.state.reset()
    return server
