"""Every error pyflows raises on purpose, under one root.

    PyflowsError                      expected failures: the CLI prints them without a traceback
    ├── ConfigError                   wrangler.jsonc / wrangler.toml / .dev.vars problems
    │   ├── ConfigNotFoundError       no config file where we looked
    │   ├── ConfigParseError          syntax error (file, line, column)
    │   └── ConfigSchemaError         schema violation (file, line, column, key path, what is allowed)
    ├── UserCodeError                 the Worker module cannot be imported or lacks a class
    ├── StateLockedError              another `pyflows dev` holds the state directory
    ├── StoreClosedError              the store was used after close()
    ├── ClientError                   the CLI's HTTP client (no session on the port, API errors)
    │   └── ApiError                  the API answered with an error envelope
    └── WorkflowError                 the engine refused an operation (structured fields, no HTTP)
        ├── WorkflowNotFoundError        no workflow of that name       (.workflow, .known)
        ├── InstanceNotFoundError        no instance of that id         (.workflow, .instance_id)
        ├── InstanceExistsError          create with an id in use       (.workflow, .instance_id)
        ├── InvalidInstanceIdError       an id, workflow name or event type breaks Cloudflare's
        │                                naming rules                   (.what, .value, .limit)
        ├── InvalidTransitionError       pause/resume/terminate/send-event not allowed from this
        │                                status                         (.action, .instance_id, .status)
        ├── StepNotFoundError            restart from a step not in the history (.instance_id, .step)
        ├── PayloadTooLargeError         params / payload over 1 MiB    (.what)
        ├── InvalidPayloadError          params / payload that is not JSON-like (.what)
        ├── BatchSizeError               create_batch / deleteBatch with 0 or > 100 entries (.size, .limit)
        ├── DiagramUnavailableError      the workflow class's source cannot be read to draw it
        └── InvalidRetentionError        create's `retention` is not a valid duration pair (.value)

Defined next to the code that raises them (same root, so the CLI and tests treat them alike):

    PyflowsError
    ├── DiagramError                  runtime/workflows/diagram.py: the source cannot be drawn (no such
    │                                 class, no `run` method, a syntax error)
    ├── WorkersAIError                runtime/bindings/ai.py: `env.AI.run` without credentials, or
    │                                 Cloudflare's API refused the call
    ├── JsNotEmulatedError            runtime/surface/js.py: a `js` / `pyodide.ffi` name pyflows
    │                                 does not provide (also a NotImplementedError)
    ├── InitError                     cli/commands/init.py: `pyflows init` cannot create the project
    ├── IntrospectionError            testing/modifiers.py: a pyflows.testing modifier misused
    └── WaitError                     testing/introspection.py: a pyflows.testing waiter gave up
                                      (also an AssertionError, so pytest reports it as a failure)

The engine knows nothing of HTTP: `runtime/server/explorer/present.py` holds the one table that maps
each of these types to an HTTP status, a Cloudflare error code and the API's message.

Errors raised *inside* a workflow run (step failures, limits, determinism) are ordinary
exceptions that end an instance `errored`; see `runtime/workflows/step_errors.py`.
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
    """An engine operation was refused; the subclasses carry what was wrong as attributes."""


class WorkflowNotFoundError(WorkflowError):
    def __init__(self, workflow: str, known: list[str] | None = None) -> None:
        super().__init__(f"Workflow '{workflow}' not found.", workflow=workflow, known=known or [])
        self.workflow = workflow
        self.known = known or []


class InstanceNotFoundError(WorkflowError):
    def __init__(self, workflow: str, instance_id: str) -> None:
        super().__init__(f"Workflow instance '{instance_id}' not found.", workflow=workflow, instance_id=instance_id)
        self.workflow = workflow
        self.instance_id = instance_id


class InstanceExistsError(WorkflowError):
    def __init__(self, workflow: str, instance_id: str) -> None:
        super().__init__(
            f"Workflow instance with id \"{instance_id}\" already exists in workflow '{workflow}'. "
            "Choose another id, or omit it to get a random one.",
            workflow=workflow,
            instance_id=instance_id,
        )
        self.workflow = workflow
        self.instance_id = instance_id


class InvalidInstanceIdError(WorkflowError):
    """An id, workflow name or event type does not follow Cloudflare's naming rules.

    `what` is "Workflow instance id", "Event type" or "Workflow name"; `value` the rejected value.
    """

    def __init__(self, message: str, *, what: str, value: object, limit: int) -> None:
        super().__init__(message, what=what, value=value, limit=limit)
        self.what = what
        self.value = value
        self.limit = limit


class InvalidTransitionError(WorkflowError):
    """`action` (pause, resume, terminate, send_event) is not allowed while the instance is `status`."""

    def __init__(self, message: str, *, action: str, instance_id: str, status: str) -> None:
        super().__init__(message, action=action, instance_id=instance_id, status=status)
        self.action = action
        self.instance_id = instance_id
        self.status = status


class StepNotFoundError(WorkflowError):
    """restart `from` a step that is not in the instance's history; `step` = {name, count, type}."""

    def __init__(self, message: str, *, instance_id: str, step: dict[str, Any]) -> None:
        super().__init__(message, instance_id=instance_id, step=step)
        self.instance_id = instance_id
        self.step = step


class PayloadTooLargeError(WorkflowError):
    """Instance params or an event payload over 1 MiB serialized; `what` names which."""

    def __init__(self, message: str, *, what: str) -> None:
        super().__init__(message, what=what)
        self.what = what


class InvalidPayloadError(WorkflowError):
    """Instance params or an event payload that cannot be stored (not JSON-like)."""

    def __init__(self, message: str, *, what: str) -> None:
        super().__init__(message, what=what)
        self.what = what


class InvalidRetentionError(WorkflowError):
    """create's `retention` (`{successRetention, errorRetention}`) cannot be used; `value` is what was given."""

    def __init__(self, message: str, *, value: object) -> None:
        super().__init__(message, value=value)
        self.value = value


class DiagramUnavailableError(WorkflowError):
    """The explorer cannot draw a workflow: its class's source is not available."""


class BatchSizeError(WorkflowError):
    """A batch with no entries or more than `limit` (Cloudflare's messages, copied)."""

    def __init__(self, message: str, *, size: int, limit: int) -> None:
        super().__init__(message, size=size, limit=limit)
        self.size = size
        self.limit = limit
