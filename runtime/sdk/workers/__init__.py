"""pyflows' stand-in for Cloudflare's `workers` module (workers-runtime-sdk): re-exports only."""

from __future__ import annotations

from typing import Any

from pyflows.runtime.surface import entrypoints as _ep
from pyflows.runtime.surface.entrypoints import (
    DurableObject,
    NonRetryableError,
    WorkerEntrypoint,
    WorkflowEntrypoint,
    handler,
    import_from_javascript,
)
from pyflows.runtime.surface.http import Headers, Request, Response, fetch
from pyflows.runtime.surface.values import JsDict, python_from_rpc, python_to_rpc

from . import workflows  # noqa: F401 - `workers.workflows` as an attribute; asgi and wsgi: __getattr__

__all__ = [
    "DurableObject",
    "Headers",
    "JsDict",
    "NonRetryableError",
    "Request",
    "Response",
    "WorkerEntrypoint",
    "WorkflowEntrypoint",
    "env",
    "fetch",
    "handler",
    "import_from_javascript",
    "python_from_rpc",
    "python_to_rpc",
    "waitUntil",
    "wait_until",
    "workflows",
    "wsgi",
]


def __getattr__(name: str) -> Any:
    # `workers.env` and `workers.wait_until` are lazy attributes upstream too.
    if name == "env":
        return _ep.current_env
    if name in ("wait_until", "waitUntil"):
        return _ep.wait_until
    if name in ("asgi", "wsgi"):  # imported when first used: most Workers use neither
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'workers' has no attribute {name!r}")
