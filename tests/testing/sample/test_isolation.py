"""Each test has its own engine and storage: the same id in two tests, and nothing left running leaks."""

from __future__ import annotations

import pytest
from pyflows.runtime.errors import InstanceNotFoundError
from pyflows.testing import open_project

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("run", [1, 2])
async def test_same_instance_id_in_two_tests(pyflows_project, run):
    env = pyflows_project.env
    with pytest.raises(InstanceNotFoundError):
        await env.ORDER.get("shared-id")  # the other run's instance is not here
    instance = await env.ORDER.create(id="shared-id", params={"amount": run})
    assert instance.id == "shared-id"
    # left sleeping on purpose: the next test must not see it


async def test_storage_is_fresh_and_private(pyflows_project):
    assert await pyflows_project.engine.list_instances("order") == ([], 0)
    state = pyflows_project.state_dir
    assert not state.is_relative_to(pyflows_project.path)  # never the project's own .wrangler/.pyflows
    assert state.parent.stat().st_mode & 0o777 == 0o700  # the test process's private scratch directory
    await pyflows_project.env.CACHE.put("k", "v")
    assert any(state.rglob("*"))  # KV data went to this test's state directory


async def test_close_removes_the_state_directory(pyflows_project):
    project = await open_project(pyflows_project.path)
    await project.env.CACHE.put("k", "v")
    assert project.state_dir.exists() and project.state_dir != pyflows_project.state_dir
    await project.close()
    assert not project.state_dir.exists()


@pytest.mark.parametrize("run", [1, 2])
async def test_kv_is_isolated_per_test(pyflows_project, run):
    cache = pyflows_project.env.CACHE
    assert await cache.get("seen") is None  # the other run's value is not here
    await cache.put("seen", str(run))
    assert await cache.get("seen") == str(run)
    assert not (pyflows_project.path / ".wrangler").exists()  # nothing written into the project
