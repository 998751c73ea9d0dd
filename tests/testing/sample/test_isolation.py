"""Each test has its own engine and storage: the same id in two tests, and nothing left running leaks."""

from __future__ import annotations

import pytest
from pyflows.runtime.errors import InstanceNotFoundError

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("run", [1, 2])
async def test_same_instance_id_in_two_tests(pyflows_project, run):
    env = pyflows_project.env
    with pytest.raises(InstanceNotFoundError):
        await env.ORDER.get("shared-id")  # the other run's instance is not here
    instance = await env.ORDER.create(id="shared-id", params={"amount": run})
    assert instance.id == "shared-id"
    # left sleeping on purpose: the next test must not see it


async def test_storage_is_a_fresh_temporary_directory(pyflows_project):
    state = pyflows_project.state_dir
    assert state.exists() and "pyflows-test-" in state.name
    assert await pyflows_project.engine.list_instances("order") == ([], 0)


@pytest.mark.parametrize("run", [1, 2])
async def test_kv_is_isolated_per_test(pyflows_project, run):
    cache = pyflows_project.env.CACHE
    assert await cache.get("seen") is None  # the other run's value is not here
    await cache.put("seen", str(run))
    assert await cache.get("seen") == str(run)
    assert not (pyflows_project.path / ".wrangler").exists()  # nothing written into the project
