"""The queue consumer loop (runtime/triggers/queue_consumer.py): every batch is an invocation of its
own, in a task of its own, so a handler cannot hang close(), leak context into the next batch or stop
the consumer. (Each failed while batches ran inline in the loop task.)"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pyflows.runtime.bindings.queues import QueueProducerBinding, QueueStore
from pyflows.runtime.config.triggers import QueueConsumer
from pyflows.runtime.triggers.queue_consumer import MessageBatch, QueueConsumerLoop

pytestmark = pytest.mark.anyio


async def test_close_completes_when_a_handler_swallows_cancellation(tmp_path: Path) -> None:
    """close() cancels the consumer; a handler that catches the CancelledError (cleanup code,
    `except BaseException`, a library's retry loop) returns normally. close() must still finish."""
    store = QueueStore.open(tmp_path / "queues.sqlite")
    loop: QueueConsumerLoop | None = None
    p = QueueProducerBinding(store, "q", on_send=lambda q: loop.wake() if loop else None)
    started = asyncio.Event()
    swallowed = 0

    async def handler(batch: MessageBatch) -> None:
        nonlocal swallowed
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            swallowed += 1  # and return: the batch is acked

    loop = QueueConsumerLoop(store, QueueConsumer("q", max_batch_timeout=0), handler)
    loop.start()
    await p.send(1)
    await asyncio.wait_for(started.wait(), 5)
    tasks = [t for t in (loop._task, *loop._in_flight) if t is not None]
    closing = asyncio.ensure_future(loop.close())
    done, _ = await asyncio.wait([closing], timeout=2)
    hung = not done
    if hung:  # clean up: the loop task is idle in _wait(None) now, a second cancel ends it
        for t in tasks:
            t.cancel()
        await asyncio.wait([closing], timeout=2)
    store.close()
    assert swallowed == 1
    assert not hung, "QueueConsumerLoop.close() hangs: the loop task survived its cancellation"


async def test_a_base_exception_from_one_batch_does_not_stop_the_consumer(tmp_path: Path) -> None:
    """A handler raising a BaseException that is not Exception (pytest.fail's Failed, a custom
    class): the next message is still delivered, and close() does not raise it."""
    store = QueueStore.open(tmp_path / "queues.sqlite")
    loop: QueueConsumerLoop | None = None
    p = QueueProducerBinding(store, "q", on_send=lambda q: loop.wake() if loop else None)
    bodies: list[Any] = []

    class Stop(BaseException):
        pass

    async def handler(batch: MessageBatch) -> None:
        bodies.extend(m.body for m in batch.messages)
        if bodies == [1]:
            raise Stop

    loop = QueueConsumerLoop(store, QueueConsumer("q", max_batch_timeout=0), handler)
    loop.start()
    await p.send(1)
    for _ in range(100):
        await asyncio.sleep(0.01)
        if bodies:
            break
    await p.send(2)
    for _ in range(100):
        await asyncio.sleep(0.01)
        if 2 in bodies:
            break
    raised = None
    try:
        await loop.close()
    except BaseException as exc:  # noqa: BLE001
        raised = exc
    store.close()
    assert 2 in bodies and raised is None, (bodies, raised)


async def test_context_variables_do_not_leak_from_one_batch_into_the_next(tmp_path: Path) -> None:
    """Each invocation of queue() starts from a clean context (workerd: one invocation per event;
    loader._call_handler's `request_ctx.set(ctx)  # this invocation's task only` relies on it)."""
    import contextvars

    var: contextvars.ContextVar[str | None] = contextvars.ContextVar("user_var", default=None)
    store = QueueStore.open(tmp_path / "queues.sqlite")
    loop: QueueConsumerLoop | None = None
    p = QueueProducerBinding(store, "q", on_send=lambda q: loop.wake() if loop else None)
    seen: list[str | None] = []

    async def handler(batch: MessageBatch) -> None:
        seen.append(var.get())
        var.set(f"batch {len(seen)}")  # e.g. structlog.contextvars.bind_contextvars(message_id=...)

    loop = QueueConsumerLoop(store, QueueConsumer("q", max_batch_size=1, max_batch_timeout=0), handler)
    loop.start()
    await p.send(1)
    await p.send(2)
    for _ in range(200):
        await asyncio.sleep(0.01)
        if len(seen) == 2:
            break
    await loop.close()
    store.close()
    assert seen == [None, None]


async def test_a_take_that_fails_is_retried_and_the_consumer_goes_on(tmp_path: Path) -> None:
    """The database locked by another program when a batch is taken: logged, tried again."""
    path = tmp_path / "queues.sqlite"
    store = QueueStore.open(path)
    store.conn.execute("PRAGMA busy_timeout=50")
    got: list[Any] = []

    async def handler(batch: MessageBatch) -> None:
        got.extend(m.body for m in batch.messages)

    loop: QueueConsumerLoop | None = None
    producer = QueueProducerBinding(store, "q", on_send=lambda q: loop.wake() if loop else None)
    await producer.sendBatch([{"body": i} for i in range(3)])
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    loop = QueueConsumerLoop(store, QueueConsumer("q", max_batch_size=10, max_batch_timeout=0), handler)
    loop.start()
    await asyncio.sleep(0.2)  # the first take fails while the lock is held
    assert got == []
    other.execute("ROLLBACK")
    other.close()
    deadline = asyncio.get_running_loop().time() + 5
    while len(got) < 3 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    await loop.close()
    store.close()
    assert got == [0, 1, 2]


async def test_a_handler_error_shows_the_users_frames_not_pyflows(capsys: pytest.CaptureFixture[str]) -> None:
    from pyflows.runtime.triggers.queue_consumer import deliver_batch

    def check_job(body: Any) -> None:
        raise ValueError(f"bad job {body}")

    async def handler(batch: MessageBatch) -> None:
        for message in batch.messages:
            check_job(message.body)

    result = await deliver_batch("jobs", [7], handler)
    assert result["outcome"] == "exception" and result["messages"][0]["outcome"] == "retry"
    err = capsys.readouterr().err
    assert "✘ [ERROR] Uncaught ValueError in queue() for queue 'jobs': bad job 7" in err
    assert "in check_job" in err and "in handler" in err  # the user's frames
    assert "runtime/triggers" not in err  # not pyflows' own
