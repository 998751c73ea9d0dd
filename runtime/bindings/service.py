"""Service bindings: `self.env.<binding>` calling a `WorkerEntrypoint` of this Worker.

    svc = ServiceBinding(worker, entrypoint="Admin", env_getter=...)
    await svc.add(1, 2)                      # RPC: a fresh entrypoint instance per call, values converted
    await svc.fetch("http://svc/path")       # its fetch(request) (Default's is the Worker's fetch)

As Cloudflare's Service bindings (developers.cloudflare.com/workers/runtime-apis/bindings/service-bindings/):
`entrypoint` names a WorkerEntrypoint class of the target Worker (default `Default`); RPC arguments and
results cross the boundary like the SDK's python_to_rpc / python_from_rpc.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from pyflows.runtime.surface.entrypoints import ExecutionContext, call_relaxed
from pyflows.runtime.surface.values import python_from_rpc, python_to_rpc

__all__ = ["ServiceBinding"]


class ServiceBinding:
    def __init__(self, worker: Any, entrypoint: str | None, *, env_getter: Callable[[], Any]) -> None:
        self._worker = worker
        self._entrypoint = entrypoint or "Default"
        self._env_getter = env_getter

    def _instance(self) -> Any:
        cls = getattr(self._worker.module, self._entrypoint)
        return cls(ExecutionContext(), self._env_getter())

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)

        async def rpc(*args: Any) -> Any:
            method = getattr(self._instance(), name, None)
            if method is None or not callable(method):
                raise TypeError(f"The RPC receiver ({self._entrypoint}) does not implement the method {name!r}.")
            result = method(*[python_from_rpc(python_to_rpc(a)) for a in args])
            if inspect.isawaitable(result):
                result = await result
            return None if result is None else python_from_rpc(python_to_rpc(result))

        rpc.__name__ = name
        return rpc

    async def fetch(self, request: Any, **init: Any) -> Any:
        from pyflows.runtime.surface.http import Request

        if not isinstance(request, Request):
            request = Request(str(request), **init)
        instance = self._instance()
        method = getattr(instance, "fetch", None) or getattr(instance, "on_fetch", None)
        if method is None:
            raise TypeError(f"{self._entrypoint} has no fetch(self, request) handler.")
        result = call_relaxed(method, request)
        return await result if inspect.isawaitable(result) else result

    def __repr__(self) -> str:
        return f"ServiceBinding({self._entrypoint})"
