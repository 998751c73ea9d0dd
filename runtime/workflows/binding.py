"""The Workflow binding user code sees as `self.env.MY_WORKFLOW`, and its instance handles.

Like the SDK's wrappers, methods start their work when called (eagerly) and return awaitables;
`create` accepts `create()`, `create({"id", "params"})`, `create(id=..., params=...)` and a
`to_js(...)`-converted dict, all equivalent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from pyflows.runtime.errors import BatchSizeError
from pyflows.runtime.surface.values import JsDict, python_from_rpc

if TYPE_CHECKING:
    from pyflows.runtime.workflows.engine import Engine


def _eager(coro: Coroutine[Any, Any, Any]) -> asyncio.Future[Any]:
    return asyncio.ensure_future(coro)


def _options(options: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    if options is None:
        return dict(kwargs)
    if hasattr(options, "to_py"):
        options = options.to_py()
    if not isinstance(options, dict):
        raise TypeError(f"Expected a dict of options like {{'id': ..., 'params': ...}}, got {type(options).__name__}.")
    return {**options, **kwargs}


class WorkflowInstance:
    """A handle on one instance: `.id`, `status()`, `pause()`, `resume()`, `terminate()`,
    `restart()`, `send_event()` / `sendEvent()`, `delete()`."""

    def __init__(self, engine: Engine, workflow: str, instance_id: str) -> None:
        self._engine = engine
        self._workflow = workflow
        self.id = instance_id

    def __repr__(self) -> str:
        return f"<WorkflowInstance {self._workflow}/{self.id}>"

    def status(self) -> asyncio.Future[JsDict]:
        async def go() -> JsDict:
            st = await self._engine.status(self._workflow, self.id)
            return JsDict(status=st["status"], error=python_from_rpc(st["error"]), output=python_from_rpc(st["output"]))

        return _eager(go())

    def pause(self) -> asyncio.Future[None]:
        return _eager(self._none(self._engine.pause(self._workflow, self.id)))

    def resume(self) -> asyncio.Future[None]:
        return _eager(self._none(self._engine.resume(self._workflow, self.id)))

    def terminate(self, options: Any = None) -> asyncio.Future[None]:
        return _eager(self._none(self._engine.terminate(self._workflow, self.id)))

    def restart(self, options: Any = None) -> asyncio.Future[None]:
        opts = _options(options, {})
        return _eager(self._none(self._engine.restart(self._workflow, self.id, opts.get("from"))))

    def delete(self) -> asyncio.Future[None]:
        return _eager(self._none(self._engine.delete(self._workflow, self.id)))

    def send_event(self, event: Any = None, /, **kwargs: Any) -> asyncio.Future[None]:
        opts = _options(event, kwargs)
        if "type" not in opts:
            raise TypeError("send_event needs a 'type', e.g. send_event({'type': 'approval', 'payload': {...}}).")
        return _eager(self._engine.send_event(self._workflow, self.id, opts["type"], opts.get("payload")))

    sendEvent = send_event  # noqa: N815 - the JS name, which the SDK passes through

    def subscribe(self, options: Any = None, /, **kwargs: Any) -> asyncio.Future[Subscription]:
        """`await instance.subscribe({"cursor"?: eventId, "filter"?: [types]})` -> a Subscription whose
        `await next()` gives `{"done", "value"}` (Cloudflare's `WorkflowInstance.subscribe()`,
        developers.cloudflare.com/workflows/build/subscribe-to-instance-events/); also `async for`."""
        opts = _options(options, kwargs)
        wanted = opts.get("filter")
        sub = Subscription(self._engine, self._workflow, self.id, int(opts.get("cursor") or 0), wanted)

        async def go() -> Subscription:
            await self._engine.subscribe_history(self._workflow, self.id, sub.cursor)  # unknown id raises
            return sub

        return _eager(go())

    @staticmethod
    async def _none(coro: Coroutine[Any, Any, Any]) -> None:
        await coro


class Subscription:
    """Events of one instance: its history after the cursor, then live ones; done after the instance's
    workflow_completed / workflow_errored / workflow_terminated (even when the filter hides it)."""

    def __init__(self, engine: Engine, workflow: str, instance_id: str, cursor: int, wanted: Any) -> None:
        self._engine, self._workflow, self._id = engine, workflow, instance_id
        self.cursor = cursor
        self._wanted = set(wanted) if wanted else None
        self._done = False

    async def next(self) -> JsDict:
        from pyflows.runtime.workflows.events import TERMINAL

        while not self._done:
            seq = self._engine.events.seq
            for event in await self._engine.subscribe_history(self._workflow, self._id, self.cursor):
                self.cursor = event["eventId"]
                self._done = event["type"] in TERMINAL
                if self._wanted is None or event["type"] in self._wanted:
                    return JsDict(done=False, value=python_from_rpc(event))
                if self._done:
                    break
            else:
                if self._engine.events.closed:  # the server is stopping
                    break
                await self._engine.events.wait(seq, 15.0)
        return JsDict(done=True, value=None)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Any:
        result = await self.next()
        if result.done:
            raise StopAsyncIteration
        return result.value


class WorkflowBinding:
    """`self.env.MY_WORKFLOW`: `create`, `create_batch` / `createBatch`, `deleteBatch`, `get`."""

    def __init__(self, engine: Engine, workflow: str) -> None:
        self._engine = engine
        self._workflow = workflow

    def __repr__(self) -> str:
        return f"<WorkflowBinding {self._workflow}>"

    def create(self, options: Any = None, /, **kwargs: Any) -> asyncio.Future[WorkflowInstance]:
        opts = _options(options, kwargs)

        async def go() -> WorkflowInstance:
            instance_id = await self._engine.create(
                self._workflow, id=opts.get("id"), params=opts.get("params"), retention=opts.get("retention")
            )
            return WorkflowInstance(self._engine, self._workflow, instance_id)

        return _eager(go())

    def create_batch(self, batch: list[Any]) -> asyncio.Future[list[WorkflowInstance]]:
        """Create 1 to 100 instances; handles for the ones created, in batch order.

        As Cloudflare's `createBatch` (workers-api docs): existing ids, and ids repeated within the
        batch, are skipped and left out of the result; one invalid entry creates nothing. Errors carry
        Cloudflare's texts: `WorkflowError: batchCreate should have at least 1 instance`,
        `WorkflowError: batchCreate only supports 100 instances at a time`.
        """
        if hasattr(batch, "to_py"):
            batch = batch.to_py()
        items = [_options(item, {}) for item in batch]

        async def go() -> list[WorkflowInstance]:
            try:
                ids = await self._engine.create_batch(self._workflow, items)
            except BatchSizeError as exc:  # the binding's own words carry Cloudflare's prefix
                raise BatchSizeError(f"WorkflowError: {exc}", size=exc.size, limit=exc.limit) from None
            return [WorkflowInstance(self._engine, self._workflow, i) for i in ids]

        return _eager(go())

    createBatch = create_batch  # noqa: N815

    def deleteBatch(self, ids: list[str]) -> asyncio.Future[JsDict]:  # noqa: N802 - Cloudflare's name (camelCase only)
        """Delete 1 to 100 instances → `{"deleted": [{"id"}], "errors": [{"id", "code", "message"}]}`.

        Cloudflare's `deleteBatch` (changelog 2026-09-17), answered in the shape of the Local Explorer
        API's batch delete (Wrangler 4.164): an unknown id is an entry in `errors` (code 10400,
        `workflows.api.error.instance.not_found`), not an exception; an invalid id or a batch of 0 or
        more than 100 ids raises and deletes nothing.
        """
        if hasattr(ids, "to_py"):
            ids = ids.to_py()

        async def go() -> JsDict:
            deleted, missing = await self._engine.delete_batch(self._workflow, list(ids))
            return JsDict(
                deleted=[JsDict(id=i) for i in deleted],
                errors=[JsDict(id=i, code=10400, message="workflows.api.error.instance.not_found") for i in missing],
            )

        return _eager(go())

    def get(self, instance_id: str) -> asyncio.Future[WorkflowInstance]:
        async def go() -> WorkflowInstance:
            await self._engine.status(self._workflow, instance_id)  # raises when unknown
            return WorkflowInstance(self._engine, self._workflow, instance_id)

        return _eager(go())
