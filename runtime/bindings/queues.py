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

Every message is on disk in SQLite (WAL, synchronous=NORMAL) until it is acked, dead-lettered or
dropped, so an un-acked message survives `kill -9` and is delivered again after a restart. A
`send()` or `sendBatch()` call is one row (a message group, see `_SCHEMA`): sending 100 messages is
one INSERT, and delivering and acking them one UPDATE (the attempt) and one DELETE. The WAL is
checkpointed by a thread of the store's (`_Checkpointer`), never on the event loop.
"""

from __future__ import annotations

import base64
import heapq
import json
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pyflows.runtime.surface.values import JsDict, python_from_rpc, python_to_rpc

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_BATCH_MESSAGES",
    "MAX_MESSAGE_BYTES",
    "QueueProducerBinding",
    "QueueStore",
    "StoredMessage",
]

MAX_MESSAGE_BYTES = 128_000
MAX_BATCH_MESSAGES = 100
MAX_BATCH_BYTES = 256_000
MAX_DELAY_S = 43_200
CONTENT_TYPES = ("json", "text", "bytes", "v8")

# One row per send()/sendBatch() call (a message group):
#   first_id       the first message's id as 16 bytes; message i's id is that number + i, in hex
#   bodies         a JSON array of the stored bodies: the RPC tree for json/v8, the str for text,
#                  base64 for bytes (`_value`)
#   content_types  one content type for all the messages, or a JSON array of one per message
#   visible_at     when the messages may be delivered (epoch ms): one number for all, or a JSON array
#   attempts       a JSON array: deliveries started per message; null once acked, dropped or moved
# The row is deleted when none of its messages is left.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS message_groups (
    pk INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    first_id BLOB NOT NULL,
    bodies TEXT NOT NULL,
    content_types TEXT NOT NULL,
    sent_at_epoch_ms INTEGER NOT NULL,
    visible_at TEXT NOT NULL,
    attempts TEXT NOT NULL
);
"""

_INSERT = (
    "INSERT INTO message_groups (queue, first_id, bodies, content_types, sent_at_epoch_ms, visible_at, attempts) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_ID_MASK = (1 << 128) - 1
_SCALARS = frozenset({str, int, bool, type(None)})
# No circular-reference check (a quarter of the encoding time): what is encoded here is either a
# flat dict of scalars, a tree python_to_rpc built (it fails on a cycle first), or our own lists.
_dump = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False, check_circular=False).encode
_load = json.JSONDecoder().decode


def now_ms() -> int:
    return int(time.time() * 1000)


class MessageGroup:
    """The messages of one row, in memory (the row is the durable copy)."""

    __slots__ = (
        "_values",
        "attempts",
        "bodies",
        "content_types",
        "first_id",
        "left",
        "pk",
        "queue",
        "sent_at_epoch_ms",
        "visible",
    )

    def __init__(
        self,
        pk: int,
        queue: str,
        first_id: bytes,
        bodies: str,
        content_types: str | list[str],
        sent_at_epoch_ms: int,
        visible: list[int],
        attempts: list[int | None],
    ) -> None:
        self.pk = pk
        self.queue = queue
        self.first_id = int.from_bytes(first_id)
        self.bodies = bodies
        self.content_types = content_types
        self.sent_at_epoch_ms = sent_at_epoch_ms
        self.visible = visible
        self.attempts = attempts
        self.left = len(attempts) - attempts.count(None)
        self._values: list[Any] | None = None

    def id(self, index: int) -> str:
        """Message `index`'s id: 32 hex characters (random per group, consecutive within it)."""
        return f"{(self.first_id + index) & _ID_MASK:032x}"

    def value(self, index: int) -> Any:
        """The stored value of message `index` (bodies are parsed on first use)."""
        if self._values is None:
            self._values = _load(self.bodies)
        return self._values[index]

    def content_type(self, index: int) -> str:
        types = self.content_types
        return types if type(types) is str else types[index]

    def body(self, index: int) -> Any:
        """Message `index`'s body as the consumer sees it (decoded anew on each call)."""
        return decode_value(self.value(index), self.content_type(index))


class StoredMessage:
    """A handle on one message of a group: what the consumer settles (`QueueStore.settle`)."""

    __slots__ = ("group", "index")

    def __init__(self, group: MessageGroup, index: int) -> None:
        self.group = group
        self.index = index


Run = tuple[MessageGroup, list[int]]  # messages of one group, by index, that share a visible_at


class QueueStore:
    """The message table, and an in-memory index of it: sending writes a row (durable when `send`
    returns); delivery reads from memory and counts the attempt on disk; acks, retries and
    dead-letters rewrite or delete the rows they touch. Every message left at startup is loaded
    again, so a message in flight when the process died is delivered again. Calls are short
    synchronous SQLite statements on the event loop thread.

    The index holds runs (a group and some of its message indexes), not one object per message:
    `_ready[queue]` is a deque of [group, indexes, next position], `_delayed[queue]` a heap of
    (visible_at, pk, first index, group, indexes).
    """

    def __init__(self, conn: sqlite3.Connection, checkpoints: _Checkpointer | None = None) -> None:
        self.conn = conn
        self._checkpoints = checkpoints
        self._ready: dict[str, deque[list[Any]]] = {}
        self._count: dict[str, int] = {}  # messages in _ready[queue]
        self._delayed: dict[str, list[tuple[int, int, int, MessageGroup, list[int]]]] = {}

    @classmethod
    def open(cls, path: Path) -> QueueStore:
        """Open (0600) or create the store and load every message left in it. sqlite3.Error or
        ValueError for a database it cannot read; nothing is left open then."""
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            path.chmod(0o600)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA wal_autocheckpoint=0")  # _Checkpointer's thread does it
            conn.executescript(_SCHEMA)
            _migrate_message_rows(conn)
            store = cls(conn)
            store._load()
        except BaseException:
            conn.close()
            raise
        store._checkpoints = _Checkpointer(path)  # once nothing can fail
        return store

    def _load(self) -> None:
        runs: list[tuple[int, int, int, MessageGroup, list[int]]] = []
        for pk, queue, first_id, bodies, types, sent_at, visible, attempts in self.conn.execute(
            "SELECT pk, queue, first_id, bodies, content_types, sent_at_epoch_ms, visible_at, attempts "
            "FROM message_groups"
        ):
            tries = _load(attempts)
            group = MessageGroup(
                pk, queue, first_id, bodies, _types(types), sent_at, _visible(visible, len(tries)), tries
            )
            for run in _runs(group, [i for i, n in enumerate(tries) if n is not None]):
                runs.append((group.visible[run[0]], pk, run[0], group, run))
        runs.sort(key=lambda entry: entry[:3])
        now = now_ms()
        for entry in runs:
            self._add(entry[3], entry[4], now)

    def close(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.close()
        self.conn.close()

    def _written(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.wake.set()

    def _add(self, group: MessageGroup, indexes: list[int], now: int) -> None:
        """Index messages of `group` that share one visible_at."""
        visible = group.visible[indexes[0]]
        if visible <= now:
            self._ready.setdefault(group.queue, deque()).append([group, indexes, 0])
            self._count[group.queue] = self._count.get(group.queue, 0) + len(indexes)
        else:
            heap = self._delayed.setdefault(group.queue, [])
            heapq.heappush(heap, (visible, group.pk, indexes[0], group, indexes))

    def _promote(self, queue: str, now: int) -> int:
        heap = self._delayed.get(queue)
        while heap and heap[0][0] <= now:
            _, _, _, group, indexes = heapq.heappop(heap)
            self._add(group, indexes, now)
        return self._count.get(queue, 0)

    def put(self, queue: str, bodies: str, content_types: str | list[str], visible: list[int]) -> None:
        """Store one group: `bodies` a JSON array of stored values, `content_types` one for all or one
        per message, `visible` when each may be delivered (epoch ms). Durable when it returns."""
        n = len(visible)
        first_id = os.urandom(16)
        now = now_ms()
        cursor = self.conn.execute(
            _INSERT,
            (
                queue,
                first_id,
                bodies,
                content_types if type(content_types) is str else _dump(content_types),
                now,
                _dump_visible(visible),
                "[" + ",".join("0" * n) + "]",
            ),
        )
        group = MessageGroup(int(cursor.lastrowid or 0), queue, first_id, bodies, content_types, now, visible, [0] * n)
        self._written()
        for run in _runs(group, list(range(n))):
            self._add(group, run, now)

    def count_visible(self, queue: str, now: int) -> int:
        return self._promote(queue, now)

    def next_visible_ms(self, queue: str) -> int | None:
        heap = self._delayed.get(queue)
        return heap[0][0] if heap else None

    def take(self, queue: str, limit: int, now: int) -> list[Run]:
        """Up to `limit` visible messages, oldest first, as runs; now in flight, with their delivery
        counted on disk. If that write fails, nothing is taken (the error propagates)."""
        self._promote(queue, now)
        ready = self._ready.get(queue)
        taken: list[Run] = []
        popped: list[list[Any]] = []  # [group, indexes, start] of the runs, as they were
        partial = False  # the last run was taken in part: it is still at the front, moved on
        need = limit
        while need and ready:
            run = ready[0]
            group, indexes, start = run
            popped.append(list(run))
            part = indexes[start : start + need]
            if start + len(part) == len(indexes):
                ready.popleft()
            else:
                run[2] = start + len(part)
                partial = True
            taken.append((group, part))
            need -= len(part)
        if not taken:
            return taken
        groups = list({group.pk: group for group, _ in taken}.values())
        saved = _snapshot(groups)
        for group, part in taken:
            attempts = group.attempts
            for i in part:
                attempts[i] = (attempts[i] or 0) + 1  # (indexed messages are not settled: never None)
        try:
            self._transaction(
                lambda: [
                    self.conn.execute("UPDATE message_groups SET attempts = ? WHERE pk = ?", (_dump(g.attempts), g.pk))
                    for g in groups
                ],
                many=len(groups) > 1,
            )
        except BaseException:
            _restore(saved)
            if ready is not None:
                if partial:
                    ready.popleft()  # put back below as it was
                ready.extendleft(reversed(popped))
            raise
        self._count[queue] -= limit - need
        return taken

    def settle(
        self,
        acked: Sequence[StoredMessage],
        retried: Sequence[tuple[StoredMessage, int]],
        dead: Sequence[tuple[StoredMessage, str | None]],
    ) -> None:
        """Delete acked, requeue retried (msg, visible_at), move or drop dead (msg, dead-letter queue),
        in one transaction. If it fails, memory is as it was (the messages stay in flight until the
        store is opened again, and are delivered again then) and the error propagates."""
        now = now_ms()
        touched: dict[int, MessageGroup] = {}
        for m in acked:
            touched[m.group.pk] = m.group
        for m, _visible in retried:
            touched[m.group.pk] = m.group
        for m, _dlq in dead:
            touched[m.group.pk] = m.group
        saved = _snapshot(touched.values())
        for m in acked:
            m.group.attempts[m.index] = None
            m.group.left -= 1
        for m, visible in retried:
            m.group.visible[m.index] = visible
        moved: list[tuple[StoredMessage, str]] = []
        for m, dlq in dead:
            m.group.attempts[m.index] = None
            m.group.left -= 1
            if dlq is not None:
                moved.append((m, dlq))
        fresh: list[MessageGroup] = []

        def write() -> None:
            self._write(touched.values())
            # a fresh message on the dead-letter queue: same id, body, content type and send time
            fresh.extend(self._insert_moved(m, dlq, now) for m, dlq in moved)

        try:
            self._transaction(write, many=bool(moved) or len(touched) > 1)
        except BaseException:
            _restore(saved)
            raise
        for m, _visible in retried:
            self._add(m.group, [m.index], now)
        for group in fresh:
            self._add(group, [0], now)

    def _transaction(self, fn: Callable[[], Any], *, many: bool) -> None:
        """`fn()` (its statements) atomically: in BEGIN IMMEDIATE … COMMIT if `many`, else as the
        single autocommit statement it is."""
        self._written()
        if not many:
            fn()
            return
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            fn()

    def _write(self, groups: Any) -> None:
        """Save the attempts/visible_at of `groups`, deleting those with no message left."""
        for group in groups:
            if group.left == 0:
                self.conn.execute("DELETE FROM message_groups WHERE pk = ?", (group.pk,))
            else:
                self.conn.execute(
                    "UPDATE message_groups SET attempts = ?, visible_at = ? WHERE pk = ?",
                    (_dump(group.attempts), _dump_visible(group.visible), group.pk),
                )

    def _insert_moved(self, m: StoredMessage, queue: str, now: int) -> MessageGroup:
        group, i = m.group, m.index
        content_type = group.content_type(i)
        first_id = bytes.fromhex(group.id(i))  # it keeps its id
        bodies = _dump([group.value(i)])
        cursor = self.conn.execute(
            _INSERT,
            (queue, first_id, bodies, content_type, group.sent_at_epoch_ms, str(now), "[0]"),
        )
        return MessageGroup(
            int(cursor.lastrowid or 0), queue, first_id, bodies, content_type, group.sent_at_epoch_ms, [now], [0]
        )

    def depth(self, queue: str) -> int:
        """Messages of `queue` on disk, delivered or not (read from the table, not the index)."""
        rows = self.conn.execute("SELECT attempts FROM message_groups WHERE queue = ?", (queue,))
        return sum(len(tries) - tries.count(None) for tries in (_load(text) for (text,) in rows))


class _Checkpointer:
    """Checkpoints the store's WAL from a thread with its own connection (PASSIVE: writers never
    wait for it), at most every `PAUSE_S` while there are writes. A checkpoint fsyncs, 10-30 ms on a
    slow disk; with SQLite's automatic checkpoint that pause landed on the event loop, inside
    whichever statement crossed 1,000 pages of WAL."""

    PAUSE_S = 0.25

    def __init__(self, path: Path) -> None:
        self.path = path
        self.wake = threading.Event()  # set by the store after each write
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pyflows-queues-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while True:
                self.wake.wait()
                if self._closing.wait(self.PAUSE_S):  # (one checkpoint for a burst of writes)
                    return
                self.wake.clear()
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:  # busy or closing: the next write wakes us again
                    pass
        finally:
            conn.close()

    def close(self) -> None:
        self._closing.set()
        self.wake.set()
        self._thread.join(timeout=5)


def _snapshot(groups: Any) -> list[tuple[MessageGroup, list[int | None], list[int], int]]:
    return [(g, list(g.attempts), list(g.visible), g.left) for g in groups]


def _restore(saved: list[tuple[MessageGroup, list[int | None], list[int], int]]) -> None:
    """Memory as `_snapshot` found it: a write that failed must not be saved by a later one."""
    for group, attempts, visible, left in saved:
        group.attempts[:] = attempts
        group.visible[:] = visible
        group.left = left


def _runs(group: MessageGroup, indexes: list[int]) -> list[list[int]]:
    """`indexes` split into runs of one visible_at each, in order of first appearance."""
    visible = group.visible
    if not indexes or visible.count(visible[0]) == len(visible):
        return [indexes] if indexes else []
    by_time: dict[int, list[int]] = {}
    for i in indexes:
        by_time.setdefault(visible[i], []).append(i)
    return list(by_time.values())


def _types(text: str) -> str | list[str]:
    return _load(text) if text.startswith("[") else text


def _visible(text: str, n: int) -> list[int]:
    value = _load(text)
    return value if type(value) is list else [value] * n


def _dump_visible(visible: list[int]) -> str:
    return str(visible[0]) if visible.count(visible[0]) == len(visible) else _dump(visible)


def _migrate_message_rows(conn: sqlite3.Connection) -> None:
    """State written before message groups (one `messages` row per message) becomes one group per
    message, with its id, attempts and times, so an upgrade loses nothing."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'messages'").fetchone() is None:
        return
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        rows = conn.execute(
            "SELECT queue, id, body, content_type, sent_at_epoch_ms, visible_at_epoch_ms, attempts "
            "FROM messages ORDER BY pk"
        ).fetchall()
        for queue, id, body, content_type, sent_at, visible, attempts in rows:
            value = _load(body) if content_type in ("json", "v8") else body  # text and base64 were stored as is
            conn.execute(
                _INSERT,
                (queue, bytes.fromhex(id), _dump([value]), content_type, sent_at, str(visible), _dump([attempts])),
            )
        conn.execute("DROP TABLE messages")


def _flat(tree: Any) -> bool:
    """A dict of str keys and str/int/bool/None values: needs no RPC conversion either way (fast path)."""
    if type(tree) is not dict:
        return False
    for k, v in tree.items():
        if type(k) is not str or type(v) not in _SCALARS:
            return False
    return True


def _plain_json_bodies(items: list[Any]) -> list[Any] | None:
    """The stored values of `[{"body": ...}, ...]` (json, no options), or None if an item is not
    like that. `_value(body, "json")` for each, inlined: this loop is most of a sendBatch's CPU."""
    values = []
    for item in items:
        if type(item) is not dict or len(item) != 1 or "body" not in item:
            return None
        body = item["body"]
        kind = type(body)
        if kind is dict:
            for k, v in body.items():
                if type(k) is not str or type(v) not in _SCALARS:
                    body = python_to_rpc(body)
                    break
        elif kind not in _SCALARS:
            body = python_to_rpc(body)
        values.append(body)
    return values


def _value(body: Any, content_type: str) -> Any:
    """What the store keeps of a body: the RPC tree for json/v8, the str for text, base64 for bytes.
    TypeError for a body the content type cannot carry (the SDK's text for json)."""
    if content_type == "json" or content_type == "v8":
        return body if type(body) in _SCALARS or _flat(body) else python_to_rpc(body)
    if content_type == "text":
        if not isinstance(body, str):
            raise TypeError(f'contentType "text" needs a str body, got {type(body).__name__}.')
        return body
    if content_type == "bytes":
        if not isinstance(body, bytes | bytearray | memoryview):
            raise TypeError(f'contentType "bytes" needs a bytes body, got {type(body).__name__}.')
        return base64.b64encode(bytes(body)).decode("ascii")
    raise TypeError(f"Unknown contentType {content_type!r}: use one of {', '.join(CONTENT_TYPES)}.")


def decode_value(value: Any, content_type: str) -> Any:
    """A stored value as the consumer's `message.body`: JsDict for objects, bytes for "bytes"."""
    if content_type == "text":
        return value
    if content_type == "bytes":
        return base64.b64decode(value)
    if type(value) is dict and len(value) != 1 and _flat(value):  # one-key dicts may be datetime/bytes tags
        return JsDict(value)
    return python_from_rpc(value)


def encode_body(body: Any, content_type: str = "json") -> str:
    """The JSON text of a body's stored value (see `_value`)."""
    return _dump(_value(body, content_type))


def decode_body(text: str, content_type: str) -> Any:
    """`encode_body`'s inverse, as the consumer sees the body."""
    return decode_value(_load(text), content_type)


def _delay(options: Any, default: int) -> int:
    value = (options or {}).get("delaySeconds", default) if isinstance(options, dict) else default
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_DELAY_S:
        raise ValueError(
            f"delaySeconds is {value!r}: it must be a number of seconds from 0 to {MAX_DELAY_S} (12 hours)."
        )
    return int(value)


def _size(value: Any, content_type: str) -> int:
    """A message's size in bytes as the limits count it: the UTF-8 of its text, its JSON, or its bytes
    (as base64)."""
    text = value if content_type == "text" or content_type == "bytes" else _dump(value)
    return len(text.encode("utf-8"))


class QueueProducerBinding:
    """`self.env.<binding>` for a `queues.producers[]` entry."""

    def __init__(
        self, store: QueueStore, queue: str, *, delivery_delay: int = 0, on_send: Callable[[str], None]
    ) -> None:
        self._store = store
        self.queue = queue
        self._delivery_delay = delivery_delay
        self._on_send = on_send

    async def send(self, body: Any, options: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Send one message; options `{contentType, delaySeconds}` (keywords work too)."""
        opts = {**(options or {}), **kwargs}
        content_type = opts.get("contentType", "json")
        value = _value(body, content_type)
        text = _dump(value)
        if len(text) > MAX_MESSAGE_BYTES // 4:  # could be over the limit: measure it exactly
            size = _size(value, content_type)
            if size > MAX_MESSAGE_BYTES:
                raise _too_large("The message body", size)
        visible = now_ms() + _delay(opts, self._delivery_delay) * 1000
        self._store.put(self.queue, f"[{text}]", content_type, [visible])
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
        if not items:
            return
        now = now_ms()
        default_visible = now + _delay(opts, self._delivery_delay) * 1000
        types: str | list[str] = "json"
        visible = [default_visible] * len(items)
        values = _plain_json_bodies(items)
        if values is None:  # some message has options (or is malformed): one at a time
            values, types, visible = [], [], []
            for i, item in enumerate(items):
                if not isinstance(item, dict) or "body" not in item:
                    raise TypeError(f"sendBatch: messages[{i}] must be a dict with a 'body' key, got {item!r}.")
                content_type = item.get("contentType", "json")
                values.append(_value(item["body"], content_type))
                types.append(content_type)
                visible.append(now + _delay(item, 0) * 1000 if "delaySeconds" in item else default_visible)
            if types.count(types[0]) == len(types):
                types = types[0]
        text = _dump(values)
        if len(text) > MAX_MESSAGE_BYTES // 4:  # a limit could be reached: measure every message exactly
            kinds = [types] * len(values) if isinstance(types, str) else types
            sizes = [_size(value, content_type) for value, content_type in zip(values, kinds, strict=True)]
            for i, size in enumerate(sizes):
                if size > MAX_MESSAGE_BYTES:
                    raise _too_large(f"messages[{i}].body", size)
            if sum(sizes) > MAX_BATCH_BYTES:
                raise ValueError(
                    f"sendBatch is {sum(sizes):,} bytes, over Cloudflare's limit of {MAX_BATCH_BYTES:,} bytes "
                    "per batch."
                )
        self._store.put(self.queue, text, types, visible)
        self._on_send(self.queue)

    send_batch = sendBatch

    def __repr__(self) -> str:
        return f"Queue({self.queue!r})"


def _too_large(what: str, size: int) -> ValueError:
    return ValueError(
        f"{what} is {size:,} bytes, over Cloudflare's limit of {MAX_MESSAGE_BYTES:,} bytes per message. "
        "Store large data elsewhere (R2, KV) and send a reference."
    )
