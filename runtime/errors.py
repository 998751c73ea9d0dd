"""Every error pyflows raises on purpose, under one root.

    PyflowsError                      expected failures: the CLI prints them without a traceback
    ├── ConfigError                   wrangler.jsonc / wrangler.toml / .dev.vars problems
    │   ├── ConfigNotFoundError       no config file where we looked
    │   ├── ConfigParseError          syntax error (file, line, column)
    │   └── ConfigSchemaError         schema violation (key path, value, what is allowed)
    ├── UserCodeError                 the Worker module cannot be imported or lacks a class
    ├── StateLockedError              another `pyflows dev` holds the state directory
    ├── StoreClosedError              the store was used after close()
    ├── ClientError                   the CLI's HTTP client (no session on the port, API errors)
    │   └── ApiError                  the API answered with an error envelope
    └── WorkflowError                 engine errors, each with an API status and a Cloudflare code
        ├── WorkflowNotFoundError        404 / 10501
        ├── InstanceNotFoundError        404 / 10501
        ├── InstanceExistsError          409-ish: reported as 500 / 10001 like Wrangler
        ├── InvalidInstanceIdError       an id (or name, event type) breaks the naming rules
        ├── InvalidTransitionError       pause/resume/terminate not allowed from this status
        ├── StepNotFoundError            restart from a step that is not in the history (409)
        └── PayloadTooLargeError         params / payload over 1 MiB

Errors raised *inside* a workflow run (step failures, limits, determinism) are ordinary
exceptions that end an instance `errored`; see `runtime/step.py`.
"""

from __future__ import annotations

from typing import Any


class PyflowsError(Exception):
    """Root of every error pyflows raises on purpose."""

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    def __str__(self) -> str:
        return self.message


class ConfigError(PyflowsError):
    """The project's configuration cannot be used."""


class ConfigNotFoundError(ConfigError):
    pass


class ConfigParseError(ConfigError):
    pass


class ConfigSchemaError(ConfigError):
    pass


class UserCodeError(PyflowsError):
    """The user's Worker module cannot be loaded."""


class StateLockedError(PyflowsError):
    pass


class StoreClosedError(PyflowsError):
    pass


class ClientError(PyflowsError):
    pass


class ApiError(ClientError):
    def __init__(self, message: str, *, status: int, code: int | None = None) -> None:
        super().__init__(message, status=status, code=code)
        self.status = status
        self.code = code


class WorkflowError(PyflowsError):
    """An engine operation was refused. `http_status` and `code` map it onto the API."""

    http_status = 500
    code = 10001


class WorkflowNotFoundError(WorkflowError):
    http_status = 404
    code = 10501

    def __init__(self, workflow: str, known: list[str] | None = None) -> None:
        super().__init__(f"Workflow '{workflow}' not found.", workflow=workflow, known=known or [])
        self.workflow = workflow


class InstanceNotFoundError(WorkflowError):
    http_status = 404
    code = 10501

    def __init__(self, workflow: str, instance_id: str) -> None:
        super().__init__(f"Workflow instance '{instance_id}' not found.", workflow=workflow, instance_id=instance_id)
        self.workflow = workflow
        self.instance_id = instance_id


class InstanceExistsError(WorkflowError):
    def __init__(self, workflow: str, instance_id: str) -> None:
        super().__init__(
            f'WorkflowError: (instance.already_exists) Workflow instance with id "{instance_id}" '
            f"already exists in workflow '{workflow}'. Choose another id, or omit it to get a random one.",
            workflow=workflow,
            instance_id=instance_id,
        )


class InvalidInstanceIdError(WorkflowError):
    """An id, workflow name or event type does not follow Cloudflare's naming rules."""


class InvalidTransitionError(WorkflowError):
    pass


class StepNotFoundError(WorkflowError):
    http_status = 409


class PayloadTooLargeError(WorkflowError):
    http_status = 413
