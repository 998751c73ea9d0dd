"""The base classes user code subclasses, as Cloudflare's `workers` module defines them.

`workers.WorkerEntrypoint`, `workers.WorkflowEntrypoint` and `workers.workflows.NonRetryableError`
resolve here (runtime/sdk/ re-exports them), so the engine and user code share one class object.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from types import CodeType, FunctionType, MethodType
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class NonRetryableError(Exception):
    """Raised in a step: no further attempts; it reaches `run` as NonRetryableError(message)."""


class _Entrypoint:
    def __init__(self, ctx: Any = None, env: Any = None) -> None:
        self.ctx = ctx
        self.env = env


class WorkerEntrypoint(_Entrypoint):
    """`class Default(WorkerEntrypoint)` with `async def fetch(self, request)`."""


class WorkflowEntrypoint(_Entrypoint):
    """`class MyWorkflow(WorkflowEntrypoint)` with `async def run(self, event, step)`."""


class DurableObject(_Entrypoint):
    """Importable so modules that define Durable Objects load; pyflows does not host them."""


class ExecutionContext:
    """`self.ctx` / the legacy `ctx` argument: `waitUntil` runs a coroutine in the background."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self.props: dict[str, Any] = {}

    def waitUntil(self, awaitable: Awaitable[Any]) -> None:  # noqa: N802 - Cloudflare's name
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def passThroughOnException(self) -> None:  # noqa: N802 - Cloudflare's name
        pass


def call_relaxed(fn: Callable[..., Any], *args: Any) -> Any:
    """Call `fn` with as many leading positional `args` as it accepts.

    Workers call `fetch` and `run` "relaxed": `async def fetch(self)` and `on_fetch(request)` are
    legal, extra arguments are dropped.
    """
    count = _positional_count(fn)
    return fn(*args) if count is None else fn(*args[:count])


# Positional parameter counts of plain functions by code object: `run` and `fetch` are called
# for every instance and request, and inspect.signature costs more than a short step.
_POSITIONAL: dict[CodeType, int | None] = {}


def _positional_count(fn: Callable[..., Any]) -> int | None:
    """How many positional arguments `fn` takes; None if it takes any number (or has no signature)."""
    bound = isinstance(fn, MethodType)
    func = fn.__func__ if bound else fn  # type: ignore[attr-defined]
    if type(func) is not FunctionType or hasattr(func, "__wrapped__") or hasattr(func, "__signature__"):
        return _count_positional(fn)  # decorated or not a plain function: ask inspect each time
    code = func.__code__
    if code not in _POSITIONAL:
        _POSITIONAL[code] = _count_positional(func)
    count = _POSITIONAL[code]
    return max(count - 1, 0) if bound and count is not None else count  # a bound method: self is given


def _count_positional(fn: Callable[..., Any]) -> int | None:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return None
    count = 0
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            return None
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


def handler(fn: F) -> F:
    """`@workers.handler` for legacy `on_fetch`: arguments already arrive as Python objects."""
    return fn


# What `workers.env` returns: one env per server process, set by the Worker loader at startup.
current_env: Any = None
# The ExecutionContext of the request being handled (`workers.wait_until` attaches to it). A
# ContextVar, not a global: each request runs in its own task, so overlapping requests keep theirs.
request_ctx: ContextVar[ExecutionContext | None] = ContextVar("pyflows_request_ctx", default=None)


def wait_until(awaitable: Awaitable[Any]) -> None:
    ctx = request_ctx.get() or ExecutionContext()
    ctx.waitUntil(awaitable)


class _CloudflareWorkers:
    """What `import_from_javascript("cloudflare:workers")` gives: the module's `env` and `waitUntil`."""

    @property
    def env(self) -> Any:
        return current_env

    def waitUntil(self, awaitable: Awaitable[Any]) -> None:  # noqa: N802 - Cloudflare's name
        wait_until(awaitable)


def import_from_javascript(module_name: str) -> Any:
    """`workers.import_from_javascript("cloudflare:workers")`: its `env` (and `waitUntil`).

    Other JavaScript modules do not exist under CPython: asking for one raises ImportError naming it.
    """
    if module_name == "cloudflare:workers":
        return _CloudflareWorkers()
    raise ImportError(
        f"import_from_javascript({module_name!r}): pyflows runs Python Workers in CPython and provides "
        "only 'cloudflare:workers' (its env and waitUntil); there is no JavaScript module to import."
    )
