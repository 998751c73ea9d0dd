"""`pyflows.testing`: unit-test Workflows with pytest, on the real engine, in-process.

The pytest plugin (registered through the `pytest11` entry point as `pyflows`; disable it with
`-p no:pyflows`) provides the `pyflows_project` fixture. The functions and classes below are the
public API; they copy Cloudflare's `cloudflare:test` Workflows API (@cloudflare/vitest-plugin:
`introspectWorkflowInstance`, `introspectWorkflow`, the instance modifier and waiters) in snake_case.

    async def test_approval(pyflows_project):
        env = pyflows_project.env
        async with introspect_workflow_instance(env.APPROVAL_WORKFLOW, "req-1") as instance:
            await instance.modify(lambda m: m.mock_event({"type": "approval", "payload": {"approved": True}}))
            await env.APPROVAL_WORKFLOW.create(id="req-1", params={"title": "Laptop"})
            assert (await instance.get_output())["decision"] == "approved"

This module is imported by pytest at start-up in every project that has pyflows installed, so it
imports nothing heavy: the engine is imported when a fixture or function is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyflows.runtime.surface.entrypoints import NonRetryableError
    from pyflows.runtime.workflows.step_errors import NonDeterminismError, StepFailedError, WorkflowTimeoutError
    from pyflows.testing.clock import TestClock
    from pyflows.testing.introspection import (
        StepEntry,
        StepLog,
        WaitError,
        WaitTimeoutError,
        WorkflowInstanceIntrospector,
        WorkflowIntrospector,
    )
    from pyflows.testing.modifiers import IntrospectionError, Modifier
    from pyflows.testing.project import Project, RunDidNotStopError, SyncProject, SyncResponse, open_project

__all__ = [
    "IntrospectionError",
    "Modifier",
    "NonDeterminismError",
    "NonRetryableError",
    "Project",
    "RunDidNotStopError",
    "StepEntry",
    "StepFailedError",
    "StepLog",
    "SyncProject",
    "SyncResponse",
    "TestClock",
    "WaitError",
    "WaitTimeoutError",
    "WorkflowInstanceIntrospector",
    "WorkflowIntrospector",
    "WorkflowTimeoutError",
    "introspect_workflow",
    "introspect_workflow_instance",
    "open_project",
]

_LAZY = {
    "NonDeterminismError": "pyflows.runtime.workflows.step_errors",
    "NonRetryableError": "pyflows.runtime.surface.entrypoints",
    "StepFailedError": "pyflows.runtime.workflows.step_errors",
    "WorkflowTimeoutError": "pyflows.runtime.workflows.step_errors",
    "TestClock": "pyflows.testing.clock",
    "StepEntry": "pyflows.testing.introspection",
    "StepLog": "pyflows.testing.introspection",
    "WaitError": "pyflows.testing.introspection",
    "WaitTimeoutError": "pyflows.testing.introspection",
    "WorkflowInstanceIntrospector": "pyflows.testing.introspection",
    "WorkflowIntrospector": "pyflows.testing.introspection",
    "IntrospectionError": "pyflows.testing.modifiers",
    "Modifier": "pyflows.testing.modifiers",
    "Project": "pyflows.testing.project",
    "RunDidNotStopError": "pyflows.testing.project",
    "SyncProject": "pyflows.testing.project",
    "SyncResponse": "pyflows.testing.project",
    "open_project": "pyflows.testing.project",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pyflows.testing' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def introspect_workflow_instance(binding: Any, instance_id: str) -> WorkflowInstanceIntrospector:
    """A handle on instance `instance_id` of the workflow behind `binding` (e.g. `env.MY_WORKFLOW`).

    Call it before `create(id=instance_id)`; use it as `async with ... as instance:`. Cloudflare:
    `introspectWorkflowInstance(env.MY_WORKFLOW, id)`. IntrospectionError for a binding that is not
    a Workflow binding of a test engine, a bad id, or an id already introspected.
    """
    from pyflows.testing.introspection import introspect_workflow_instance as introspect

    return introspect(binding, instance_id)


def introspect_workflow(binding: Any) -> WorkflowIntrospector:
    """A session capturing every instance of `binding`'s workflow created afterwards (by `create`,
    `create_batch`, the Worker's `fetch` or the management API); `async with ... as workflow:`.
    Cloudflare: `introspectWorkflow(env.MY_WORKFLOW)`; one session per workflow at a time.
    """
    from pyflows.testing.introspection import introspect_workflow as introspect

    return introspect(binding)
