"""What a step's failure looks like to `run`, and how it is stored (`{"name", "message"}`).

A step's final error is stored, and `run` gets the same exception on the first run and on every
replay (`rebuild_error`), so a replay that catches it behaves the same way.
"""

from __future__ import annotations

from pyflows.runtime.surface.entrypoints import NonRetryableError


class WorkflowTimeoutError(Exception):
    """A `wait_for_event` timed out, or a step attempt exceeded its `timeout`."""


class CpuLimitExceededError(Exception):
    """A step attempt used more CPU time than `limits.cpu_ms` allows."""


class NonDeterminismError(Exception):
    """On replay, the workflow called a different step than its history recorded."""


class StepLimitExceededError(Exception):
    """The instance called more steps than `limits.steps` allows."""


class StepFailedError(Exception):
    """A step's final error, as `run` sees it for error types that do not cross the boundary.

    Cloudflare's SDK gives `run` an opaque JsException for these; catch `Exception`. `.name` and
    `.message` hold the original error's type name and message.
    """

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}" if message else name)
        self.name = name
        self.message = message


class _Recorded:
    """Mixin of the rebuilt builtin errors: the record they came from, so storing one again gives
    the same `{"name", "message"}` (its str() carries the SDK's "TypeError: " prefix)."""

    recorded: dict[str, str]


def _recorded_builtin(base: type[Exception]) -> type[Exception]:
    # Shown exactly as the builtin (`TypeError: TypeError: msg` in a traceback, `type(e).__name__`
    # == "TypeError"), because Cloudflare's SDK hands `run` that type; `except TypeError` matches.
    cls = type(base.__name__, (_Recorded, base), {"__module__": "builtins", "__qualname__": base.__qualname__})
    return cls


_REBUILT = {"TypeError": _recorded_builtin(TypeError), "ValueError": _recorded_builtin(ValueError)}


def error_info(exc: BaseException) -> dict[str, str]:
    """`{"name", "message"}` for an exception, unwrapping errors rebuilt from step records."""
    if isinstance(exc, _Recorded):
        return dict(exc.recorded)
    if isinstance(exc, StepFailedError):
        return {"name": exc.name, "message": exc.message}
    return {"name": type(exc).__name__, "message": str(exc)}


def rebuild_error(info: dict[str, str]) -> Exception:
    """The exception `run` receives for a step's final error (deterministic across replays)."""
    name, message = info.get("name", "Error"), info.get("message", "")
    exc: Exception
    if name == "NonRetryableError":
        exc = NonRetryableError(message)
    elif name in _REBUILT:
        # The SDK keeps the type and prefixes the message: str(e) == "TypeError: msg".
        exc = _REBUILT[name](f"{name}: {message}")
        assert isinstance(exc, _Recorded)
        exc.recorded = {"name": name, "message": message}
    elif name == "WorkflowTimeoutError":
        exc = WorkflowTimeoutError(message)
    else:
        exc = StepFailedError(name, message)
    return exc
