"""The queue store (runtime/bindings/queues.py): one row per send/sendBatch, settled message by
message, nothing lost across a restart, an upgrade or a failed write, and the WAL checkpointed off
the event loop."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pyflows.runtime.bindings.queues import QueueProducerBinding, QueueStore, StoredMessage, _Checkpointer
from pyflows.runtime.config.triggers import QueueConsumer
from pyflows.runtime.triggers.queue_consumer import MessageBatch, QueueConsumerLoop

pytestmark = pytest.mark.anyio


def now() -> int:
    return int(time.time() * 1000)


def taken(store: QueueStore, queue: str) -> list[tuple[Any, str, Any]]:
    """Every visible message of `queue`, taken: (group, id, body)."""
    return [(g, g.id(i), g.body(i)) for g, indexes in store.take(queue, 100, now()) for i in indexes]


async def test_a_batch_settled_in_part_comes_back_message_by_message_after_a_restart(tmp_path: Path) -> None:
    store = QueueStore.open(tmp_path / "queues.sqlite")
    producer = QueueProducerBinding(store, "q", on_send=lambda q: None)
    when = dt.datetime(2026, 1, 2, 3, 4, 5)
    await producer.sendBatch(
        [
            {"body": {"n": 1}},
            {"body": "two", "contentType": "text"},
            {"body": b"\x00\x03", "contentType": "bytes"},
            {"body": {"at": when, "n": 4}},
            {"body": {"n": 5}, "delaySeconds": 600},
        ]
    )
    first = taken(store, "q")
    assert [body for _, _, body in first] == [{"n": 1}, "two", b"\x00\x03", {"at": when, "n": 4}]
    ids = [id for _, id, _ in first]
    assert len(set(ids)) == 4 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    group = first[0][0]
    store.settle(
        [StoredMessage(group, 0), StoredMessage(group, 2)],  # acked
        [(StoredMessage(group, 1), now() + 60_000)],  # retried in a minute
        [(StoredMessage(group, 3), "dlq")],  # dead-lettered
    )
    assert store.depth("q") == 2 and store.depth("dlq") == 1
    store.close()

    again = QueueStore.open(tmp_path / "queues.sqlite")
    assert taken(again, "q") == []  # the retried and the delayed one are not due yet
    [(moved, moved_id, moved_body)] = taken(again, "dlq")
    assert (moved_id, moved_body) == (ids[3], {"at": when, "n": 4})  # same id and body
    later = now() + 3_600_000
    back = [(g.id(i), g.body(i), g.attempts[i]) for g, indexes in again.take("q", 100, later) for i in indexes]
    assert back == [(ids[1], "two", 2), (back[1][0], {"n": 5}, 1)]  # in order of due time; attempts count on
    assert back[1][0] not in ids  # the delayed message has an id of its own
    again.close()


async def test_queue_state_written_before_message_groups_is_carried_over(tmp_path: Path) -> None:
    path = tmp_path / "queues.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        """CREATE TABLE messages (pk INTEGER PRIMARY KEY, queue TEXT NOT NULL, id TEXT NOT NULL,
        body TEXT NOT NULL, content_type TEXT NOT NULL, sent_at_epoch_ms INTEGER NOT NULL,
        visible_at_epoch_ms INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0);"""
    )
    rows = [
        ("q", "a" * 32, json.dumps({"x": [1, 2]}), "json", 1000, 2000, 2),
        ("q", "b" * 32, "plain text", "text", 1000, 2000, 0),
        ("q", "c" * 32, base64.b64encode(b"\xff").decode(), "bytes", 1000, 2000, 1),
        ("later", "d" * 32, "1", "json", 1000, now() + 3_600_000, 0),
    ]
    old.executemany(
        "INSERT INTO messages (queue, id, body, content_type, sent_at_epoch_ms, visible_at_epoch_ms, attempts) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    old.commit()
    old.close()

    store = QueueStore.open(path)
    got = [(g.id(i), g.body(i), g.attempts[i], g.sent_at_epoch_ms) for g, ix in store.take("q", 10, now()) for i in ix]
    assert got == [("a" * 32, {"x": [1, 2]}, 3, 1000), ("b" * 32, "plain text", 1, 1000), ("c" * 32, b"\xff", 2, 1000)]
    assert store.depth("later") == 1 and store.next_visible_ms("later") == rows[3][5]
    tables = {name for (name,) in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"message_groups"}
    store.close()


async def test_the_wal_is_checkpointed_by_the_stores_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's own checkpoint is off (it fsyncs on the event loop); the store's thread does it, so
    the WAL is reused instead of growing."""
    monkeypatch.setattr(_Checkpointer, "PAUSE_S", 0.01)
    path = tmp_path / "queues.sqlite"
    wal = tmp_path / "queues.sqlite-wal"
    store = QueueStore.open(path)
    assert store.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    producer = QueueProducerBinding(store, "q", on_send=lambda q: None)
    sizes = []
    for _ in range(3):
        for _ in range(20):
            await producer.sendBatch([{"body": {"i": i, "pad": "x" * 200}} for i in range(100)])
        sizes.append(wal.stat().st_size)
        await asyncio.sleep(0.2)  # the thread's pause, then its checkpoint
    assert sizes[2] <= sizes[0] * 1.2, sizes  # without checkpoints it would be 3x
    assert store._checkpoints is not None
    thread = store._checkpoints._thread
    store.close()
    assert not thread.is_alive()  # closed with the store


async def test_a_consumer_whose_handler_never_awaits_lets_requests_in(tmp_path: Path) -> None:
    store = QueueStore.open(tmp_path / "queues.sqlite")
    producer = QueueProducerBinding(store, "q", on_send=lambda q: None)
    for start in range(0, 2000, 100):
        await producer.sendBatch([{"body": i} for i in range(start, start + 100)])
    delivered = 0
    seen_by_other_task: list[int] = []

    async def handler(batch: MessageBatch) -> None:
        nonlocal delivered
        delivered += len(batch.messages)  # no await: a busy handler

    async def other() -> None:  # a request arriving meanwhile
        await asyncio.sleep(0)
        seen_by_other_task.append(delivered)

    loop = QueueConsumerLoop(store, QueueConsumer("q", max_batch_size=100, max_batch_timeout=1), handler)
    loop.start()
    request = asyncio.ensure_future(other())
    deadline = time.monotonic() + 10
    while delivered < 2000 and time.monotonic() < deadline:
        await asyncio.sleep(0.001)
    await request
    await loop.close()
    assert delivered == 2000
    assert seen_by_other_task and seen_by_other_task[0] < 2000  # it ran before the queue was drained
    store.close()


def producer(store: QueueStore, queue: str = "q") -> QueueProducerBinding:
    return QueueProducerBinding(store, queue, on_send=lambda q: None)


def bodies(store: QueueStore, queue: str) -> list[object]:
    return [g.body(i) for g, ix in store.take(queue, 1000, now()) for i in ix]


async def test_a_failed_dead_letter_move_is_not_persisted_by_the_next_write_of_its_group(tmp_path: Path) -> None:
    """settle() sets attempts[i] = None in memory before writing; if the write fails (SQLITE_BUSY:
    another process holds the write lock past busy_timeout; disk full), the transaction rolls back
    but the in-memory group keeps the None, and the next write of the same group (a later take()
    or settle() of a sibling message) persists it: the message is then neither in its queue nor in
    the dead-letter queue. A failed settle must leave the group as it was (its messages are
    delivered again after a restart)."""
    path = tmp_path / "queues.sqlite"
    store = QueueStore.open(path)
    store.conn.execute("PRAGMA busy_timeout=50")
    await producer(store).sendBatch([{"body": {"n": i}} for i in range(4)])
    [(g, ix)] = store.take("q", 2, now())  # a batch of 2 of the group's 4 messages
    assert ix == [0, 1]
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # e.g. `sqlite3 .pyflows/.../queues.sqlite` in another terminal
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        store.settle([StoredMessage(g, 1)], [], [(StoredMessage(g, 0), "dlq")])
    other.execute("ROLLBACK")
    other.close()
    # the consumer logs the error and goes on: the next batch of the same group
    [(g2, ix2)] = store.take("q", 2, now())
    assert g2 is g and ix2 == [2, 3]
    store.close()

    again = QueueStore.open(path)
    in_q = [b["n"] for b in bodies(again, "q")]
    in_dlq = [b["n"] for b in bodies(again, "dlq")]
    again.close()
    assert 0 in in_q or 0 in in_dlq, (in_q, in_dlq)  # message 0 must exist somewhere


async def test_a_failed_open_leaves_no_checkpointer_thread(tmp_path: Path) -> None:
    path = tmp_path / "queues.sqlite"
    store = QueueStore.open(path)
    await producer(store).send(1)
    store.conn.execute("UPDATE message_groups SET attempts = 'not json'")
    store.close()
    before = {t.ident for t in threading.enumerate()}
    with pytest.raises(ValueError):
        QueueStore.open(path)
    leaked = [t.name for t in threading.enumerate() if t.ident not in before]
    assert leaked == []


async def test_a_failed_take_takes_nothing_and_counts_no_attempt(tmp_path: Path) -> None:
    path = tmp_path / "queues.sqlite"
    store = QueueStore.open(path)
    store.conn.execute("PRAGMA busy_timeout=50")
    await producer(store).sendBatch([{"body": {"n": i}} for i in range(4)])
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        store.take("q", 3, now())
    other.execute("ROLLBACK")
    other.close()
    assert store.count_visible("q", now()) == 4
    [(group, indexes)] = store.take("q", 3, now())
    assert indexes == [0, 1, 2] and group.attempts == [1, 1, 1, 0]  # the failed take counted nothing
    store.close()
