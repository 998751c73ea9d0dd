"""Stack switching for `pyodide.ffi.run_sync`: synchronous code awaiting on the server's own loop.

Under Pyodide, `run_sync(awaitable)` suspends the WebAssembly stack (JSPI) so that synchronous code
called from an async handler (django-cf calls Django's WSGI app straight from `fetch`, and its D1
backend calls `run_sync(stmt.all())`) can wait for a JavaScript promise. CPython cannot suspend a
stack, but a greenlet can: `run_switchable(coro)` runs the handler's coroutine in a child greenlet,
stepping it by hand, and hands every future it waits on to the parent, which awaits it on the real
event loop. `run_sync` inside that child switches to the parent with its awaitable the same way, so
it runs on the same loop as everything else (bindings, the engine) and the server keeps serving
meanwhile. This is how SQLAlchemy's asyncio layer runs sync code over async drivers.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Coroutine
from typing import Any

import greenlet

__all__ = ["in_switchable", "run_switchable", "suspend"]


class _Child(greenlet.greenlet):  # type: ignore[misc]
    """The greenlet a handler's coroutine runs in (marks where `run_sync` may switch out)."""


class _Wait:
    """Child → parent: wait for this future (None: just yield to the loop once)."""

    __slots__ = ("future",)

    def __init__(self, future: Any) -> None:
        self.future = future


class _Run:
    """Child → parent: await this awaitable and send back its result (or throw its error)."""

    __slots__ = ("awaitable",)

    def __init__(self, awaitable: Awaitable[Any]) -> None:
        self.awaitable = awaitable


def in_switchable() -> bool:
    """Whether the running code is inside `run_switchable` (so `suspend` can be used)."""
    return isinstance(greenlet.getcurrent(), _Child)


def suspend(awaitable: Awaitable[Any]) -> Any:
    """From sync code inside `run_switchable`: await `awaitable` on the loop, return its result."""
    current = greenlet.getcurrent()
    if not isinstance(current, _Child):
        raise RuntimeError("suspend() is only possible inside run_switchable().")
    return current.parent.switch(_Run(awaitable))


def _step_all(coro: Coroutine[Any, Any, Any]) -> Any:
    """In the child: drive `coro` to the end, handing each future it blocks on to the parent."""
    send: Any = None
    error: BaseException | None = None
    parent = greenlet.getcurrent().parent
    while True:
        try:
            yielded = coro.throw(error) if error is not None else coro.send(send)
        except StopIteration as stop:
            return stop.value
        send, error = None, None
        try:
            parent.switch(_Wait(yielded))
        except BaseException as exc:  # noqa: B036 - cancellation must reach the coroutine
            error = exc


async def run_switchable(coro: Coroutine[Any, Any, Any]) -> Any:
    """Await `coro` with its stack in a greenlet, so `run_sync` deep inside it can wait (see above)."""
    child = _Child(_step_all)
    child.gr_context = contextvars.copy_context()
    message = child.switch(coro)
    while not child.dead:
        if isinstance(message, _Wait):
            future = message.future
            try:
                if future is None:
                    await asyncio.sleep(0)
                else:
                    future._asyncio_future_blocking = False
                    await future  # its outcome is read again by the coroutine's own await
            except BaseException as exc:  # noqa: B036 - e.g. CancelledError: the coroutine decides
                if future is not None and future.done():
                    message = child.switch()  # the future failed: the coroutine sees it itself
                else:
                    message = child.throw(exc)  # this task was cancelled while waiting
            else:
                message = child.switch()
        elif isinstance(message, _Run):
            try:
                value = await message.awaitable
            except BaseException as exc:  # noqa: B036 - handed to the sync caller, as Pyodide does
                message = child.throw(exc)
            else:
                message = child.switch(value)
        else:
            raise RuntimeError(f"Unexpected switch into the event loop with {message!r}.")
    return message
