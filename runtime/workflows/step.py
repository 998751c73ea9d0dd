"""The `step` object `run(event, step)` receives, with the SDK's exact call shapes.

`step.do` is a decorator that makes a *lazy* step: nothing runs until `await fn()`. Two
signatures, chosen from the config (compatibility date 2026-02-25 or the implicit-dependencies flag):

* implicit: `step.do(name=None, *, concurrent=False, config=None)`; each parameter of the step
  function names an earlier registered step whose result is injected, `ctx` gets the context;
* legacy:   `step.do(name, depends=None, concurrent=False, config=None)`; `depends` maps in order
  onto the non-`ctx` parameters.

Dependencies resolve before the step: one by one, or with `asyncio.gather` when `concurrent`.
A dependency that already finished (or is in flight) in this run is reused, not rerun.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from types import CodeType, FunctionType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyflows.runtime.workflows.run import Run

_CTX = object()  # placeholder for the `ctx` parameter


class Step:
    """What user code calls `step`: `do`, `sleep`, `sleep_until`, `wait_for_event`."""

    def __init__(self, run: Run, *, implicit: bool) -> None:
        self._run = run
        self.step_closures: dict[str, Any] = {}
        self._memo: dict[Any, Any] = {}
        self._in_flight: dict[Any, asyncio.Future[Any]] = {}
        self.do = self._do_implicit if implicit else self._do_legacy

    def _do_implicit(self, name: Any = None, *, concurrent: bool = False, config: Any = None, **unexpected: Any) -> Any:
        if unexpected:
            keys = ", ".join(repr(k) for k in unexpected)
            hint = (
                " With implicit dependencies (compatibility flag python_workflows_implicit_dependencies, the "
                "default from compatibility_date 2026-02-25) a step's parameters name the steps it depends on; "
                "for depends=[...], add no_python_workflows_implicit_dependencies to compatibility_flags."
                if "depends" in unexpected
                else ""
            )
            raise TypeError(f"step.do() got an unexpected keyword argument {keys}.{hint}")
        if callable(name):  # bare `@step.do` without parentheses
            return self._decorator(None, None, concurrent, config, implicit=True)(name)
        return self._decorator(name, None, concurrent, config, implicit=True)

    def _do_legacy(
        self, name: str, depends: list[Any] | None = None, concurrent: bool = False, config: Any = None
    ) -> Any:
        return self._decorator(name, depends, concurrent, config, implicit=False)

    def sleep(self, name: str, duration: Any) -> asyncio.Future[None]:
        """Sleep for "10 seconds" / "2 hours" / a number of milliseconds. Starts when called."""
        return self._run.sleep(name, duration)

    def sleep_until(self, name: str, timestamp: Any) -> asyncio.Future[None]:
        """Sleep until a datetime (naive = UTC) or epoch milliseconds. Starts when called."""
        return self._run.sleep_until(name, timestamp)

    async def wait_for_event(self, name: str, event_type: str, /, timeout: Any = "24 hours") -> Any:
        """Wait for an event of `event_type`; returns `{"payload", "timestamp", "type"}`."""
        return await self._run.wait_for_event(name, event_type, timeout)

    # -- decorator machinery ------------------------------------------------------------------------

    def _decorator(
        self, name: Any, depends: list[Any] | None, concurrent: bool, config: Any, *, implicit: bool
    ) -> Callable[[Callable[..., Any]], Any]:
        def decorator(func: Callable[..., Any]) -> Any:
            step_name = func.__name__ if name is None else name
            is_async = inspect.iscoroutinefunction(func)

            async def wrapper() -> Any:
                params = self._params(func, depends, implicit)
                deps = [p for p in params if p is not _CTX]
                if concurrent:
                    results = list(await asyncio.gather(*(self._resolve(d) for d in deps)))
                else:
                    results = [await self._resolve(d) for d in deps]
                values = iter(results)
                template = [_CTX if p is _CTX else next(values) for p in params]

                def callback(ctx: Any) -> Any:
                    return func(*(ctx if a is _CTX else a for a in template))

                return await self._do_call(wrapper, step_name, config, callback, is_async)

            wrapper._step_name = step_name  # type: ignore[attr-defined]
            wrapper.__name__ = getattr(func, "__name__", "step")
            wrapper.__qualname__ = getattr(func, "__qualname__", wrapper.__name__)
            wrapper.__doc__ = func.__doc__
            self.step_closures[step_name] = wrapper
            return wrapper

        return decorator

    def _params(self, func: Callable[..., Any], depends: list[Any] | None, implicit: bool) -> list[Any]:
        params = _parameter_names(func)
        if implicit:
            out: list[Any] = []
            for p in params:
                if p in self.step_closures:
                    out.append(self.step_closures[p])
                elif p == "ctx":
                    out.append(_CTX)
                else:
                    raise TypeError(f"Received unexpected parameter {p}")
            return out
        non_ctx = [p for p in params if p != "ctx"]
        if non_ctx and depends is None:
            raise TypeError(f"Step has {len(non_ctx)} non-ctx parameter(s) but no 'depends' list provided")
        deps = list(depends or [])
        if len(deps) != len(non_ctx):
            raise TypeError(f"Step declares {len(non_ctx)} non-ctx parameter(s) but 'depends' has {len(deps)} item(s)")
        for p, d in zip(non_ctx, deps, strict=True):
            if not hasattr(d, "_step_name"):
                raise TypeError(f"'depends' entry for parameter '{p}' is not a function decorated with step.do")
        it = iter(deps)
        return [_CTX if p == "ctx" else next(it) for p in params]

    async def _resolve(self, closure: Any) -> Any:
        if closure in self._memo:
            return self._memo[closure]
        if closure in self._in_flight:
            return await asyncio.shield(self._in_flight[closure])
        return await closure()

    async def _do_call(
        self, closure: Any, name: str, config: Any, callback: Callable[[Any], Any], is_async: bool
    ) -> Any:
        lineage = self._run.lineage()  # here, in the caller's task: `do` runs in a task of its own
        task = asyncio.ensure_future(self._run.do(name, config, callback, is_async, lineage))
        self._in_flight[closure] = task
        try:
            result = await task
        finally:
            if self._in_flight.get(closure) is task:
                del self._in_flight[closure]
        self._memo[closure] = result
        return result


# Parameter names of plain step functions by code object: `run` defines its step functions anew on
# every replay, and inspect.signature costs about as much as a short step.
_PARAMETERS: dict[CodeType, tuple[str, ...]] = {}


def _parameter_names(func: Callable[..., Any]) -> tuple[str, ...]:
    if type(func) is not FunctionType or hasattr(func, "__wrapped__") or hasattr(func, "__signature__"):
        return tuple(inspect.signature(func).parameters)  # decorated or not a plain function
    code = func.__code__
    if code not in _PARAMETERS:
        _PARAMETERS[code] = tuple(inspect.signature(func).parameters)
    return _PARAMETERS[code]
