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
import json
import sqlite3
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyflows.runtime.surface.values import dumps, loads, python_from_rpc, python_to_rpc

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
    attempts INTEGER NOT NULL DEFAULT 0,
    leased INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_visible ON messages (queue, leased, visible_at_epoch_ms, pk);
"""


def now_ms() -> int:
    return int(time.time() * 1000)


class QueueStore:
    """The message table. Calls are short synchronous SQLite statements on the event loop thread."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    @classmethod
    def open(cls, path: Path) -> QueueStore:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        path.chmod(0o600)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(_SCHEMA)
        conn.execute("UPDATE messages SET leased = 0 WHERE leased = 1")  # in flight when the last run died
        return cls(conn)

    def close(self) -> None:
        self.conn.close()

    def put(self, queue: str, rows: list[tuple[str, str, int]]) -> list[str]:
        """Insert (body, content_type, visible_at_ms) rows in one transaction; returns their ids."""
        now = now_ms()
        ids = [uuid.uuid4().hex for _ in rows]
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany(
                "INSERT INTO messages (queue, id, body, content_type, sent_at_epoch_ms, visible_at_epoch_ms) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(queue, i, body, ct, now, visible) for i, (body, ct, visible) in zip(ids, rows, strict=True)],
            )
        return ids

    def lease(self, queue: str, limit: int, now: int) -> list[sqlite3.Row]:
        """Take up to `limit` visible messages (oldest first) and mark them in flight."""
        self.conn.row_factory = sqlite3.Row
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            rows = self.conn.execute(
                "SELECT * FROM messages WHERE queue = ? AND leased = 0 AND visible_at_epoch_ms <= ? "
                "ORDER BY visible_at_epoch_ms, pk LIMIT ?",
                (queue, now, limit),
            ).fetchall()
            self.conn.executemany(
                "UPDATE messages SET leased = 1, attempts = attempts + 1 WHERE pk = ?", [(r["pk"],) for r in rows]
            )
        return rows

    def count_visible(self, queue: str, now: int) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM messages WHERE queue = ? AND leased = 0 AND visible_at_epoch_ms <= ?", (queue, now)
        ).fetchone()
        return int(row[0])

    def next_visible_ms(self, queue: str) -> int | None:
        row = self.conn.execute(
            "SELECT min(visible_at_epoch_ms) FROM messages WHERE queue = ? AND leased = 0", (queue,)
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def settle(self, acked: list[int], retried: list[tuple[int, int]], dead: list[tuple[int, str | None]]) -> None:
        """One transaction: delete acked, requeue retried (pk, visible_at), move or drop dead (pk, dlq)."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany("DELETE FROM messages WHERE pk = ?", [(pk,) for pk in acked])
            self.conn.executemany(
                "UPDATE messages SET leased = 0, visible_at_epoch_ms = ? WHERE pk = ?", [(v, pk) for pk, v in retried]
            )
            now = now_ms()
            for pk, dlq in dead:
                if dlq is None:
                    self.conn.execute("DELETE FROM messages WHERE pk = ?", (pk,))
                else:  # a fresh message on the dead-letter queue, same id and body
                    self.conn.execute(
                        "UPDATE messages SET queue = ?, leased = 0, attempts = 0, visible_at_epoch_ms = ? WHERE pk = ?",
                        (dlq, now, pk),
                    )

    def depth(self, queue: str) -> int:
        return int(self.conn.execute("SELECT count(*) FROM messages WHERE queue = ?", (queue,)).fetchone()[0])


def encode_body(body: Any, content_type: str) -> str:
    """The stored text of a body: JSON for json/v8, the string for text, base64 for bytes."""
    if content_type not in CONTENT_TYPES:
        raise TypeError(f"Unknown contentType {content_type!r}: use one of {', '.join(CONTENT_TYPES)}.")
    if content_type == "text":
        if not isinstance(body, str):
            raise TypeError(f'contentType "text" needs a str body, got {type(body).__name__}.')
        return body
    if content_type == "bytes":
        if not isinstance(body, bytes | bytearray | memoryview):
            raise TypeError(f'contentType "bytes" needs a bytes body, got {type(body).__name__}.')
        return base64.b64encode(bytes(body)).decode("ascii")
    return dumps(python_to_rpc(body))


def decode_body(text: str, content_type: str) -> Any:
    if content_type == "text":
        return text
    if content_type == "bytes":
        return base64.b64decode(text)
    return python_from_rpc(loads(text))


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

    def _row(self, body: Any, options: Any, default_delay: int, where: str) -> tuple[str, str, int]:
        options = options or {}
        content_type = options.get("contentType", "json") if isinstance(options, dict) else "json"
        text = encode_body(body, content_type)
        size = len(text.encode("utf-8"))
        if size > MAX_MESSAGE_BYTES:
            raise ValueError(
                f"{where} is {size:,} bytes, over Cloudflare's limit of {MAX_MESSAGE_BYTES:,} bytes per message. "
                "Store large data elsewhere (R2, KV) and send a reference."
            )
        return text, content_type, now_ms() + _delay(options, default_delay) * 1000

    async def send(self, body: Any, options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Send one message; options `{contentType, delaySeconds}` (keywords work too)."""
        opts = {**(options or {}), **kwargs}
        row = self._row(body, opts, self._delivery_delay, "The message body")
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
        for i, item in enumerate(items):
            if not isinstance(item, dict) or "body" not in item:
                raise TypeError(f"sendBatch: messages[{i}] must be a dict with a 'body' key, got {item!r}.")
            rows.append(self._row(item["body"], item, batch_delay, f"messages[{i}].body"))
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


def message_json(row: sqlite3.Row) -> dict[str, Any]:
    """A stored message for logs/tests."""
    return {"id": row["id"], "body": json.loads(row["body"]) if row["content_type"] in ("json", "v8") else row["body"]}
