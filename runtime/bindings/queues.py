"""Queues: the producer binding (`self.env.MY_QUEUE.send(...)`) and the durable message store.

    store = QueueStore.open(state_dir / "queues.sqlite")     # leases from a killed run are released
    producer = QueueProducerBinding(store, "my-queue", delivery_delay=0, on_send=wake)
    await producer.send(body, {"contentType": "json", "delaySeconds": 0})
    await producer.sendBatch([{"body": ..., "contentType"?, "delaySeconds"?}, ...], {"delaySeconds": 0})

Shapes and limits are Cloudflare's (developers.cloudflare.com/queues/configuration/javascript-apis/,
/queues/platform/limits/): a message is at most 128 KB, a batch at most 100 messages and 256 KB,
`delaySeconds` at most 43,200 (12 h). contentType is "json" (default), "text", "bytes" or "v8"
(stored like "json": pyflows has no V8 serializer). A body that cannot be serialized raises the SDK's
`TypeError("<class 'X'> cannot be sent over RPC.")`.

Every message is a row in SQLite (WAL, synchronous=NORMAL) until it is acked, dead-lettered or dropped, so an
un-acked message survives `kill -9` and is delivered again after a restart.
"""

from __future__ import annotations

import base64
import heapq
import json
import os
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyflows.runtime.surface.values import JsDict, python_from_rpc, python_to_rpc

__all__ = ["MAX_BATCH_BYTES", "MAX_BATCH_MESSAGES", "MAX_MESSAGE_BYTES", "QueueProducerBinding", "QueueStore"]

MAX_MESSAGE_BYTES = 128_000
MAX_BATCH_MESSAGES = 100
MAX_BATCH_BYTES = 256_000
MAX_DELAY_S = 43_200
CONTENT_TYPES = ("json", "text", "bytes", "v8")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    pk INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    content_type TEXT NOT NULL,
    sent_at_epoch_ms INTEGER NOT NULL,
    visible_at_epoch_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
"""


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(eq=False)
class StoredMessage:
    """One message as the store keeps it in memory (the row is the durable copy)."""

    pk: int
    queue: str
    id: str
    body: str
    content_type: str
    sent_at_epoch_ms: int
    visible_at_epoch_ms: int
    attempts: int  # deliveries so far (a delivery is counted when it starts)


class QueueStore:
    """The message table, and an in-memory index of it: sending writes a row (durable when `send`
    returns); delivery reads from memory; ack deletes the row, retry updates it. Every row left at
    startup is loaded again, so a message in flight when the process died is delivered again.
    Calls are short synchronous SQLite statements on the event loop thread.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._ready: dict[str, deque[StoredMessage]] = {}
        self._delayed: dict[str, list[tuple[int, int, StoredMessage]]] = {}  # heap of (visible_at, pk, msg)

    @classmethod
    def open(cls, path: Path) -> QueueStore:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        path.chmod(0o600)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(_SCHEMA)
        store = cls(conn)
        for row in conn.execute(
            "SELECT pk, queue, id, body, content_type, sent_at_epoch_ms, visible_at_epoch_ms, attempts "
            "FROM messages ORDER BY visible_at_epoch_ms, pk"
        ):
            store._index(StoredMessage(*row), now_ms())
        return store

    def close(self) -> None:
        self.conn.close()

    def _index(self, msg: StoredMessage, now: int) -> None:
        if msg.visible_at_epoch_ms <= now:
            self._ready.setdefault(msg.queue, deque()).append(msg)
        else:
            heapq.heappush(self._delayed.setdefault(msg.queue, []), (msg.visible_at_epoch_ms, msg.pk, msg))

    def _promote(self, queue: str, now: int) -> deque[StoredMessage]:
        ready = self._ready.setdefault(queue, deque())
        heap = self._delayed.get(queue)
        while heap and heap[0][0] <= now:
            ready.append(heapq.heappop(heap)[2])
        return ready

    def put(self, queue: str, rows: list[tuple[str, str, int]]) -> list[str]:
        """Insert (body, content_type, visible_at_ms) rows in one transaction; returns their ids."""
        now = now_ms()
        raw = os.urandom(16 * len(rows)).hex()
        ids = [raw[i * 32 : i * 32 + 32] for i in range(len(rows))]
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            first = self.conn.execute("SELECT coalesce(max(pk), 0) + 1 FROM messages").fetchone()[0]
            msgs = [
                StoredMessage(first + n, queue, ids[n], body, ct, now, visible, 0)
                for n, (body, ct, visible) in enumerate(rows)
            ]
            self.conn.executemany(
                "INSERT INTO messages (pk, queue, id, body, content_type, sent_at_epoch_ms, visible_at_epoch_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(m.pk, queue, m.id, m.body, m.content_type, now, m.visible_at_epoch_ms) for m in msgs],
            )
        for m in msgs:
            self._index(m, now)
        return ids

    def count_visible(self, queue: str, now: int) -> int:
        return len(self._promote(queue, now))

    def next_visible_ms(self, queue: str) -> int | None:
        heap = self._delayed.get(queue)
        return heap[0][0] if heap else None

    def take(self, queue: str, limit: int, now: int) -> list[StoredMessage]:
        """Up to `limit` visible messages, oldest first, now in flight; their delivery is counted on disk."""
        ready = self._promote(queue, now)
        batch = [ready.popleft() for _ in range(min(limit, len(ready)))]
        if batch:
            for m in batch:
                m.attempts += 1
            marks = ",".join("?" * len(batch))
            self.conn.execute(
                f"UPDATE messages SET attempts = attempts + 1 WHERE pk IN ({marks})", [m.pk for m in batch]
            )
        return batch

    def settle(
        self,
        acked: list[StoredMessage],
        retried: list[tuple[StoredMessage, int]],
        dead: list[tuple[StoredMessage, str | None]],
    ) -> None:
        """One transaction: delete acked, requeue retried (msg, visible_at), move or drop dead (msg, dlq)."""
        now = now_ms()
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            if acked:
                self.conn.executemany("DELETE FROM messages WHERE pk = ?", [(m.pk,) for m in acked])
            if retried:
                self.conn.executemany(
                    "UPDATE messages SET visible_at_epoch_ms = ? WHERE pk = ?", [(v, m.pk) for m, v in retried]
                )
            for m, dlq in dead:
                if dlq is None:
                    self.conn.execute("DELETE FROM messages WHERE pk = ?", (m.pk,))
                else:  # a fresh message on the dead-letter queue, same id and body
                    self.conn.execute(
                        "UPDATE messages SET queue = ?, attempts = 0, visible_at_epoch_ms = ? WHERE pk = ?",
                        (dlq, now, m.pk),
                    )
        for m, visible in retried:
            m.visible_at_epoch_ms = visible
            self._index(m, now)
        for m, dlq in dead:
            if dlq is not None:
                m.queue, m.attempts, m.visible_at_epoch_ms = dlq, 0, now
                self._index(m, now)

    def lease(self, queue: str, limit: int, now: int) -> list[StoredMessage]:
        """`take` (kept for tests and tools)."""
        return self.take(queue, limit, now)

    def depth(self, queue: str) -> int:
        return int(self.conn.execute("SELECT count(*) FROM messages WHERE queue = ?", (queue,)).fetchone()[0])


_SCALARS = frozenset({str, int, bool, type(None)})
_dump = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _flat(tree: Any) -> bool:
    """A dict of str keys and str/int/bool/None values: needs no RPC conversion either way (fast path)."""
    return type(tree) is dict and all(type(k) is str and type(v) in _SCALARS for k, v in tree.items())


def encode_body(body: Any, content_type: str = "json") -> str:
    """The stored text of a body: JSON for json/v8, the string for text, base64 for bytes."""
    if content_type == "json" or content_type == "v8":
        return _dump(body if _flat(body) else python_to_rpc(body))
    if content_type == "text":
        if not isinstance(body, str):
            raise TypeError(f'contentType "text" needs a str body, got {type(body).__name__}.')
        return body
    if content_type == "bytes":
        if not isinstance(body, bytes | bytearray | memoryview):
            raise TypeError(f'contentType "bytes" needs a bytes body, got {type(body).__name__}.')
        return base64.b64encode(bytes(body)).decode("ascii")
    raise TypeError(f"Unknown contentType {content_type!r}: use one of {', '.join(CONTENT_TYPES)}.")


def decode_body(text: str, content_type: str) -> Any:
    if content_type == "text":
        return text
    if content_type == "bytes":
        return base64.b64decode(text)
    tree = json.loads(text)
    if _flat(tree) and len(tree) != 1:  # one-key dicts may be datetime/bytes tags
        return JsDict(tree)
    return python_from_rpc(tree)


def _delay(options: Any, default: int) -> int:
    value = (options or {}).get("delaySeconds", default) if isinstance(options, dict) else default
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_DELAY_S:
        raise ValueError(
            f"delaySeconds is {value!r}: it must be a number of seconds from 0 to {MAX_DELAY_S} (12 hours)."
        )
    return int(value)


class QueueProducerBinding:
    """`self.env.<binding>` for a `queues.producers[]` entry."""

    def __init__(
        self, store: QueueStore, queue: str, *, delivery_delay: int = 0, on_send: Callable[[str], None]
    ) -> None:
        self._store = store
        self.queue = queue
        self._delivery_delay = delivery_delay
        self._on_send = on_send

    def _row(self, body: Any, options: Any, default_delay: int, where: str, now: int) -> tuple[str, str, int]:
        options = options if isinstance(options, dict) else {}
        content_type = options.get("contentType", "json")
        text = encode_body(body, content_type)
        # len(text) bounds the UTF-8 size from below (and 4 × len from above): encode only when it matters.
        size = len(text) if len(text) * 4 <= MAX_MESSAGE_BYTES else len(text.encode("utf-8"))
        if size > MAX_MESSAGE_BYTES:
            raise ValueError(
                f"{where} is {size:,} bytes, over Cloudflare's limit of {MAX_MESSAGE_BYTES:,} bytes per message. "
                "Store large data elsewhere (R2, KV) and send a reference."
            )
        delay = _delay(options, default_delay) if "delaySeconds" in options else default_delay
        return text, content_type, now + delay * 1000

    async def send(self, body: Any, options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Send one message; options `{contentType, delaySeconds}` (keywords work too)."""
        opts = {**(options or {}), **kwargs}
        row = self._row(body, opts, _delay(opts, self._delivery_delay), "The message body", now_ms())
        self._store.put(self.queue, [row])
        self._on_send(self.queue)

    async def sendBatch(  # noqa: N802 - Cloudflare's name
        self, messages: list[dict[str, Any]], options: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        """Send up to 100 messages (256 KB together) in one call; each `{body, contentType?, delaySeconds?}`."""
        opts = {**(options or {}), **kwargs}
        items = list(messages)
        if len(items) > MAX_BATCH_MESSAGES:
            raise ValueError(
                f"sendBatch got {len(items)} messages; Cloudflare allows at most {MAX_BATCH_MESSAGES} per batch. "
                "Split it."
            )
        batch_delay = _delay(opts, self._delivery_delay)
        rows = []
        now = now_ms()
        for i, item in enumerate(items):
            if not isinstance(item, dict) or "body" not in item:
                raise TypeError(f"sendBatch: messages[{i}] must be a dict with a 'body' key, got {item!r}.")
            rows.append(self._row(item["body"], item, batch_delay, f"messages[{i}].body", now))
        total = sum(len(r[0]) for r in rows)
        if total * 4 > MAX_BATCH_BYTES:
            total = sum(len(r[0].encode("utf-8")) for r in rows)
        if total > MAX_BATCH_BYTES:
            raise ValueError(
                f"sendBatch is {total:,} bytes, over Cloudflare's limit of {MAX_BATCH_BYTES:,} bytes per batch."
            )
        if rows:
            self._store.put(self.queue, rows)
            self._on_send(self.queue)

    send_batch = sendBatch

    def __repr__(self) -> str:
        return f"Queue({self.queue!r})"


def message_json(msg: StoredMessage) -> dict[str, Any]:
    """A stored message for logs/tests."""
    return {"id": msg.id, "body": json.loads(msg.body) if msg.content_type in ("json", "v8") else msg.body}
