"""Queue consumers: deliver stored messages to the Worker's `queue(batch)` handler, in batches.

    consumer = QueueConsumerLoop(store, consumer_config, deliver)   # deliver(batch) awaits the handler
    consumer.start(); consumer.wake(); ...; await consumer.close()

Cloudflare's semantics (developers.cloudflare.com/queues/configuration/batching-retries/):
- a batch is sent when it holds `max_batch_size` messages or `max_batch_timeout` seconds after the
  first message became visible, whichever comes first;
- `message.ack()` / `batch.ackAll()` remove messages; `message.retry({delaySeconds})` /
  `batch.retryAll(...)` redeliver them after the delay (default `retry_delay`); a message neither
  acked nor retried is acked when the handler returns, and retried when it raises;
- a message delivered `max_retries + 1` times without an ack goes to `dead_letter_queue` (or is
  dropped, with a warning);
- `message.attempts` counts deliveries from 1; `message.timestamp` is when it was sent (naive UTC datetime).
Batches of one queue are delivered one at a time, or up to `max_concurrency` at once when it is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pyflows.runtime.bindings.queues import MessageGroup, QueueStore, Run, StoredMessage, _delay, decode_body, now_ms
from pyflows.runtime.config.triggers import QueueConsumer
from pyflows.runtime.surface.values import utc_naive
from pyflows.runtime.worker.tracebacks import user_traceback

log = logging.getLogger("pyflows.queues")

__all__ = ["Message", "MessageBatch", "QueueConsumerLoop", "deliver_batch"]


_UNREAD: Any = object()


class Message(StoredMessage):
    """`batch.messages[i]`: id, timestamp, body, attempts, ack(), retry({delaySeconds}). The body is
    decoded when first read, as the SDK converts a JS message's body on access."""

    __slots__ = ("_body", "_id", "_outcome", "attempts", "timestamp")

    def __init__(
        self, group: MessageGroup | None, index: int, timestamp: Any, attempts: int, id: str = "", body: Any = _UNREAD
    ) -> None:
        self.group = group  # type: ignore[assignment]  # None: delivered without a queue (deliver_batch)
        self.index = index
        self.timestamp = timestamp
        self.attempts = attempts
        self._id = id  # "": read from the group when first asked for
        self._body = body
        self._outcome: tuple[str, int | None] | None = None  # ("ack", None) | ("retry", delay_s | None)

    @property
    def id(self) -> str:
        if not self._id:
            self._id = self.group.id(self.index)
        return self._id

    @property
    def body(self) -> Any:
        if self._body is _UNREAD:
            self._body = self.group.body(self.index)
        return self._body

    def ack(self) -> None:
        self._outcome = _ACK

    def retry(self, options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        opts = {**(options or {}), **kwargs}
        self._outcome = ("retry", _delay(opts, 0) if "delaySeconds" in opts else None)

    def __repr__(self) -> str:
        return f"Message(id={self.id!r}, attempts={self.attempts}, body={self.body!r})"


_ACK: tuple[str, int | None] = ("ack", None)
_RETRY: tuple[str, int | None] = ("retry", None)


class MessageBatch:
    """The `batch` a queue handler receives: `.queue`, `.messages`, `ackAll()`, `retryAll()`."""

    def __init__(self, queue: str, messages: list[Message]) -> None:
        self.queue = queue
        self.messages = messages

    def ackAll(self) -> None:  # noqa: N802 - Cloudflare's name
        for m in self.messages:
            m.ack()

    def retryAll(self, options: dict[str, Any] | None = None, **kwargs: Any) -> None:  # noqa: N802
        for m in self.messages:
            m.retry(options, **kwargs)

    ack_all = ackAll
    retry_all = retryAll

    def __repr__(self) -> str:
        return f"MessageBatch(queue={self.queue!r}, messages={len(self.messages)})"


class QueueConsumerLoop:
    """One consumer: waits for messages, fills batches, calls `deliver`, settles the outcome.

    Each batch runs in a task of its own, in a fresh copy of the context the consumer started in:
    every `queue()` call is an invocation of its own (context variables, cancellation and failures
    stay with it), and the loop never runs user code. A batch that ends while a full one is waiting
    starts that one itself, which saves the loop a turn per batch under load.
    """

    def __init__(
        self, store: QueueStore, config: QueueConsumer, deliver: Callable[[MessageBatch], Awaitable[Any]]
    ) -> None:
        self.store = store
        self.config = config
        self.deliver = deliver
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0  # messages handed to the handler (bench)
        self._free = config.max_concurrency or 1  # batches that may start now
        self._in_flight: set[asyncio.Task[None]] = set()
        self._context = contextvars.copy_context()
        self._closing = False
        self.on_dead_letter: Callable[[str], None] = lambda queue: None  # wakes the DLQ's consumer

    def start(self) -> None:
        self._context = contextvars.copy_context()
        self._task = asyncio.ensure_future(self._run())

    def wake(self) -> None:
        self._event.set()

    async def _wait(self, seconds: float | None) -> None:
        self._event.clear()
        if seconds is not None and seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)

    async def _run(self) -> None:
        cfg = self.config
        while not self._closing:
            now = now_ms()
            visible = self.store.count_visible(cfg.queue, now)
            if visible == 0:
                nxt = self.store.next_visible_ms(cfg.queue)
                await self._wait(None if nxt is None else (nxt - now) / 1000)
                continue
            if visible < cfg.max_batch_size:  # fill the batch until full or the timeout
                deadline = time.monotonic() + cfg.max_batch_timeout
                while visible < cfg.max_batch_size and time.monotonic() < deadline:
                    await self._wait(deadline - time.monotonic())
                    visible = self.store.count_visible(cfg.queue, now_ms())
            if self._free == 0:  # at most max_concurrency batches in flight: wait for one to end
                await self._wait(None)
                continue
            if not self._launch():
                await asyncio.sleep(0.5)  # storage trouble (logged): try again

    def _launch(self) -> bool:
        """Take a batch and start delivering it; False if taking failed (logged)."""
        cfg = self.config
        try:
            runs = self.store.take(cfg.queue, cfg.max_batch_size, now_ms())
        except Exception:  # storage trouble (the database locked by another program)
            log.exception("queue %s: taking a batch failed", cfg.queue)
            return False
        if runs:
            self._free -= 1
            task = asyncio.get_running_loop().create_task(self._deliver_and_release(runs), context=self._context.copy())
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return True

    async def _deliver_and_release(self, runs: list[Run]) -> None:
        try:
            await self._deliver(runs)
        except Exception:  # storage trouble: keep the consumer alive
            log.exception("queue %s: delivering a batch failed", self.config.queue)
            await asyncio.sleep(0.5)
        finally:
            self._free += 1
            if not self._launch_waiting():
                self.wake()  # the loop decides: it may be waiting for this slot or for a fuller batch

    def _launch_waiting(self) -> bool:
        """Start the next batch from here if a full one is waiting (then the loop need not take a turn)."""
        cfg = self.config
        if self._closing or self.store.count_visible(cfg.queue, now_ms()) < cfg.max_batch_size:
            return False
        return self._launch()

    async def _deliver(self, runs: list[Run]) -> None:
        cfg = self.config
        messages = []
        for group, indexes in runs:
            stamp = utc_naive(group.sent_at_epoch_ms)  # one datetime per group (a sendBatch shares one)
            attempts = group.attempts
            messages.extend([Message(group, i, stamp, attempts[i] or 0) for i in indexes])
        batch = MessageBatch(cfg.queue, messages)
        failed = await _call(self.deliver, batch) is not None
        self.delivered += len(messages)
        acked: list[Message] = []
        retried: list[tuple[StoredMessage, int]] = []
        dead: list[tuple[StoredMessage, str | None]] = []
        now = now_ms()
        if not failed and all(m._outcome is None or m._outcome is _ACK for m in messages):
            acked, messages_left = messages, []  # the usual batch: every message acked
        else:
            messages_left = messages
        for m in messages_left:
            outcome = _outcome(m, failed)
            if outcome[0] == "ack":
                acked.append(m)
            elif m.attempts > cfg.max_retries:
                dead.append((m, cfg.dead_letter_queue))
                where = f"moved to dead-letter queue {cfg.dead_letter_queue!r}" if cfg.dead_letter_queue else "dropped"
                log.warning("Queue %s: message %s failed %d times and was %s.", cfg.queue, m.id, m.attempts, where)
            else:
                delay = cfg.retry_delay if outcome[1] is None else outcome[1]
                retried.append((m, now + delay * 1000))
        self.store.settle(acked, retried, dead)
        if dead and cfg.dead_letter_queue:
            self.on_dead_letter(cfg.dead_letter_queue)
        sys.stdout.write(
            f"[pyflows:info] queue {cfg.queue} ({len(messages)} message{'s' if len(messages) != 1 else ''}): "
            f"{len(acked)} acked, {len(retried)} retried{f', {len(dead)} dead' if dead else ''}\n"
        )
        sys.stdout.flush()

    async def close(self) -> None:
        self._closing = True  # no batch starts from here on
        tasks = [t for t in (self._task, *self._in_flight) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._task = None


def _outcome(message: Message, failed: bool) -> tuple[str, int | None]:
    """What the handler decided for `message`: its own ack()/retry(), else ack when the handler
    returned and retry when it raised (Cloudflare's implicit outcome)."""
    return message._outcome or (_RETRY if failed else _ACK)


async def _call(deliver: Callable[[MessageBatch], Awaitable[Any]], batch: MessageBatch) -> BaseException | None:
    """Run the handler; an exception it raises is printed as Wrangler does and returned."""
    try:
        await deliver(batch)
    except Exception as exc:
        text = user_traceback(exc)
        sys.stderr.write(
            f"✘ [ERROR] Uncaught {type(exc).__name__} in queue() for queue {batch.queue!r}: {exc}\n\n{text}\n\n"
        )
        sys.stderr.flush()
        return exc
    return None


async def deliver_batch(
    queue: str, bodies: list[Any], deliver: Callable[[MessageBatch], Awaitable[Any]]
) -> dict[str, Any]:
    """Hand `bodies` to a queue handler as one batch, now, without storing them (Cloudflare's
    `SELF.queue(queueName, messages)` in its test kit). Each body goes through the encoding a
    producer's `send()` uses (so the handler sees what it would after a real send); each message gets
    a fresh id, attempts 1, and the current time.

    Returns `{"outcome": "ok" | "exception", "error": None | {"name", "message"}, "messages": [{"id",
    "outcome": "ack" | "retry", "delaySeconds": int | None}, ...]}` in body order; the outcome of a
    message is its handler's ack()/retry(), else ack when the handler returned and retry when it raised.
    TypeError for a body a producer could not send.
    """
    import uuid

    from pyflows.runtime.bindings.queues import encode_body

    stamp = utc_naive(now_ms())
    messages = [Message(None, 0, stamp, 1, uuid.uuid4().hex, decode_body(encode_body(b), "json")) for b in bodies]
    error = await _call(deliver, MessageBatch(queue, messages))
    rows = []
    for m in messages:
        kind, delay = _outcome(m, error is not None)
        rows.append({"id": m.id, "outcome": kind, "delaySeconds": delay})
    return {
        "outcome": "ok" if error is None else "exception",
        "error": None if error is None else {"name": type(error).__name__, "message": str(error)},
        "messages": rows,
    }
